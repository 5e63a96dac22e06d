//! Bills and fines end to end, as a person with curl would do it: sandbox sign-in, bind an
//! electricity account, pay its bill in the WeChat Pay sandbox, see it posted and the receipt;
//! a late fine with its surcharge; a finance officer's refund; the day's reconciliation, clean
//! and then with a planted lost notification; a bill file through `city payments import bills`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{spawn_app_with, TestApp};

fn city(app: &TestApp, args: &[&str]) -> (bool, String) {
    city_with(&app.settings, args)
}

fn city_with(s: &city_platform::Settings, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_city"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CITY_DATA_DIR", &s.data_dir)
        .env("CITY_LISTEN", s.listen.to_string())
        .env("CITY_LOG", "off")
        .stderr(Stdio::inherit());
    if let Some(url) = &s.database_url {
        cmd.env("CITY_DATABASE_URL", url.expose()).env("CITY_SCHEMA_PREFIX", &s.schema_prefix);
    }
    if let Some(url) = &s.redis_url {
        cmd.env("CITY_REDIS_URL", url.expose()).env("CITY_REDIS_PREFIX", &s.redis_prefix);
    }
    let out = cmd.output().expect("the city binary runs");
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

async fn send(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method.parse().unwrap(), app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn finance(app: &TestApp) -> String {
    let password = "correct horse battery";
    let (ok, _) =
        city(app, &["staff", "create", "--username", "fin.officer", "--password", password, "--role", "finance"]);
    assert!(ok, "staff create");
    let (_, session) =
        send(app, "POST", "/v1/staff/sessions", "", Some(json!({ "username": "fin.officer", "password": password })))
            .await;
    session["token"].as_str().expect("a staff token").to_owned()
}

async fn pay_in_sandbox(app: &TestApp, out_trade_no: &str, notify: bool) {
    let path = format!("/sandbox/wechat/pay/_test/transactions/{out_trade_no}/pay");
    let (status, _) = send(app, "POST", &path, "", Some(json!({ "notify": notify }))).await;
    assert_eq!(status, 200);
}

async fn wait_posted(app: &TestApp, token: &str, order_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, order) = send(app, "GET", &format!("/v1/payments/orders/{order_id}"), token, None).await;
        if order["posting_state"] == "posted" {
            return order;
        }
        assert!(Instant::now() < deadline, "never posted: {order}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_bill_and_a_late_fine_are_paid_refunded_and_reconciled_through_the_sandbox() {
    let app = spawn_app_with(|s| s.payments.job_interval_secs = 1).await;
    let alice = app.citizen_token("e2e-payments-alice").await;
    let officer = finance(&app).await;

    // Bind, see the bill, order it, pay it in the sandbox, see it posted and the receipt.
    let body = json!({ "biller_id": "cd-power", "account_no": "3100123456", "label": "home" });
    let (status, account) = send(&app, "POST", "/v1/payments/accounts", &alice, Some(body)).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["holder_name_masked"], "**丰");
    let (_, bills) =
        send(&app, "GET", &format!("/v1/payments/accounts/{}/bills", account["id"].as_str().unwrap()), &alice, None)
            .await;
    let bill = bills.as_array().unwrap().iter().find(|b| b["status"] == "unpaid").unwrap().clone();
    let body = json!({ "kind": "bill", "bill_id": bill["id"], "payer_openid": "oE2EAlice" });
    let (status, order) = send(&app, "POST", "/v1/payments/orders", &alice, Some(body.clone())).await;
    assert_eq!(status, 200, "{order}");
    pay_in_sandbox(&app, order["out_trade_no"].as_str().unwrap(), true).await;
    let order_id = order["id"].as_str().unwrap();
    wait_posted(&app, &alice, order_id).await;
    let (status, receipt) = send(&app, "GET", &format!("/v1/payments/orders/{order_id}/receipt"), &alice, None).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["amount_fen"], bill["amount_fen"]);
    let (status, _) = send(&app, "POST", "/v1/payments/orders", &alice, Some(body)).await;
    assert_eq!(status, 409, "paying a paid bill again");

    // A fine 20 days old: 5 days late, 3 % a day.
    let (_, fines) = send(&app, "GET", "/v1/payments/fines?plate=%E5%B7%9DA12345&plate_type=02", &alice, None).await;
    let late = fines.as_array().unwrap().iter().find(|f| f["late_days"] == 5).unwrap().clone();
    assert_eq!(late["total_fen"], 11500);
    let body = json!({ "kind": "fine", "quote_id": late["quote_id"], "payer_openid": "oE2EAlice" });
    let (_, fine_order) = send(&app, "POST", "/v1/payments/orders", &alice, Some(body)).await;
    pay_in_sandbox(&app, fine_order["out_trade_no"].as_str().unwrap(), true).await;
    wait_posted(&app, &alice, fine_order["id"].as_str().unwrap()).await;

    // A partial refund of the bill by the finance officer.
    let body = json!({ "order_id": order_id, "amount_fen": 1000, "expected_available_fen": bill["amount_fen"], "reason": "overcharge" });
    let (status, refund) = send(&app, "POST", "/v1/payments/refunds", &officer, Some(body)).await;
    assert_eq!(status, 200, "{refund}");

    // The day reconciles: us, WeChat's bill and the biller agree.
    let today = city_platform::time::city_date(city_platform::time::from_ms(city_platform::time::now_ms())).to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, report) =
            send(&app, "GET", &format!("/v1/payments/reconciliation?date={today}"), &officer, None).await;
        assert_eq!(status, 200, "{report}");
        if report["mismatches"] == json!([]) {
            assert_eq!(report["wechat_count"], 2);
            break;
        }
        assert!(Instant::now() < deadline, "never reconciled: {report}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A planted mismatch: the water bill paid at WeChat, its notification lost.
    let body = json!({ "biller_id": "cd-water", "account_no": "W00088001" });
    let (_, water) = send(&app, "POST", "/v1/payments/accounts", &alice, Some(body)).await;
    let (_, bills) =
        send(&app, "GET", &format!("/v1/payments/accounts/{}/bills", water["id"].as_str().unwrap()), &alice, None)
            .await;
    let body = json!({ "kind": "bill", "bill_id": bills[0]["id"], "payer_openid": "oE2EAlice" });
    let (_, lost) = send(&app, "POST", "/v1/payments/orders", &alice, Some(body)).await;
    pay_in_sandbox(&app, lost["out_trade_no"].as_str().unwrap(), false).await;
    // The command calls the portal's sandbox, so the test's runtime must stay free to serve it.
    let (ok, report) = {
        let (settings_app, today) = (app.settings.clone(), today.clone());
        tokio::task::spawn_blocking(move || city_with(&settings_app, &["payments", "reconcile", "--date", &today]))
            .await
            .unwrap()
    };
    assert!(!ok, "a mismatch makes the command fail");
    assert!(report.contains("lost_notification"), "{report}");

    // A bill file through the command line, twice.
    let file = app.settings.data_dir.join("bills.csv");
    std::fs::write(
        &file,
        "biller_id,account_no,period,amount_yuan,due_date\ncd-gas,G7700112,2026-11,30.00,2026-12-10\n",
    )
    .unwrap();
    let path = file.to_string_lossy().into_owned();
    let (ok, out) = city(&app, &["payments", "import", "bills", &path]);
    assert!(ok && out.contains("imported 1 bills"), "{out}");
    let (ok, out) = city(&app, &["payments", "import", "bills", &path]);
    assert!(ok && out.contains("nothing changed"), "{out}");
    app.stop().await;
}
