//! Bills and fines end to end, as a person with curl would do it: sandbox sign-in, bind an
//! electricity account, pay its bill in the WeChat Pay sandbox, see it posted and the receipt;
//! a late fine with its surcharge; a finance officer's refund; the day's reconciliation, clean
//! and then with a planted lost notification; a bill file through `city payments import bills`;
//! a hospital booking fee paid in the sandbox, which books the appointment, and refunded when
//! the appointment is cancelled.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{city_command, spawn_app_with, TestApp};

/// Runs `city ARGS` off the test's runtime thread: the portal serves on that thread, and a
/// command waiting on the portal (over HTTP, or on a SQLite write lock a portal job holds across
/// an await) would otherwise wait for a thread it is itself blocking.
async fn city(app: &TestApp, args: &[&str]) -> (bool, String) {
    let settings = app.settings.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        city_with(&settings, &args)
    })
    .await
    .unwrap()
}

fn city_with(s: &city_platform::Settings, args: &[&str]) -> (bool, String) {
    let out = city_command(s, args).output().expect("the city binary runs");
    // The reason a command failed is on its stderr: keep it for the assertion's message.
    let mut text = String::from_utf8(out.stdout).unwrap();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
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
        city(app, &["staff", "create", "--username", "fin.officer", "--password", password, "--role", "finance"]).await;
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
    // By plate, the traffic police's way: with the engine number's last six characters.
    let path = "/v1/payments/fines?plate=%E5%B7%9DA12345&plate_type=02&engine_last6=123456";
    let (_, fines) = send(&app, "GET", path, &alice, None).await;
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
    let (ok, report) = city(&app, &["payments", "reconcile", "--date", &today]).await;
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
    let (ok, out) = city(&app, &["payments", "import", "bills", &path]).await;
    assert!(ok && out.contains("imported 1 bills"), "{out}");
    let (ok, out) = city(&app, &["payments", "import", "bills", &path]).await;
    assert!(ok && out.contains("nothing changed"), "{out}");
    app.stop().await;
}

/// A valid GB 11643 number.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

async fn wait_appointment(app: &TestApp, token: &str, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, appt) = send(app, "GET", &format!("/v1/booking/appointments/{id}"), token, None).await;
        if check(&appt) {
            return appt;
        }
        assert!(Instant::now() < deadline, "the appointment never got there: {appt}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_booking_fee_paid_in_the_sandbox_books_the_appointment_and_cancelling_refunds_it() {
    let app = spawn_app_with(|s| s.payments.job_interval_secs = 1).await;
    let alice = app.citizen_token("e2e-payments-booking").await;
    let other = app.citizen_token("e2e-payments-booking-other").await;
    let person = json!({ "name": "李小梅", "id_number": id_number("51010719900315004"), "relation": "self" });
    let (status, person) = send(&app, "POST", "/v1/me/people", &alice, Some(person)).await;
    assert_eq!(status, 201, "{person}");

    // Chengdu Second People's Hospital takes its booking fee online (seeds/booking).
    let (_, hospital) = send(&app, "GET", "/v1/booking/hospitals/h-cd2", "", None).await;
    assert_eq!(hospital["hospital"]["rules"]["charges_online"], true, "{hospital}");
    let (_, doctors) = send(&app, "GET", "/v1/booking/doctors?hospital_id=h-cd2&limit=50", "", None).await;
    // Two to six days ahead: released, and still before the cancellation deadline (D-1 15:00).
    let day = |n: i64| {
        use city_platform::time::{city_date, from_ms, now_ms};
        city_date(from_ms(now_ms() + n * 86_400_000)).to_string()
    };
    let (first, last) = (day(2), day(6));
    let mut slot = None;
    'search: for doctor in doctors.as_array().unwrap() {
        let id = doctor["id"].as_str().unwrap();
        let (_, sessions) = send(&app, "GET", &format!("/v1/booking/doctors/{id}/sessions"), "", None).await;
        for s in sessions.as_array().unwrap() {
            let d = s["date"].as_str().unwrap();
            if d >= first.as_str() && d <= last.as_str() && s["n_free"].as_i64().unwrap() > 0 {
                let (_, slots) = send(&app, "GET", &format!("/v1/booking/doctors/{id}/slots?date={d}"), "", None).await;
                slot = slots["slots"].as_array().unwrap().iter().find(|s| s["free"] == true).cloned();
                if slot.is_some() {
                    break 'search;
                }
            }
        }
    }
    let slot = slot.expect("a free slot at h-cd2 in the coming days");
    let resp = app
        .http
        .post(app.url("/v1/booking/appointments"))
        .bearer_auth(&alice)
        .header("Idempotency-Key", "e2e-payments-booking-1")
        .json(&json!({ "slot_id": slot["id"], "person_id": person["id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let appt: Value = resp.json().await.unwrap();
    assert_eq!(appt["status"], "pending_payment", "{appt}");
    let appt_id = appt["id"].as_str().unwrap().to_owned();
    let fee = appt["fee_fen"].as_i64().unwrap();
    assert!(fee > 0);

    // The fee reaches payments through booking.fee_due; until then (and for anyone else) it is a 404.
    // No payer_openid: identity knows Alice's Mini Program openid, and that is who pays.
    let body = json!({ "kind": "booking", "booking_id": appt_id });
    let (status, _) = send(&app, "POST", "/v1/payments/orders", &other, Some(body.clone())).await;
    assert_eq!(status, 404, "another citizen's booking");
    let deadline = Instant::now() + Duration::from_secs(20);
    let order = loop {
        let (status, order) = send(&app, "POST", "/v1/payments/orders", &alice, Some(body.clone())).await;
        if status == 200 {
            break order;
        }
        assert_eq!(status, 404, "{order}");
        assert!(Instant::now() < deadline, "the booking fee never became payable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(order["amount_fen"], fee);
    // Both are the platform's fixed-width UTC RFC 3339, so text order is time order.
    let (hold, expires) = (appt["hold_expires_at"].as_str().unwrap(), order["expires_at"].as_str().unwrap());
    assert!(expires <= hold, "the order outlives the hold: {expires} > {hold}");
    let (status, _) = send(&app, "POST", "/v1/payments/orders", &other, Some(body)).await;
    assert_eq!(status, 404, "still another citizen's");

    pay_in_sandbox(&app, order["out_trade_no"].as_str().unwrap(), true).await;
    let booked = wait_appointment(&app, &alice, &appt_id, |a| a["status"] == "booked").await;
    assert_eq!(booked["paid"], true);
    let (_, paid) =
        send(&app, "GET", &format!("/v1/payments/orders/{}", order["id"].as_str().unwrap()), &alice, None).await;
    assert_eq!((paid["state"].as_str(), paid["posting_state"].as_str()), (Some("paid"), Some("none")));

    // Cancelled: booking asks for the refund, payments makes it, booking hears it arrived.
    let (status, cancelled) =
        send(&app, "POST", &format!("/v1/booking/appointments/{appt_id}/cancel"), &alice, Some(json!({}))).await;
    assert_eq!(status, 200, "{cancelled}");
    wait_appointment(&app, &alice, &appt_id, |a| a["refund_state"] == "refunded").await;
    let (_, refunded) =
        send(&app, "GET", &format!("/v1/payments/orders/{}", order["id"].as_str().unwrap()), &alice, None).await;
    assert_eq!(refunded["refunded_fen"], fee, "{refunded}");
    app.stop().await;
}

/// Issue #15, replayed through the whole portal: a plate alone shows nobody's violations, a
/// guessed engine number answers like an unknown plate, and a stranger's open order for the
/// owner's fine neither blocks the owner nor survives the owner's payment.
#[tokio::test]
async fn a_stranger_neither_reads_a_plates_fines_nor_blocks_its_owner_from_paying() {
    let app = spawn_app_with(|s| s.payments.job_interval_secs = 1).await;
    let owner = app.citizen_token("e2e-fines-owner").await;
    let stranger = app.citizen_token("e2e-fines-stranger").await;

    let (status, problem) =
        send(&app, "GET", "/v1/payments/fines?plate=%E5%B7%9DA12345&plate_type=02", &stranger, None).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (400, Some("engine_last6")), "{problem}");
    let guess = "/v1/payments/fines?plate=%E5%B7%9DA12345&plate_type=02&engine_last6=000000";
    let (status, problem) = send(&app, "GET", guess, &stranger, None).await;
    assert_eq!((status, problem["type"].as_str()), (404, Some("/problems/vehicle-not-found")), "{problem}");

    let body = json!({ "plate": "川A12345", "plate_type": "02", "engine_last6": "123456", "label": "家里的车" });
    let (status, vehicle) = send(&app, "POST", "/v1/payments/vehicles", &owner, Some(body)).await;
    assert_eq!(status, 200, "{vehicle}");
    let (_, fines) =
        send(&app, "GET", &format!("/v1/payments/vehicles/{}/fines", vehicle["id"].as_str().unwrap()), &owner, None)
            .await;
    let fine = fines.as_array().unwrap().iter().find(|f| f["status"] == "unpaid").unwrap().clone();
    let (status, _) =
        send(&app, "GET", &format!("/v1/payments/vehicles/{}/fines", vehicle["id"].as_str().unwrap()), &stranger, None)
            .await;
    assert_eq!(status, 404, "another citizen's vehicle");

    // The stranger orders the owner's fine (by its decision number) and leaves it open.
    let order = json!({ "kind": "fine", "quote_id": fine["quote_id"] });
    let (status, strangers) = send(&app, "POST", "/v1/payments/orders", &stranger, Some(order.clone())).await;
    assert_eq!(status, 200, "{strangers}");
    let (status, owners) = send(&app, "POST", "/v1/payments/orders", &owner, Some(order.clone())).await;
    assert_eq!(status, 200, "the owner is not blocked: {owners}");
    pay_in_sandbox(&app, owners["out_trade_no"].as_str().unwrap(), true).await;
    wait_posted(&app, &owner, owners["id"].as_str().unwrap()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let path = format!("/v1/payments/orders/{}", strangers["id"].as_str().unwrap());
        let (_, theirs) = send(&app, "GET", &path, &stranger, None).await;
        if theirs["state"] == "closed" {
            break;
        }
        assert!(Instant::now() < deadline, "the stranger's order stayed open: {theirs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, problem) = send(&app, "POST", "/v1/payments/orders", &stranger, Some(order)).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/problems/already-paid")), "{problem}");
    app.stop().await;
}
