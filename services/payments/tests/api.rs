//! The payments API end to end over real HTTP, with the WeChat Pay sandbox on the same port:
//! bind, bill, order, pay in the sandbox, notification, posting, receipt, refunds, fines,
//! reconciliation, imports, and the exactly-once guarantees under replay and concurrency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use city_payments::{PaymentsService, PaymentsState};
use city_platform::auth::{Citizen, Principal, Role, Scopes, SharedAuthenticator, Staff};
use city_platform::edge::RateLimiter;
use city_platform::testing::{test_platform_with, StaticAuthenticator, TestPlatform};
use city_wechat::crypto::pay::{
    new_nonce, new_resource_nonce, ApiV3Key, Notification, PayPrivateKey, WechatpayHeaders,
};
use poem::listener::TcpAcceptor;
use poem::EndpointExt as _;
use serde_json::{json, Value};

struct Portal {
    t: TestPlatform,
    base: String,
    http: reqwest::Client,
    state: Arc<PaymentsState>,
}

async fn portal() -> Portal {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let t = test_platform_with(|s| {
        s.listen = addr;
        s.rate_limit.enabled = false;
        s.payments.job_interval_secs = 1;
        s.payments.query_after_secs = 1;
        s.payments.posting_retry_secs = 1;
        s.payments.sandbox_notify_retry_secs = vec![0, 0, 1];
    })
    .await;
    let (api, db, state) = PaymentsService::start_with_state(t.platform.clone()).await.unwrap();
    t.track(&db);
    let auth = StaticAuthenticator::new();
    let citizen = |id: &str| Principal::Citizen(Citizen { citizen_id: id.into(), session_id: format!("s-{id}") });
    auth.with_token("alice", citizen("citizen-alice"));
    auth.with_token("bob", citizen("citizen-bob"));
    auth.with_token("carol", citizen("citizen-carol"));
    let staff = |roles: Vec<Role>| {
        Principal::Staff(Staff {
            staff_id: "staff-1".into(),
            username: "fin".into(),
            roles,
            scopes: Scopes::default(),
            session_id: "s".into(),
        })
    };
    auth.with_token("finance", staff(vec![Role::Finance]));
    auth.with_token("clerk", staff(vec![Role::Clerk]));
    let authenticator: SharedAuthenticator = auth;
    let service = poem_openapi::OpenApiService::new(api, "test", "0");
    let route = poem::Route::new()
        .nest("/sandbox/wechat", city_wechat_sandbox::endpoint(&t.settings).expect("the sandbox starts"))
        .nest("/", service)
        .data(authenticator)
        .data(t.platform.internal_token.clone())
        .boxed();
    let limiter = RateLimiter::new(t.platform.cache.clone(), t.settings.rate_limit.clone(), Vec::new());
    let endpoint = city_platform::edge::stack(route, &t.settings, limiter, false, None);
    let acceptor = TcpAcceptor::from_std(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
    Portal { t, base: format!("http://{addr}"), http: reqwest::Client::new(), state }
}

impl Portal {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn sandbox_pay(&self, out_trade_no: &str, notify: bool) -> u16 {
        self.http
            .post(format!("{}/sandbox/wechat/pay/_test/transactions/{out_trade_no}/pay", self.base))
            .json(&json!({ "notify": notify }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Polls an order until `check` holds, or fails after 15 s.
    async fn wait_order(&self, token: &str, id: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, order) = self.call("GET", &format!("/v1/payments/orders/{id}"), token, None).await;
            if check(&order) {
                return order;
            }
            assert!(Instant::now() < deadline, "order never reached the expected state: {order}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn count(&self, sql: &str, bind: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).bind(bind).fetch_one(&self.state.db.pool).await.unwrap();
        n
    }

    /// Binds one of Alice's accounts and creates an order for its first unpaid bill.
    async fn bill_order(&self, account_no: &str, biller: &str) -> Value {
        let (status, account) = self
            .call(
                "POST",
                "/v1/payments/accounts",
                "alice",
                Some(json!({ "biller_id": biller, "account_no": account_no })),
            )
            .await;
        assert_eq!(status, 200, "{account}");
        let path = format!("/v1/payments/accounts/{}/bills", account["id"].as_str().unwrap());
        let (_, bills) = self.call("GET", &path, "alice", None).await;
        let bill = bills.as_array().unwrap().iter().find(|b| b["status"] == "unpaid").unwrap().clone();
        let body = json!({ "kind": "bill", "bill_id": bill["id"], "payer_openid": "oAlice" });
        let (status, order) = self.call("POST", "/v1/payments/orders", "alice", Some(body)).await;
        assert_eq!(status, 200, "{order}");
        order
    }

    /// A notification signed with the sandbox's platform key, as WeChat Pay would send it.
    fn notification(&self, transaction: &Value, timestamp: i64) -> (Vec<(&'static str, String)>, Vec<u8>) {
        let key = ApiV3Key::parse(self.t.settings.payments.api_v3_key.expose()).unwrap();
        let resource = key
            .encrypt_resource(Some("transaction"), "transaction", &new_resource_nonce(), &transaction.to_string())
            .unwrap();
        let body = serde_json::to_vec(&Notification {
            id: "EV-1".into(),
            create_time: "2026-11-25T10:00:00+08:00".into(),
            resource_type: "encrypt-resource".into(),
            event_type: "TRANSACTION.SUCCESS".into(),
            summary: "支付成功".into(),
            resource,
        })
        .unwrap();
        let platform = PayPrivateKey::from_pem(
            self.t.settings.payments.sandbox_platform_private_key_pem.as_ref().expect("the demo platform key").expose(),
        )
        .unwrap();
        let serial = &self.t.settings.payments.platform_public_key_id;
        let headers = WechatpayHeaders::sign(&platform, serial, timestamp, &new_nonce(), &body).unwrap();
        (headers.to_pairs(), body)
    }

    async fn post_notification(&self, headers: &[(&'static str, String)], body: Vec<u8>) -> u16 {
        let mut req = self
            .http
            .post(format!("{}/v1/payments/wechatpay/notify", self.base))
            .header("Content-Type", "application/json")
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        req.send().await.unwrap().status().as_u16()
    }

    fn transaction(&self, order: &Value, total: i64, transaction_id: &str) -> Value {
        json!({
            "appid": self.t.settings.wechat.mp_appid, "mchid": self.t.settings.payments.mchid,
            "out_trade_no": order["out_trade_no"], "transaction_id": transaction_id, "trade_type": "JSAPI",
            "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "success_time": "2026-11-25T10:00:00+08:00",
            "payer": { "openid": "oAlice" }, "amount": { "total": total, "payer_total": total, "currency": "CNY" },
        })
    }
}

fn today() -> String {
    city_platform::time::city_date(chrono::Utc::now()).to_string()
}

#[tokio::test]
async fn a_bill_is_paid_in_the_sandbox_posted_and_receipted_and_paying_again_is_409() {
    let p = portal().await;
    let order = p.bill_order("3100123456", "cd-power").await;
    assert_eq!(order["state"], "pending");
    assert_eq!(order["amount_fen"], 18650);
    assert!(order["pay_params"]["paySign"].as_str().is_some_and(|s| !s.is_empty()));
    let id = order["id"].as_str().unwrap();
    let again_body = json!({ "kind": "bill", "bill_id": order["item_id"], "payer_openid": "oAlice" });

    // Asking again resumes the same order: one out_trade_no per item at a time.
    let (_, again) = p.call("POST", "/v1/payments/orders", "alice", Some(again_body.clone())).await;
    assert_eq!(again["out_trade_no"], order["out_trade_no"]);

    assert_eq!(p.sandbox_pay(order["out_trade_no"].as_str().unwrap(), true).await, 200);
    let paid = p.wait_order("alice", id, |o| o["posting_state"] == "posted").await;
    assert_eq!(paid["state"], "paid");

    let (status, receipt) = p.call("GET", &format!("/v1/payments/orders/{id}/receipt"), "alice", None).await;
    assert_eq!(status, 200);
    assert_eq!(receipt["amount_yuan"], "186.50");
    let (status, html) = p.call("GET", &format!("/v1/payments/orders/{id}/receipt?format=html"), "alice", None).await;
    assert_eq!(status, 200);
    assert!(html.as_str().unwrap().contains("186.50"));

    let (status, problem) = p.call("POST", "/v1/payments/orders", "alice", Some(again_body)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/already-paid");

    let (status, report) =
        p.call("GET", &format!("/v1/payments/reconciliation?date={}", today()), "finance", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["mismatches"], json!([]), "{report}");
    assert_eq!(report["wechat_fen"], 18650);
    assert_eq!(report["biller_fen"], 18650);
    p.t.cleanup().await;
}

#[tokio::test]
async fn fifty_concurrent_replays_of_one_notification_make_one_payment_one_posting_one_ledger_entry() {
    let p = portal().await;
    let order = p.bill_order("3100123456", "cd-power").await;
    let transaction = p.transaction(&order, 18650, "4200000000000000000000000001");
    let (headers, body) = p.notification(&transaction, chrono::Utc::now().timestamp());
    let replies = futures::future::join_all((0..50).map(|_| p.post_notification(&headers, body.clone()))).await;
    assert!(replies.iter().all(|s| *s == 204), "{replies:?}");
    let id = order["id"].as_str().unwrap();
    p.wait_order("alice", id, |o| o["posting_state"] == "posted").await;
    let payment_rows = "SELECT CAST(COUNT(*) AS BIGINT) FROM ledger WHERE order_id = $1 AND entry_key = 'payment'";
    assert_eq!(p.count(payment_rows, id).await, 2);
    assert_eq!(
        p.count("SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM ledger WHERE order_id = $1", id).await,
        0
    );
    assert_eq!(
        p.count("SELECT CAST(COUNT(*) AS BIGINT) FROM platform_outbox WHERE topic = $1", "payments.paid").await,
        1
    );
    let no = order["out_trade_no"].as_str().unwrap();
    assert_eq!(p.count("SELECT CAST(COUNT(*) AS BIGINT) FROM sim_postings WHERE out_trade_no = $1", no).await, 1);
    p.t.cleanup().await;
}

#[tokio::test]
async fn forged_stale_unknown_and_wrong_amount_notifications_are_refused_and_change_nothing() {
    let p = portal().await;
    let order = p.bill_order("3100123456", "cd-power").await;
    let now = chrono::Utc::now().timestamp();
    let good = p.transaction(&order, 18650, "4200000000000000000000000002");

    let (headers, mut body) = p.notification(&good, now);
    let last = body.len() - 3;
    body[last] ^= 1;
    assert_eq!(p.post_notification(&headers, body).await, 401, "tampered body");

    let (headers, body) = p.notification(&good, now - 600);
    assert_eq!(p.post_notification(&headers, body).await, 401, "stale timestamp");

    let (mut headers, body) = p.notification(&good, now);
    for h in &mut headers {
        if h.0 == "Wechatpay-Signature" {
            h.1 = format!("WECHATPAY/SIGNTEST/{}", h.1);
        }
    }
    assert_eq!(p.post_notification(&headers, body).await, 401, "signature probe");

    let (headers, body) = p.notification(&p.transaction(&order, 1, "4200000000000000000000000002"), now);
    assert_eq!(p.post_notification(&headers, body).await, 400, "wrong amount");

    let mut unknown = p.transaction(&order, 18650, "4200000000000000000000000003");
    unknown["out_trade_no"] = json!("B0000000000000000000000000000000");
    let (headers, body) = p.notification(&unknown, now);
    assert_eq!(p.post_notification(&headers, body).await, 400, "unknown order");

    let mut foreign = p.transaction(&order, 18650, "4200000000000000000000000004");
    foreign["mchid"] = json!("1999999999");
    let (headers, body) = p.notification(&foreign, now);
    assert_eq!(p.post_notification(&headers, body).await, 400, "another merchant");

    let id = order["id"].as_str().unwrap();
    let (_, after) = p.call("GET", &format!("/v1/payments/orders/{id}"), "alice", None).await;
    assert_eq!(after["state"], "pending");
    assert_eq!(p.count("SELECT CAST(COUNT(*) AS BIGINT) FROM ledger WHERE order_id = $1", id).await, 0);
    p.t.cleanup().await;
}

#[tokio::test]
async fn a_late_fine_costs_three_percent_a_day_and_bad_plates_or_quotes_are_refused() {
    let p = portal().await;
    // 川a·12345, as a person might type it, with its engine number's last six characters.
    let (status, fines) = p
        .call("GET", "/v1/payments/fines?plate=%E5%B7%9Da%C2%B712345&plate_type=02&engine_last6=123456", "alice", None)
        .await;
    assert_eq!(status, 200, "{fines}");
    let late = fines.as_array().unwrap().iter().find(|f| f["fine_fen"] == 10000).unwrap().clone();
    assert_eq!(late["late_days"], 5);
    assert_eq!(late["surcharge_fen"], 1500);
    assert_eq!(late["total_fen"], 11500);

    // Not a plate by the schema's pattern; a plate the pattern allows but the rules do not.
    let (status, problem) =
        p.call("GET", "/v1/payments/fines?plate=ABC123&plate_type=02&engine_last6=123456", "alice", None).await;
    assert_eq!((status, problem["type"].as_str()), (400, Some("/problems/malformed-request")), "{problem}");
    let (status, problem) = p
        .call("GET", "/v1/payments/fines?plate=%E5%B7%9DA1234O&plate_type=02&engine_last6=123456", "alice", None)
        .await;
    assert_eq!((status, problem["type"].as_str()), (422, Some("/problems/invalid-plate")));
    assert_eq!(problem["errors"][0]["field"], "plate");
    let (status, problem) = p
        .call("GET", "/v1/payments/fines?plate=%E5%B7%9DA12345&plate_type=99&engine_last6=123456", "alice", None)
        .await;
    assert_eq!((status, problem["type"].as_str()), (422, Some("/problems/invalid-plate-type")));

    let quote = late["quote_id"].as_str().unwrap();
    let stale = format!("{}@20200101", quote.split('@').next().unwrap());
    let body = json!({ "kind": "fine", "quote_id": stale, "payer_openid": "oAlice" });
    let (status, problem) = p.call("POST", "/v1/payments/orders", "alice", Some(body)).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/problems/quote-expired")));

    let body = json!({ "kind": "fine", "quote_id": quote, "payer_openid": "oAlice" });
    let (status, order) = p.call("POST", "/v1/payments/orders", "alice", Some(body)).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["amount_fen"], 11500);
    assert_eq!(order["breakdown"]["surcharge_fen"], 1500);
    p.sandbox_pay(order["out_trade_no"].as_str().unwrap(), true).await;
    p.wait_order("alice", order["id"].as_str().unwrap(), |o| o["posting_state"] == "posted").await;
    p.t.cleanup().await;
}

#[tokio::test]
async fn someone_elses_bill_cannot_be_paid_or_seen() {
    let p = portal().await;
    let order = p.bill_order("3100123456", "cd-power").await;
    let body = json!({ "kind": "bill", "bill_id": order["item_id"], "payer_openid": "oBob" });
    let (status, problem) = p.call("POST", "/v1/payments/orders", "bob", Some(body)).await;
    assert_eq!((status, problem["type"].as_str()), (403, Some("/problems/not-your-account")));
    let (status, _) =
        p.call("GET", &format!("/v1/payments/orders/{}", order["id"].as_str().unwrap()), "bob", None).await;
    assert_eq!(status, 404);
    p.t.cleanup().await;
}

#[tokio::test]
async fn refunds_never_exceed_what_remains_and_a_duplicated_request_is_a_409() {
    let p = portal().await;
    let order = p.bill_order("3100123456", "cd-power").await;
    let id = order["id"].as_str().unwrap().to_owned();
    p.sandbox_pay(order["out_trade_no"].as_str().unwrap(), true).await;
    p.wait_order("alice", &id, |o| o["state"] == "paid").await;

    let body = json!({ "order_id": id, "amount_fen": 100, "expected_available_fen": 18650, "reason": "x" });
    let (status, _) = p.call("POST", "/v1/payments/refunds", "clerk", Some(body)).await;
    assert_eq!(status, 403, "only finance refunds");

    let request =
        json!({ "order_id": id, "amount_fen": 5000, "expected_available_fen": 18650, "reason": "meter misread" });
    let (a, b) = tokio::join!(
        p.call("POST", "/v1/payments/refunds", "finance", Some(request.clone())),
        p.call("POST", "/v1/payments/refunds", "finance", Some(request.clone()))
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");

    let body = json!({ "order_id": id, "amount_fen": 20000, "expected_available_fen": 13650, "reason": "too much" });
    let (status, problem) = p.call("POST", "/v1/payments/refunds", "finance", Some(body)).await;
    assert_eq!((status, problem["type"].as_str()), (422, Some("/problems/refund-exceeds-remaining")));

    let body = json!({ "order_id": id, "amount_fen": 13650, "expected_available_fen": 13650, "reason": "rest" });
    let (status, _) = p.call("POST", "/v1/payments/refunds", "finance", Some(body)).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    let succeeded = "SELECT CAST(COUNT(*) AS BIGINT) FROM refunds WHERE order_id = $1 AND state = 'success'";
    while p.count(succeeded, &id).await < 2 {
        assert!(Instant::now() < deadline, "refunds never succeeded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let clearing = "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM ledger WHERE order_id = $1 AND account = 'wechat_clearing'";
    assert_eq!(p.count(clearing, &id).await, 0);
    assert_eq!(
        p.count("SELECT CAST(COUNT(*) AS BIGINT) FROM platform_outbox WHERE topic = $1", "payments.refunded").await,
        2
    );
    p.t.cleanup().await;
}

#[tokio::test]
async fn a_payment_the_biller_rejects_is_refunded_automatically() {
    let p = portal().await;
    let order = p.bill_order("W00099009", "cd-water").await;
    let id = order["id"].as_str().unwrap().to_owned();
    p.sandbox_pay(order["out_trade_no"].as_str().unwrap(), true).await;
    let done =
        p.wait_order("alice", &id, |o| o["posting_state"] == "rejected" && o["refunded_fen"] == o["amount_fen"]).await;
    assert_eq!(done["state"], "paid");
    let deadline = Instant::now() + Duration::from_secs(15);
    let succeeded = "SELECT CAST(COUNT(*) AS BIGINT) FROM refunds WHERE order_id = $1 AND state = 'success'";
    while p.count(succeeded, &id).await < 1 {
        assert!(Instant::now() < deadline, "automatic refund never succeeded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    p.t.cleanup().await;
}

#[tokio::test]
async fn a_lost_notification_is_a_reconciliation_mismatch_until_the_query_job_recovers_it() {
    let p = portal().await;
    let order = p.bill_order("W00088001", "cd-water").await;
    let no = order["out_trade_no"].as_str().unwrap();
    assert_eq!(p.sandbox_pay(no, false).await, 200);
    let (_, report) = p.call("GET", &format!("/v1/payments/reconciliation?date={}", today()), "finance", None).await;
    let kinds: Vec<&str> = report["mismatches"].as_array().unwrap().iter().filter_map(|m| m["kind"].as_str()).collect();
    // The background query may already have recovered it; otherwise the report must say so.
    let recovered =
        p.count("SELECT CAST(COUNT(*) AS BIGINT) FROM orders WHERE out_trade_no = $1 AND state = 'paid'", no).await;
    assert!(kinds.contains(&"lost_notification") || recovered == 1, "{report}");
    p.wait_order("alice", order["id"].as_str().unwrap(), |o| o["posting_state"] == "posted").await;
    let (_, report) = p.call("GET", &format!("/v1/payments/reconciliation?date={}", today()), "finance", None).await;
    assert_eq!(report["mismatches"], json!([]), "{report}");
    p.t.cleanup().await;
}

#[tokio::test]
async fn a_bill_file_imports_whole_once_and_names_every_bad_row() {
    let p = portal().await;
    let bad = "biller_id,account_no,period,amount_yuan,due_date\n\
               cd-power,3100123456,2026-11,12.5,2026-12-10\n\
               cd-power,3100123456,2026-12,x,2026-12-10\n\
               nope,1,2026-12,1,2026-12-10\n";
    let body = json!({ "file_name": "bad.csv", "content": bad });
    let (status, problem) = p.call("POST", "/v1/payments/imports/bills", "finance", Some(body)).await;
    assert_eq!((status, problem["type"].as_str()), (422, Some("/problems/bad-bill-rows")), "{problem}");
    let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["content.line[3].amount_yuan", "content.line[4].biller_id"]);
    let in_period = "SELECT CAST(COUNT(*) AS BIGINT) FROM bills WHERE period = $1";
    assert_eq!(p.count(in_period, "2026-11").await, 0, "nothing from a bad file");

    let good = "biller_id,account_no,period,amount_yuan,due_date\n\
                cd-power,3100123456,2026-11,12.5,2026-12-10\n\
                cd-gas,G7700112,2026-11,30,2026-12-10\n";
    let body = json!({ "file_name": "good.csv", "content": good });
    let (status, first) = p.call("POST", "/v1/payments/imports/bills", "finance", Some(body.clone())).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["rows"], 2);
    let (_, second) = p.call("POST", "/v1/payments/imports/bills", "finance", Some(body)).await;
    assert_eq!(second["already_imported"], true);
    // The officer's import is in the audit trail (through the outbox), once.
    let audited =
        "SELECT CAST(COUNT(*) AS BIGINT) FROM platform_outbox WHERE topic = 'audit.recorded' AND payload LIKE $1";
    assert_eq!(p.count(audited, "%bills.import%").await, 1);
    assert_eq!(p.count(in_period, "2026-11").await, 2);
    p.t.cleanup().await;
}

impl Portal {
    /// Publishes one of booking's events on the platform's bus, as booking's outbox relay would.
    async fn booking_event(&self, id: &str, topic: &str, payload: Value) {
        let event = city_platform::bus::Event {
            id: id.into(),
            topic: topic.into(),
            payload,
            occurred_at_ms: city_platform::time::now_ms(),
        };
        self.t.platform.bus.publish(&event).await.unwrap();
    }

    /// Tries to order a booking fee until booking's event has been consumed (or 10 s pass).
    async fn booking_order(&self, token: &str, booking_id: &str) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let body = json!({ "kind": "booking", "booking_id": booking_id, "payer_openid": "oAlice" });
            let (status, order) = self.call("POST", "/v1/payments/orders", token, Some(body)).await;
            if status != 404 || Instant::now() > deadline {
                return (status, order);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_count(&self, sql: &str, bind: &str, want: i64) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let n = self.count(sql, bind).await;
            if n == want {
                return;
            }
            assert!(Instant::now() < deadline, "{sql} [{bind}] is {n}, expected {want}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn internal(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.header("X-Internal-Token", token);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn fee_due(booking_id: &str, citizen: &str, pay_before_ms: i64) -> Value {
    json!({
        "booking_id": booking_id, "citizen_id": citizen, "amount_fen": 1500, "hospital_id": "h-cd2",
        "description": "挂号费 成都市第二人民医院 王医生 2026-12-03 第5号", "pay_before_ms": pay_before_ms,
    })
}

#[tokio::test]
async fn a_booking_fee_from_booking_is_paid_once_by_its_owner_and_refunded_once_on_request() {
    let p = portal().await;
    let pay_before = city_platform::time::now_ms() + 10 * 60_000;
    let event = fee_due("appt-1", "citizen-alice", pay_before);
    // The bus delivers at least once: the same event twice, and a second copy with another id.
    p.booking_event("ev-fee-1", "booking.fee_due", event.clone()).await;
    p.booking_event("ev-fee-1", "booking.fee_due", event.clone()).await;
    p.booking_event("ev-fee-1b", "booking.fee_due", event).await;

    let (status, problem) = p.booking_order("bob", "appt-1").await;
    assert_eq!(status, 404, "another citizen's booking fee: {problem}");
    let (status, order) = p.booking_order("alice", "appt-1").await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(p.count("SELECT CAST(COUNT(*) AS BIGINT) FROM booking_fees WHERE booking_id = $1", "appt-1").await, 1);
    assert_eq!((order["item_kind"].as_str(), order["amount_fen"].as_i64()), (Some("booking"), Some(1500)));
    let expires = chrono::DateTime::parse_from_rfc3339(order["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires.timestamp_millis() <= pay_before, "the order outlives the hold: {order}");
    let (time_expire,): (String,) = sqlx::query_as("SELECT time_expire FROM orders WHERE id = $1")
        .bind(order["id"].as_str().unwrap())
        .fetch_one(&p.state.db.pool)
        .await
        .unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(&time_expire).unwrap().timestamp_millis() <= pay_before);

    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(p.sandbox_pay(order["out_trade_no"].as_str().unwrap(), true).await, 200);
    let paid = p.wait_order("alice", &id, |o| o["state"] == "paid").await;
    assert_eq!(paid["posting_state"], "none", "booking fees are posted to no biller");
    let (status, problem) = p.booking_order("alice", "appt-1").await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/problems/already-paid")));
    let hospital = "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM ledger WHERE account = $1";
    assert_eq!(p.count(hospital, "hospital_payable:h-cd2").await, -1500);
    let (payload,): (String,) = sqlx::query_as("SELECT payload FROM platform_outbox WHERE topic = 'payments.paid'")
        .fetch_one(&p.state.db.pool)
        .await
        .unwrap();
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!((payload["item_kind"].as_str(), payload["item_id"].as_str()), (Some("booking"), Some("appt-1")));

    // Booking asks for the refund; the request arrives three times, two of them at once.
    let refund = json!({ "booking_id": "appt-1", "citizen_id": "citizen-alice", "amount_fen": 1500, "reason": "citizen_cancelled" });
    tokio::join!(
        p.booking_event("ev-refund-1", "booking.refund_requested", refund.clone()),
        p.booking_event("ev-refund-2", "booking.refund_requested", refund.clone()),
    );
    p.booking_event("ev-refund-1", "booking.refund_requested", refund).await;
    let succeeded = "SELECT CAST(COUNT(*) AS BIGINT) FROM refunds WHERE order_id = $1 AND state = 'success'";
    p.wait_count(succeeded, &id, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(p.count("SELECT CAST(COUNT(*) AS BIGINT) FROM refunds WHERE order_id = $1", &id).await, 1);
    assert_eq!(p.count(hospital, "hospital_payable:h-cd2").await, 0);
    let refunded =
        "SELECT CAST(COUNT(*) AS BIGINT) FROM platform_outbox WHERE topic = 'payments.refunded' AND payload LIKE $1";
    assert_eq!(p.count(refunded, "%\"item_kind\":\"booking\"%").await, 1);
    p.t.cleanup().await;
}

#[tokio::test]
async fn a_cancelled_or_lapsed_booking_fee_cannot_be_ordered() {
    let p = portal().await;
    let later = city_platform::time::now_ms() + 10 * 60_000;
    // Cancelled after the fee was due.
    p.booking_event("ev-a", "booking.fee_due", fee_due("appt-a", "citizen-alice", later)).await;
    let (status, _) = p.booking_order("alice", "appt-a").await;
    assert_eq!(status, 200);
    let cancelled =
        json!({ "appointment_id": "appt-a", "citizen_id": "citizen-alice", "status": "cancelled", "paid": false });
    p.booking_event("ev-a-cancel", "booking.cancelled", cancelled).await;
    p.wait_count(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM booking_fees WHERE booking_id = $1 AND status = 'void'",
        "appt-a",
        1,
    )
    .await;
    let body = json!({ "kind": "booking", "booking_id": "appt-a", "payer_openid": "oAlice" });
    let (status, problem) = p.call("POST", "/v1/payments/orders", "alice", Some(body)).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/problems/booking-fee-void")), "{problem}");

    // The expiry overtook the fee_due event: the late fee stays void.
    let expired =
        json!({ "appointment_id": "appt-b", "citizen_id": "citizen-alice", "status": "expired", "paid": false });
    p.booking_event("ev-b-expired", "booking.expired", expired).await;
    p.wait_count(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM booking_fees WHERE booking_id = $1 AND status = 'void'",
        "appt-b",
        1,
    )
    .await;
    p.booking_event("ev-b", "booking.fee_due", fee_due("appt-b", "citizen-alice", later)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = json!({ "kind": "booking", "booking_id": "appt-b", "payer_openid": "oAlice" });
    let (status, _) = p.call("POST", "/v1/payments/orders", "alice", Some(body)).await;
    assert_eq!(status, 409);

    // A hold already over.
    p.booking_event("ev-c", "booking.fee_due", fee_due("appt-c", "citizen-alice", city_platform::time::now_ms() - 1))
        .await;
    let (status, problem) = p.booking_order("alice", "appt-c").await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/problems/booking-hold-lapsed")), "{problem}");

    let body = json!({ "kind": "booking", "payer_openid": "oAlice" });
    let (status, problem) = p.call("POST", "/v1/payments/orders", "alice", Some(body)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "booking_id");

    // Identity (not mounted here) knows no Mini Program openid for Alice, and she names none.
    p.booking_event("ev-d", "booking.fee_due", fee_due("appt-d", "citizen-alice", later)).await;
    p.booking_order("alice", "appt-d").await;
    let body = json!({ "kind": "booking", "booking_id": "appt-d" });
    let (status, problem) = p.call("POST", "/v1/payments/orders", "alice", Some(body)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "payer_openid");
    p.t.cleanup().await;
}

#[tokio::test]
async fn the_internal_unpaid_list_has_bills_and_booking_fees_and_wants_the_internal_token() {
    let p = portal().await;
    let path = "/v1/internal/payments/citizens/citizen-alice/unpaid";
    let token = p.t.platform.internal_token.expose().to_owned();
    let (status, problem) = p.internal(path, None).await;
    assert_eq!(status, 401, "no token: {problem}");
    let (status, _) = p.internal(path, Some("not-the-token")).await;
    assert_eq!(status, 401, "a wrong token");
    let (status, _) = p.call("GET", path, "alice", None).await;
    assert_eq!(status, 401, "a citizen's bearer token is not an internal token");

    let (status, empty) = p.internal(path, Some(&token)).await;
    assert_eq!((status, empty), (200, json!([])));

    let order = p.bill_order("3100123456", "cd-power").await;
    p.booking_event(
        "ev-u",
        "booking.fee_due",
        fee_due("appt-u", "citizen-alice", city_platform::time::now_ms() + 600_000),
    )
    .await;
    p.booking_event(
        "ev-bob",
        "booking.fee_due",
        fee_due("appt-bob", "citizen-bob", city_platform::time::now_ms() + 600_000),
    )
    .await;
    let (status, _) = p.booking_order("alice", "appt-u").await;
    assert_eq!(status, 200);
    let (status, items) = p.internal(path, Some(&token)).await;
    assert_eq!(status, 200, "{items}");
    let items = items.as_array().unwrap().clone();
    let bill = items.iter().find(|i| i["kind"] == "bill" && i["id"] == order["item_id"]).expect("the bill");
    assert_eq!(bill["id"], order["item_id"]);
    assert_eq!(bill["amount_fen"], 18650);
    assert!(bill["description"].as_str().unwrap().contains("******3456"), "{bill}");
    assert!(bill["due_date"].as_str().is_some_and(|d| d.len() == 10));
    let fee = items.iter().find(|i| i["kind"] == "booking").expect("the booking fee");
    assert_eq!((fee["id"].as_str(), fee["amount_fen"].as_i64()), (Some("appt-u"), Some(1500)));
    assert_eq!(fee.as_object().unwrap().len(), 5, "exactly kind, id, description, amount_fen, due_date: {fee}");
    assert!(items.iter().all(|i| i["id"] != "appt-bob"), "only this citizen's");

    // Paid bills leave the list.
    p.sandbox_pay(order["out_trade_no"].as_str().unwrap(), true).await;
    p.wait_order("alice", order["id"].as_str().unwrap(), |o| o["state"] == "paid").await;
    let (_, items) = p.internal(path, Some(&token)).await;
    assert!(items.as_array().unwrap().iter().all(|i| i["id"] != order["item_id"]), "{items}");
    p.t.cleanup().await;
}

// Issue #15: fines only for whoever knows the car; orders that never block another citizen.

/// 川A12345 (small car): the seed's engine number ends in 123456.
const PLATE: &str = "%E5%B7%9DA12345";

fn fines_path(plate: &str, plate_type: &str, engine: &str) -> String {
    format!("/v1/payments/fines?plate={plate}&plate_type={plate_type}&engine_last6={engine}")
}

#[tokio::test]
async fn a_bare_plate_shows_nothing_and_a_wrong_engine_number_answers_like_an_unknown_plate() {
    let p = portal().await;
    let (status, problem) =
        p.call("GET", &format!("/v1/payments/fines?plate={PLATE}&plate_type=02"), "alice", None).await;
    assert_eq!((status, problem["type"].as_str()), (400, Some("/problems/malformed-request")), "{problem}");
    assert_eq!(problem["errors"][0]["field"], "engine_last6");
    let (status, problem) = p.call("GET", &format!("/v1/payments/fines?plate={PLATE}"), "alice", None).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (400, Some("plate_type")), "{problem}");
    let (status, problem) = p.call("GET", "/v1/payments/fines", "alice", None).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (400, Some("plate")), "{problem}");

    let (status, wrong) = p.call("GET", &fines_path(PLATE, "02", "123457"), "alice", None).await;
    assert_eq!((status, wrong["type"].as_str()), (404, Some("/problems/vehicle-not-found")), "{wrong}");
    // 川B99999 is registered nowhere: the same answer, word for word.
    let (status, unknown) = p.call("GET", &fines_path("%E5%B7%9DB99999", "02", "123456"), "alice", None).await;
    assert_eq!(status, 404);
    let without_instance = |mut v: Value| {
        v.as_object_mut().unwrap().remove("instance");
        v
    };
    assert_eq!(without_instance(wrong), without_instance(unknown));
    // The right type matters too.
    let (status, _) = p.call("GET", &fines_path(PLATE, "52", "123456"), "alice", None).await;
    assert_eq!(status, 404);

    let (status, fines) = p.call("GET", &fines_path(PLATE, "02", "123456"), "alice", None).await;
    assert_eq!(status, 200, "{fines}");
    assert_eq!(fines.as_array().unwrap().len(), 2);
    assert!(fines.as_array().unwrap().iter().all(|f| f["plate_masked"] == "川A1***5"), "{fines}");
    let (status, problem) = p.call("GET", &fines_path(PLATE, "02", "12345"), "alice", None).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (400, Some("engine_last6")), "{problem}");
    // A staff token is not a citizen's.
    let (status, _) = p.call("GET", &fines_path(PLATE, "02", "123456"), "finance", None).await;
    assert_eq!(status, 403);
    p.t.cleanup().await;
}

#[tokio::test]
async fn guessing_engine_numbers_is_limited_per_plate_and_per_citizen_and_counted_before_checking() {
    let p = portal().await;
    // Ten wrong guesses at one plate, at once: all counted, all refused.
    let paths: Vec<String> = (0..10).map(|n| fines_path(PLATE, "02", &format!("00000{n}"))).collect();
    let guesses = futures::future::join_all(paths.iter().map(|path| p.call("GET", path, "alice", None))).await;
    assert!(guesses.iter().all(|(s, _)| *s == 404), "{guesses:?}");
    // The plate's day is used up: even the right code, even from another citizen.
    let (status, problem) = p.call("GET", &fines_path(PLATE, "02", "123456"), "alice", None).await;
    assert_eq!((status, problem["type"].as_str()), (429, Some("/problems/rate-limited")), "{problem}");
    let (status, _) = p.call("GET", &fines_path(PLATE, "02", "123456"), "bob", None).await;
    assert_eq!(status, 429);
    let body = json!({ "plate": "川A12345", "plate_type": "02", "engine_last6": "123456" });
    let (status, _) = p.call("POST", "/v1/payments/vehicles", "bob", Some(body)).await;
    assert_eq!(status, 429, "binding counts too");
    // Another plate is untouched; the decision number still works for everyone.
    let (status, _) = p.call("GET", &fines_path("%E5%B7%9DAD12345", "52", "654321"), "bob", None).await;
    assert_eq!(status, 200);
    let (status, _) = p.call("GET", "/v1/payments/fines?decision_no=5101041000012346", "alice", None).await;
    assert_eq!(status, 200);

    // One citizen spreading guesses over many plates runs out too.
    for n in 0..20 {
        let (status, _) =
            p.call("GET", &fines_path(&format!("%E5%B7%9DB100{n:02}"), "02", "123456"), "carol", None).await;
        assert_eq!(status, 404);
    }
    let (status, _) = p.call("GET", &fines_path("%E5%B7%9DAD12345", "52", "654321"), "carol", None).await;
    assert_eq!(status, 429);
    p.t.cleanup().await;
}

#[tokio::test]
async fn walking_decision_numbers_is_limited_per_citizen() {
    let p = portal().await;
    // Decision numbers run in sequence: twenty a day, found or not, then no more.
    for n in 0..20 {
        let (status, _) =
            p.call("GET", &format!("/v1/payments/fines?decision_no=51010410000123{n:02}"), "alice", None).await;
        assert_eq!(status, 200);
    }
    let (status, problem) = p.call("GET", "/v1/payments/fines?decision_no=5101041000012345", "alice", None).await;
    assert_eq!((status, problem["type"].as_str()), (429, Some("/problems/rate-limited")), "{problem}");
    let (status, fines) = p.call("GET", "/v1/payments/fines?decision_no=5101041000012345", "bob", None).await;
    assert_eq!((status, fines.as_array().map(Vec::len)), (200, Some(1)), "another citizen's day is their own");
    p.t.cleanup().await;
}

#[tokio::test]
async fn a_vehicle_is_bound_with_its_engine_number_and_its_fines_shown_to_its_binder_only() {
    let p = portal().await;
    let bind =
        |engine: &str| json!({ "plate": "川a·12345", "plate_type": "02", "engine_last6": engine, "label": "my car" });
    let (status, problem) = p.call("POST", "/v1/payments/vehicles", "alice", Some(bind("654321"))).await;
    assert_eq!((status, problem["type"].as_str()), (404, Some("/problems/vehicle-not-found")), "{problem}");
    let (status, vehicle) = p.call("POST", "/v1/payments/vehicles", "alice", Some(bind("123456"))).await;
    assert_eq!(status, 200, "{vehicle}");
    assert_eq!((vehicle["plate"].as_str(), vehicle["current"].as_bool()), (Some("川A12345"), Some(true)));
    assert!(vehicle.get("engine_last6").is_none(), "{vehicle}");
    let (_, again) = p.call("POST", "/v1/payments/vehicles", "alice", Some(bind("123456"))).await;
    assert_eq!(again["id"], vehicle["id"], "binding again is the same binding");
    let id = vehicle["id"].as_str().unwrap();

    let (_, list) = p.call("GET", "/v1/payments/vehicles", "alice", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, list) = p.call("GET", "/v1/payments/vehicles", "bob", None).await;
    assert_eq!(list, json!([]));
    let (status, fines) = p.call("GET", &format!("/v1/payments/vehicles/{id}/fines"), "alice", None).await;
    assert_eq!((status, fines.as_array().map(Vec::len)), (200, Some(2)), "{fines}");
    let (status, _) = p.call("GET", &format!("/v1/payments/vehicles/{id}/fines"), "bob", None).await;
    assert_eq!(status, 404, "another citizen's binding");
    let (status, _) = p.call("DELETE", &format!("/v1/payments/vehicles/{id}"), "bob", None).await;
    assert_eq!(status, 404);
    let (status, _) = p.call("POST", "/v1/payments/vehicles", "finance", Some(bind("123456"))).await;
    assert_eq!(status, 403, "staff do not bind vehicles");
    let (status, _) = p.call("GET", "/v1/payments/vehicles", "", None).await;
    assert_eq!(status, 401);

    // The traffic police now report another engine for the plate: it went to another car.
    let file = "decision_no,plate,plate_type,engine_no,fine_yuan,decided_on,violation,location\n\
                510104100001239999,川A12345,02,NEWENGINE777777,150,2026-11-30,闯红灯,红星路\n";
    let (status, imported) = p
        .call("POST", "/v1/payments/imports/fines", "finance", Some(json!({ "file_name": "f.csv", "content": file })))
        .await;
    assert_eq!(status, 200, "{imported}");
    let (_, list) = p.call("GET", "/v1/payments/vehicles", "alice", None).await;
    assert_eq!(list[0]["current"], false, "{list}");
    let (status, problem) = p.call("GET", &format!("/v1/payments/vehicles/{id}/fines"), "alice", None).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/problems/vehicle-changed")), "{problem}");
    let (status, _) = p.call("POST", "/v1/payments/vehicles", "alice", Some(bind("123456"))).await;
    assert_eq!(status, 404, "the old engine no longer opens the plate");
    let (status, rebound) = p.call("POST", "/v1/payments/vehicles", "alice", Some(bind("777777"))).await;
    assert_eq!((status, rebound["current"].as_bool(), rebound["label"].as_str()), (200, Some(true), Some("my car")));
    // The new car's fines are its own: the old car's violations stay with the old car.
    let (_, fines) = p.call("GET", &format!("/v1/payments/vehicles/{id}/fines"), "alice", None).await;
    let decisions: Vec<&str> = fines.as_array().unwrap().iter().filter_map(|f| f["decision_no"].as_str()).collect();
    assert_eq!(decisions, ["510104100001239999"], "{fines}");
    let (_, by_plate) = p.call("GET", &fines_path(PLATE, "02", "777777"), "bob", None).await;
    assert_eq!(by_plate.as_array().map(Vec::len), Some(1), "{by_plate}");

    let (status, _) = p.call("DELETE", &format!("/v1/payments/vehicles/{id}"), "alice", None).await;
    assert_eq!(status, 200);
    let (status, _) = p.call("GET", &format!("/v1/payments/vehicles/{id}/fines"), "alice", None).await;
    assert_eq!(status, 404);
    p.t.cleanup().await;
}

#[tokio::test]
async fn a_fines_file_feeds_the_registry_whole_once_keeps_only_a_keyed_hash_and_names_every_bad_row() {
    let p = portal().await;
    let header = "decision_no,plate,plate_type,engine_no,fine_yuan,decided_on,violation,location\n";
    let bad = format!("{header}510104100002000001,川B54321,02,LJ4A0098765Z,200,2026-11-20,闯红灯,人民南路\n12,ABC,02,x,0,2026-11-20,a,b\n");
    let body = json!({ "file_name": "bad.csv", "content": bad });
    let (status, problem) = p.call("POST", "/v1/payments/imports/fines", "finance", Some(body)).await;
    assert_eq!((status, problem["type"].as_str()), (422, Some("/problems/bad-fine-rows")), "{problem}");
    let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(
        fields,
        [
            "content.line[3].decision_no",
            "content.line[3].plate",
            "content.line[3].engine_no",
            "content.line[3].fine_yuan"
        ]
    );
    let registered = "SELECT CAST(COUNT(*) AS BIGINT) FROM vehicles WHERE plate = $1";
    assert_eq!(p.count(registered, "川B54321").await, 0, "nothing from a bad file");

    let good = format!(
        "{header}510104100002000001,川B54321,02,LJ4A0098765Z,200,2026-11-20,闯红灯,人民南路\n\
         5101041000012345,川A12345,02,LFV2A1K50123456,200,2026-11-30,违反禁止标线指示,人民南路四段\n"
    );
    let body = json!({ "file_name": "good.csv", "content": good });
    let (status, _) = p.call("POST", "/v1/payments/imports/fines", "clerk", Some(body.clone())).await;
    assert_eq!(status, 403, "only finance imports");
    let (status, first) = p.call("POST", "/v1/payments/imports/fines", "finance", Some(body.clone())).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!((first["rows"].as_i64(), first["new_fines"].as_i64()), (Some(2), Some(1)), "a known decision stays");
    let (_, second) = p.call("POST", "/v1/payments/imports/fines", "finance", Some(body)).await;
    assert_eq!(second["already_imported"], true);

    let (status, fines) = p.call("GET", &fines_path("%E5%B7%9DB54321", "02", "98765z"), "alice", None).await;
    assert_eq!((status, fines.as_array().map(Vec::len)), (200, Some(1)), "{fines}");
    assert_eq!(
        (fines[0]["decision_no"].as_str(), fines[0]["fine_fen"].as_i64()),
        (Some("510104100002000001"), Some(20000))
    );
    // Only a 64-hex-digit keyed hash is kept: neither the six characters nor the whole number.
    let (hash,): (String,) = sqlx::query_as("SELECT engine_hash FROM vehicles WHERE plate = $1")
        .bind("川B54321")
        .fetch_one(&p.state.db.pool)
        .await
        .unwrap();
    assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
    let plain = sha2_hex(b"98765Z");
    assert_ne!(hash, plain, "keyed, not a bare digest");
    let stored = "SELECT CAST(COUNT(*) AS BIGINT) FROM fines WHERE violation LIKE $1 OR location LIKE $1";
    assert_eq!(p.count(stored, "%98765%").await, 0);
    let audited =
        "SELECT CAST(COUNT(*) AS BIGINT) FROM platform_outbox WHERE topic = 'audit.recorded' AND payload LIKE $1";
    assert_eq!(p.count(audited, "%fines.import%").await, 1);
    assert_eq!(p.count(audited, "%98765%").await, 0, "the audit entry holds no engine number");
    p.t.cleanup().await;
}

fn sha2_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}

#[tokio::test]
async fn another_citizens_open_order_never_blocks_and_a_second_payment_is_refunded_exactly_once() {
    let p = portal().await;
    // Bob, a stranger, orders Alice's fine by its decision number and leaves the order open.
    let (_, by_decision) = p.call("GET", "/v1/payments/fines?decision_no=5101041000012346", "bob", None).await;
    let quote = by_decision[0]["quote_id"].clone();
    let body = |openid: &str| json!({ "kind": "fine", "quote_id": quote, "payer_openid": openid });
    let (status, bobs) = p.call("POST", "/v1/payments/orders", "bob", Some(body("oBob"))).await;
    assert_eq!(status, 200, "{bobs}");

    // Alice is not blocked; tapping twice gets her own order back.
    let (status, alices) = p.call("POST", "/v1/payments/orders", "alice", Some(body("oAlice"))).await;
    assert_eq!(status, 200, "the owner must never wait for a stranger's order: {alices}");
    assert_ne!(alices["out_trade_no"], bobs["out_trade_no"]);
    let (_, again) = p.call("POST", "/v1/payments/orders", "alice", Some(body("oAlice"))).await;
    assert_eq!(again["out_trade_no"], alices["out_trade_no"]);
    let (_, bob_again) = p.call("POST", "/v1/payments/orders", "bob", Some(body("oBob"))).await;
    assert_eq!(bob_again["out_trade_no"], bobs["out_trade_no"]);

    // Bob pays at WeChat first but his notification is late; Alice's arrives and settles.
    let bob_no = bobs["out_trade_no"].as_str().unwrap();
    assert_eq!(p.sandbox_pay(bob_no, false).await, 200);
    assert_eq!(p.sandbox_pay(alices["out_trade_no"].as_str().unwrap(), true).await, 200);
    p.wait_order("alice", alices["id"].as_str().unwrap(), |o| o["posting_state"] == "posted").await;
    // WeChat repeats Bob's notification, three times at once and later again.
    let renotify = || p.http.post(format!("{}/sandbox/wechat/pay/_test/transactions/{bob_no}/renotify", p.base)).send();
    let _ = tokio::join!(renotify(), renotify(), renotify());
    let bob_id = bobs["id"].as_str().unwrap();
    let done = p.wait_order("bob", bob_id, |o| o["state"] == "paid" && o["refunded_fen"] == o["amount_fen"]).await;
    assert_eq!(done["posting_state"], "duplicate", "{done}");
    let succeeded = "SELECT CAST(COUNT(*) AS BIGINT) FROM refunds WHERE order_id = $1 AND state = 'success'";
    p.wait_count(succeeded, bob_id, 1).await;
    renotify().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(p.count("SELECT CAST(COUNT(*) AS BIGINT) FROM refunds WHERE order_id = $1", bob_id).await, 1);
    assert_eq!(p.count("SELECT CAST(COUNT(*) AS BIGINT) FROM sim_postings WHERE out_trade_no = $1", bob_no).await, 0);
    let paid_events =
        "SELECT CAST(COUNT(*) AS BIGINT) FROM platform_outbox WHERE topic = 'payments.paid' AND payload LIKE $1";
    assert_eq!(p.count(paid_events, &format!("%{bob_id}%")).await, 0, "the duplicate settled nothing");
    let refunded_events = "SELECT CAST(COUNT(*) AS BIGINT) FROM platform_outbox WHERE topic = $1";
    assert_eq!(p.count(refunded_events, "payments.duplicate_refunded").await, 1);
    assert_eq!(p.count(refunded_events, "payments.refunded").await, 0, "the item's own payment stands");
    assert_eq!(
        p.count("SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM ledger WHERE order_id = $1", bob_id).await,
        0
    );

    // The day shows it: WeChat has both payments and the refund, the biller one posting.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, report) =
            p.call("GET", &format!("/v1/payments/reconciliation?date={}", today()), "finance", None).await;
        assert_eq!(status, 200, "{report}");
        let duplicate = &report["duplicates"][0];
        if duplicate["refund_state"] == "success" && report["mismatches"] == json!([]) {
            assert_eq!(
                (duplicate["out_trade_no"].as_str(), duplicate["item_kind"].as_str()),
                (Some(bob_no), Some("fine"))
            );
            assert_eq!((report["wechat_count"].as_i64(), report["biller_count"].as_i64()), (Some(2), Some(1)));
            break;
        }
        assert!(Instant::now() < deadline, "never reconciled: {report}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    p.t.cleanup().await;
}

#[tokio::test]
async fn a_strangers_open_order_is_closed_once_the_owner_has_paid() {
    let p = portal().await;
    let (_, by_decision) = p.call("GET", "/v1/payments/fines?decision_no=5101041000012345", "bob", None).await;
    let body = |openid: &str| json!({ "kind": "fine", "quote_id": by_decision[0]["quote_id"], "payer_openid": openid });
    let (_, bobs) = p.call("POST", "/v1/payments/orders", "bob", Some(body("oBob"))).await;
    let (_, alices) = p.call("POST", "/v1/payments/orders", "alice", Some(body("oAlice"))).await;
    assert_eq!(p.sandbox_pay(alices["out_trade_no"].as_str().unwrap(), true).await, 200);
    let closed = p.wait_order("bob", bobs["id"].as_str().unwrap(), |o| o["state"] == "closed").await;
    assert_eq!(closed["refunded_fen"], 0);
    assert_eq!(p.sandbox_pay(bobs["out_trade_no"].as_str().unwrap(), true).await, 400, "WeChat refuses a closed order");
    let (status, problem) = p.call("POST", "/v1/payments/orders", "bob", Some(body("oBob"))).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/problems/already-paid")));
    p.t.cleanup().await;
}
