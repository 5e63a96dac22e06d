//! What WeChat sends the portal, over the wire (issue #24): Service Account pushes in safe mode
//! (encrypted and signed as WeChat does) and WeChat Pay v3 payment notifications.
//!
//! Both are built before the clock starts, so the load generator only sends and checks: pushes
//! with the account's own `MessageCrypt` (the channel crate's, from the data directory's demo
//! set), notifications by the WeChat sandbox's own pay simulator run in this process, which
//! signs them with the platform key and seals them with the APIv3 key and delivers them to a
//! capture route here; the portal then meets each over TCP like a delivery from WeChat.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use city_platform::config::{Secret, Settings, DEMO_MCHID, DEMO_MP_APPID};
use city_platform::secrets::DemoSecrets;
use futures::{stream, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::crowd::{status_of, Crowd};
use crate::measure::{drive, Sample, Usage, Watch};
use crate::report::Row;
use crate::scenarios::Run;

/// How long the portal waits for a push's words before answering `success` (channel's
/// `reply_budget`, within WeChat's 5 s).
const REPLY_BUDGET: std::time::Duration = std::time::Duration::from_secs(4);
/// The city account's original id, as WeChat writes it in `ToUserName`.
const GH: &str = "gh_c1t7load0001";

/// Service Account pushes in safe mode (goal ≥ 5k/s).
pub async fn pushes(run: &mut Run<'_>) {
    let anchor = run.bare_anchor().await;
    let n: usize = var("LOAD_PUSHES").unwrap_or(if smoke() { 4_000 } else { 60_000 });
    let demo = demo_set(run);
    let crypt = {
        let mut s = Settings::default();
        s.wechat.oa_token = Secret::new(demo.oa_token.clone());
        s.wechat.oa_aes_key = Secret::new(demo.oa_aes_key.clone());
        Arc::new(city_channel::message_crypt(&s).expect("the Service Account's crypto from the demo set"))
    };
    let tag = run.tag.clone();
    let pushes = Arc::new(build_pushes(&crypt, &demo.oa_token, &tag, n));
    let answers: Arc<Vec<OnceLock<Option<String>>>> = Arc::new((0..n).map(|_| OnceLock::new()).collect());
    let wrong = Arc::new(Wrong::default());
    let lateness: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
    let (crowd, p, a, w, c, l) =
        (run.crowd.clone(), pushes.clone(), answers.clone(), wrong.clone(), crypt.clone(), lateness.clone());
    let (sample, usage) = measure(run, move |seq| {
        let (crowd, pushes, answers, wrong, crypt, lateness) =
            (crowd.clone(), p.clone(), a.clone(), w.clone(), c.clone(), l.clone());
        async move {
            let push = pushes.get(seq as usize)?;
            let req = crowd
                .http
                .post(format!("{}{}", crowd.base, push.query))
                .header("content-type", "text/xml")
                // WeChat's servers are many addresses; each stays far below the per-IP limit.
                .header("x-forwarded-for", crowd.anonymous())
                .body(push.envelope.clone());
            let sent_at = std::time::Instant::now();
            let (status, body) = send(req).await;
            // Past the portal's reply budget, `success` now and the words later as a
            // customer-service message is the right answer too.
            let late = sent_at.elapsed() >= REPLY_BUDGET;
            if status != 200 {
                // Counted here too: the table counts only the measured window, not the warm-up.
                wrong.note(format!("push {seq}: status {status}"));
            } else {
                match open_reply(&crypt, &body, &push.openid) {
                    Ok(None) if late => {
                        lateness[seq as usize].store(true, Ordering::Relaxed);
                        let _ = answers[seq as usize].set(None);
                    }
                    Ok(content) => match push.check(content.as_deref(), &pushes) {
                        Ok(()) => {
                            let _ = answers[seq as usize].set(content);
                        }
                        Err(why) => wrong.note(format!("push {seq}: {why}")),
                    },
                    Err(why) => wrong.note(format!("push {seq}: {why}")),
                }
            }
            Some(status)
        }
    })
    .await;
    if sample.total as usize >= n {
        println!("  (all {n} prepared pushes were sent before the time ran out: LOAD_PUSHES raises them)");
    }
    let row = Row::new("POST /wechat/callback (safe mode)", &sample, Some(usage), |s| s == 200).against(&anchor);
    run.keep(row);

    // Effects: every hand-over text answered kept exactly one message, its repeats none.
    let handovers: Vec<&Push> = pushes
        .iter()
        .enumerate()
        .filter(|(i, p)| p.want == Want::Handover && answers[*i].get().is_some())
        .map(|(_, p)| p)
        .collect();
    let repeats = pushes
        .iter()
        .enumerate()
        .filter(|(i, p)| matches!(p.want, Want::Same(_)) && answers[*i].get().is_some())
        .count();
    let kept = count(
        run,
        "wechat",
        "wechat_conversations",
        // The citizen's own messages: the assistant's answers are kept beside them.
        " AND sender = 'citizen'",
        &format!("o{tag}h%"),
    )
    .await;
    let opened = count(run, "wechat", "conversations", "", &format!("o{tag}h%")).await;
    println!(
        "  (pushes: {} answered and checked, {repeats} of them WeChat's retries; {} hand-overs kept {kept} messages in {opened} conversations; {} wrong answers)",
        answers.iter().filter(|a| a.get().is_some()).count(),
        handovers.len(),
        wrong.count()
    );
    let silent_retries = pushes
        .iter()
        .enumerate()
        .filter(|(i, p)| matches!(p.want, Want::Same(_)) && answers[*i].get() == Some(&None))
        .count();
    println!("  ({silent_retries} retries were answered `success`, the others with their first delivery's words)");
    // A retry answered with words said exactly what its first delivery was answered.
    for (i, push) in pushes.iter().enumerate() {
        if let (Want::Same(first), Some(Some(said))) = (&push.want, answers[i].get()) {
            if !lateness[*first].load(Ordering::Relaxed)
                && answers[*first].get().and_then(|a| a.as_deref()) != Some(said.as_str())
            {
                wrong.note(format!(
                    "push {i}, a retry of {first}, was answered {said:?}, the first {:?}",
                    answers[*first].get()
                ));
            }
        }
    }
    wrong.assert_none("pushes");
    assert_eq!(kept, handovers.len() as i64, "one kept message per hand-over push, none for its retries");
    assert_eq!(opened, handovers.len() as i64, "one conversation per hand-over follower");
}

/// WeChat Pay v3 payment notifications (goal ≥ 1k/s).
pub async fn notifications(run: &mut Run<'_>) {
    let anchor = run.bare_anchor().await;
    let n: usize = var("LOAD_NOTIFICATIONS").unwrap_or(if smoke() { 300 } else { 6_000 });
    let demo = demo_set(run);
    let orders = prepare_orders(run, n).await;
    let sealed = seal_notifications(&demo, &orders).await;
    let balance_before = balance_of(&run.crowd, &orders[0]).await;
    // Every fifth send is a delivery again of an earlier one, byte for byte (WeChat Pay
    // retries when an answer is slow or lost): it must be answered 204 and change nothing.
    let mut plan: Vec<usize> = Vec::with_capacity(n + n / 4);
    for i in 0..n {
        plan.push(i);
        if i % 4 == 3 {
            plan.push(i - 3 + (i / 4) % 3);
        }
    }
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let refused = Arc::new(Wrong::default());
    let (crowd, plan, s, notes, r) =
        (run.crowd.clone(), Arc::new(plan), sent.clone(), Arc::new(sealed), refused.clone());
    let (sample, usage) = measure(run, move |seq| {
        let (crowd, plan, sent, notes, refused) = (crowd.clone(), plan.clone(), s.clone(), notes.clone(), r.clone());
        async move {
            let i = *plan.get(seq as usize)?;
            let (headers, body) = &notes[i];
            let mut req = crowd
                .http
                .post(format!("{}/v1/payments/wechatpay/notify", crowd.base))
                .header("content-type", "application/json")
                .header("x-forwarded-for", crowd.anonymous())
                .body(body.clone());
            for (name, value) in headers {
                req = req.header(name, value);
            }
            let status = status_of(req).await;
            if status == 204 {
                sent[i].fetch_add(1, Ordering::Relaxed);
            } else {
                // Counted here too: the table counts only the measured window, not the warm-up.
                refused.note(format!("notification of order {i}: status {status}"));
            }
            Some(status)
        }
    })
    .await;
    if sample.total as usize >= plan_len(n) {
        println!("  (all {n} prepared orders were notified before the time ran out: LOAD_NOTIFICATIONS raises them)");
    }
    if sample.statuses.is_empty() {
        println!(
            "  (every notification was answered within the warm-up: no rate to show; the answers are checked below)"
        );
    }
    let row = Row::new("POST /v1/payments/wechatpay/notify", &sample, Some(usage), |s| s == 204);
    run.keep(row.clone().against(&anchor));
    if let Some(floor) = notify_floor(run).await {
        let floor = run.keep(Row::new("pgbench: order paid, ledger, outbox (floor)", &floor, None, |s| s == 200));
        let mut against_floor = row.against(&floor);
        against_floor.scenario = "  the same notifications against the floor".into();
        run.keep(against_floor);
    }
    refused.assert_none("notifications");
    check_paid_once(run, &orders, &sent, balance_before).await;
}

fn plan_len(n: usize) -> usize {
    n + n / 4
}

// ---------------------------------------------------------------------------------------------
// Shared pieces.

fn smoke() -> bool {
    std::env::var("LOAD_SMOKE").is_ok_and(|v| v == "1")
}

fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The data directory's demo credentials, written by `city demo-secrets init` before the
/// portal and the sandbox started: the same keys WeChat and the merchant hold.
fn demo_set(run: &Run<'_>) -> DemoSecrets {
    DemoSecrets::read(&DemoSecrets::path_in(run.backend.dir.path()))
        .expect("the demo set reads")
        .expect("`city demo-secrets init` wrote the demo set")
}

async fn measure<F, Fut>(run: &Run<'_>, job: F) -> (Sample, Usage)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<u16>> + Send,
{
    let watch = Watch::start(run.portal.pid());
    let sample = drive(run.load, job).await;
    (sample, watch.finish().await)
}

/// The status and body of a request; 0 and nothing when there was no answer.
async fn send(req: reqwest::RequestBuilder) -> (u16, String) {
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.text().await {
                Ok(body) => {
                    if status >= 500 && std::env::var("LOAD_SHOW_5XX").is_ok() {
                        eprintln!("{status}: {body}");
                    }
                    (status, body)
                }
                Err(_) => (0, String::new()),
            }
        }
        Err(_) => (0, String::new()),
    }
}

/// Answers that came back 2xx but said the wrong thing: counted, the first few kept to show.
#[derive(Default)]
struct Wrong {
    n: AtomicU64,
    first: Mutex<Vec<String>>,
}

impl Wrong {
    fn note(&self, why: String) {
        self.n.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first.lock().expect("not poisoned");
        if first.len() < 5 {
            first.push(why);
        }
    }
    fn count(&self) -> u64 {
        self.n.load(Ordering::Relaxed)
    }
    fn assert_none(&self, what: &str) {
        assert_eq!(self.count(), 0, "{what} answered wrongly: {:#?}", self.first.lock().expect("not poisoned"));
    }
}

/// How many of `table`'s rows in `service`'s store have an openid `like` this, on this run's
/// backend (its SQLite file or its PostgreSQL schema).
async fn count(run: &Run<'_>, service: &'static str, table: &str, filter: &str, like: &str) -> i64 {
    let sql = |table: &str| format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE openid LIKE $1{filter}");
    if let Some((url, prefix)) = &run.backend.database {
        // One connection of our own: the portal's pools already hold many of the server's.
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await.expect("PostgreSQL");
        let n: i64 = sqlx::query_scalar(&sql(&format!("\"{prefix}{service}\".{table}")))
            .bind(like)
            .fetch_one(&pool)
            .await
            .expect("a count");
        pool.close().await;
        return n;
    }
    let s = Settings { data_dir: run.backend.dir.path().to_owned(), ..Settings::default() };
    let db = city_platform::Db::connect(&s, service).await.expect("the service's store opens");
    let n: i64 = sqlx::query_scalar(&sql(table)).bind(like).fetch_one(&db.pool).await.expect("a count");
    db.pool.close().await;
    n
}

// ---------------------------------------------------------------------------------------------
// Service Account pushes.

/// What a push's answer must be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    /// Exactly these words.
    Text(String),
    /// The hand-over notice (a conversation opened for staff; its queue position varies).
    Handover,
    /// A retry of push `n`: its words again, or `success` while the first is still in flight.
    Same(usize),
}

struct Push {
    /// Path and query, as WeChat calls the server URL.
    query: String,
    envelope: String,
    openid: String,
    want: Want,
}

impl Push {
    fn check(&self, content: Option<&str>, pushes: &[Push]) -> Result<(), String> {
        let ok = match &self.want {
            Want::Text(words) => content == Some(words.as_str()),
            Want::Handover => content.is_some_and(|c| c.starts_with("已收到您的留言")),
            // A retry has no second effect: `success`, or the first delivery's words again
            // (kept with its claim); never other words. Compared after the run, since the first
            // may still be in flight here.
            Want::Same(first) => content.is_none() || pushes[*first].check(content, pushes).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("wanted {:?}, got {content:?}", self.want))
        }
    }
}

/// `n` pushes as WeChat sends them to a safe-mode account: 45 % FAQ questions from 2,048
/// followers (each text its own MsgId), 20 % new followers subscribing, 20 % menu clicks, 5 %
/// followers asking for a person (a conversation for staff), 10 % exact retries of earlier ones.
fn build_pushes(crypt: &city_channel::accounts::MessageCrypt, token: &str, tag: &str, n: usize) -> Vec<Push> {
    let faq = city_channel::domain::faq::Faq::seed();
    let questions = [
        "空气质量怎么样",
        "how do I book a doctor appointment",
        "在哪里交罚款",
        "路灯坏了怎么上报",
        "how do I sign in",
    ];
    let now = city_platform::time::now_ms() / 1000;
    // MsgIds unique across runs sharing one store.
    let msg_base = u64::from_str_radix(&tag[..8.min(tag.len())], 16).unwrap_or(0) << 24;
    let mut pushes: Vec<Push> = Vec::with_capacity(n);
    let is_retry = |i: usize| i % 20 >= 18;
    for i in 0..n {
        let (openid, xml, want) = match i % 20 {
            0..=8 => {
                let openid = format!("o{tag}f{}", i % 2048);
                let q = questions[i % questions.len()];
                let body = format!(
                    "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{q}]]></Content><MsgId>{}</MsgId>",
                    msg_base + i as u64
                );
                let answer = faq.answer(q).expect("an FAQ answer").to_owned();
                (openid.clone(), push_xml(&openid, now, &body), Want::Text(answer))
            }
            9..=12 => {
                let openid = format!("o{tag}s{i}");
                let body = "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey>";
                (
                    openid.clone(),
                    push_xml(&openid, now, body),
                    Want::Text(city_channel::domain::replies::welcome(DEMO_MP_APPID)),
                )
            }
            13..=16 => {
                let openid = format!("o{tag}c{i}");
                let (key, words) = if i % 2 == 0 {
                    ("REPORT_INCIDENT", city_channel::domain::replies::report_incident(DEMO_MP_APPID))
                } else {
                    ("SIGN_IN", city_channel::domain::replies::invitation(DEMO_MP_APPID))
                };
                let body = format!(
                    "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
                );
                (openid.clone(), push_xml(&openid, now, &body), Want::Text(words))
            }
            17 => {
                let openid = format!("o{tag}h{i}");
                let body = format!(
                    "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[转人工，我的预约改不了]]></Content><MsgId>{}</MsgId>",
                    msg_base + i as u64
                );
                (openid.clone(), push_xml(&openid, now, &body), Want::Handover)
            }
            _ => {
                // A retry of an earlier first delivery, of any kind, sent again unchanged.
                let mut first = i.saturating_sub(41 + (i / 20) % 18);
                while is_retry(first) && first > 0 {
                    first -= 1;
                }
                if i < 60 || is_retry(first) {
                    let openid = format!("o{tag}s{i}");
                    let body = "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey>";
                    let want = Want::Text(city_channel::domain::replies::welcome(DEMO_MP_APPID));
                    (openid.clone(), push_xml(&openid, now, body), want)
                } else {
                    let p = &pushes[first];
                    let retry = Push {
                        query: p.query.clone(),
                        envelope: p.envelope.clone(),
                        openid: p.openid.clone(),
                        want: Want::Same(first),
                    };
                    pushes.push(retry);
                    continue;
                }
            }
        };
        let nonce = format!("{}", 1_000_000_000 + i);
        let sealed = crypt.encrypt_reply(&xml, now, &nonce).expect("a push encrypts");
        // WeChat signs the query too (SHA-1 over the sorted token, timestamp and nonce).
        let mut parts = [token.to_owned(), now.to_string(), nonce.clone()];
        parts.sort();
        let signature = hex::encode(sha1::Sha1::digest(parts.concat().as_bytes()));
        pushes.push(Push {
            query: format!(
                "/wechat/callback?signature={signature}&timestamp={now}&nonce={nonce}&openid={openid}&encrypt_type=aes&msg_signature={}",
                sealed.msg_signature
            ),
            envelope: format!(
                "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
                sealed.encrypt
            ),
            openid,
            want,
        });
    }
    pushes
}

fn push_xml(openid: &str, at: i64, body: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{at}</CreateTime>{body}</xml>"
    )
}

/// The text between `<tag>` and `</tag>`, CDATA unwrapped.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    let inner = &xml[start..end];
    Some(inner.strip_prefix("<![CDATA[").and_then(|s| s.strip_suffix("]]>")).unwrap_or(inner))
}

/// The words of the portal's answer (`None` for `success`), its signature checked and
/// decrypted as WeChat does, addressed to the follower as a text message.
fn open_reply(
    crypt: &city_channel::accounts::MessageCrypt,
    body: &str,
    openid: &str,
) -> Result<Option<String>, String> {
    if body == "success" {
        return Ok(None);
    }
    let field = |tag| element(body, tag).ok_or_else(|| format!("no <{tag}> in the answer {body}"));
    let plain = crypt
        .decrypt_push(field("MsgSignature")?, field("TimeStamp")?, field("Nonce")?, field("Encrypt")?)
        .map_err(|e| format!("the answer does not verify or decrypt: {e}"))?;
    let of = |tag| element(&plain, tag).unwrap_or_default();
    if of("ToUserName") != openid || of("MsgType") != "text" {
        return Err(format!("not a text to {openid}: {plain}"));
    }
    Ok(Some(of("Content").to_owned()))
}

// ---------------------------------------------------------------------------------------------
// WeChat Pay notifications.

/// An order placed by a citizen through the portal (a top-up of their prepaid account, placed
/// at the sandbox's `jsapi` prepay), with what its notification needs.
struct Order {
    id: String,
    out_trade_no: String,
    amount_fen: i64,
    payer_openid: String,
    token: String,
    ip: String,
    binding_id: String,
}

const BILLER: &str = "cd-power";
const PREPAID_ACCOUNT: &str = "3100654321";
/// Orders per citizen: few enough to stay far below the per-identity limit.
const ORDERS_EACH: usize = 20;

async fn prepare_orders(run: &Run<'_>, n: usize) -> Vec<Order> {
    let started = std::time::Instant::now();
    let tag = format!("{}-pay", run.tag);
    let n_citizens = n.div_ceil(ORDERS_EACH) as u64;
    let citizens = run.crowd.citizens(&tag, 2_000_000, n_citizens, 0).await;
    let crowd = run.crowd.clone();
    let jobs = citizens.into_iter().enumerate().flat_map(|(c, citizen)| {
        let unionid = format!("load-{tag}-{}", 2_000_000 + c as u64);
        // The payer WeChat reports: the citizen's Mini Program openid, as the sandbox derives it.
        let digest = Sha256::digest(format!("{DEMO_MP_APPID}\u{0}{unionid}").as_bytes());
        let openid = format!("o{}", &hex::encode(digest)[..27]);
        let slots = ORDERS_EACH.min(n - c * ORDERS_EACH);
        std::iter::once((citizen, openid, slots))
    });
    let orders: Vec<Vec<Order>> = stream::iter(jobs)
        .map(|(citizen, openid, slots)| {
            let crowd = crowd.clone();
            async move {
                let body = json!({"biller_id": BILLER, "account_no": PREPAID_ACCOUNT});
                let binding = crowd
                    .post_json("/v1/payments/accounts", &citizen.ip, Some(&citizen.token), &body, &[200, 201])
                    .await;
                let binding_id = binding["id"].as_str().expect("a binding id").to_owned();
                let mut mine = Vec::with_capacity(slots);
                for k in 0..slots {
                    let body = json!({"kind": "topup", "binding_id": binding_id, "topup_fen": 1000 + k as i64});
                    let order = crowd
                        .post_json("/v1/payments/orders", &citizen.ip, Some(&citizen.token), &body, &[200, 201])
                        .await;
                    assert_eq!(order["state"], "pending", "a new order: {order}");
                    assert!(order["pay_params"].is_object(), "placed at WeChat Pay: {order}");
                    mine.push(Order {
                        id: order["id"].as_str().expect("an order id").to_owned(),
                        out_trade_no: order["out_trade_no"].as_str().expect("out_trade_no").to_owned(),
                        amount_fen: order["amount_fen"].as_i64().expect("amount_fen"),
                        payer_openid: openid.clone(),
                        token: citizen.token.clone(),
                        ip: citizen.ip.clone(),
                        binding_id: binding_id.clone(),
                    });
                }
                mine
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let orders: Vec<Order> = orders.into_iter().flatten().collect();
    println!("  ({} orders placed by {n_citizens} citizens in {:.1} s)", orders.len(), started.elapsed().as_secs_f64());
    orders
}

/// A notification's headers and body.
type Sealed = (Vec<(String, String)>, Vec<u8>);

/// Each order's `TRANSACTION.SUCCESS` notification, made by the sandbox's pay simulator (in this
/// process, with the demo set's merchant, platform and APIv3 keys): the order placed there by
/// the merchant's own client, paid, and its notification captured instead of delivered.
async fn seal_notifications(demo: &DemoSecrets, orders: &[Order]) -> Vec<Sealed> {
    let started = std::time::Instant::now();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let mut s = Settings::default();
    s.payments.merchant_private_key_pem = Some(Secret::new(demo.merchant_private_key_pem.clone()));
    s.payments.sandbox_platform_private_key_pem = Some(Secret::new(demo.platform_private_key_pem.clone()));
    s.payments.platform_public_key_pem = Some(demo.platform_public_key_pem.clone());
    s.payments.api_v3_key = Secret::new(demo.api_v3_key.clone());
    s.payments.sandbox_notify_retry_secs = Vec::new();
    s.wechat.pay_api_base = Some(format!("{base}/pay"));
    let captured: Arc<Mutex<HashMap<String, Sealed>>> = Arc::default();
    let keep = captured.clone();
    let capture = poem::endpoint::make(move |req: poem::Request| {
        let keep = keep.clone();
        async move {
            let no = req.uri().path().rsplit('/').next().unwrap_or_default().to_owned();
            let headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .filter(|(name, _)| name.as_str().starts_with("wechatpay-"))
                .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned()))
                .collect();
            let body = req.into_body().into_vec().await.unwrap_or_default();
            keep.lock().expect("not poisoned").insert(no, (headers, body));
            poem::http::StatusCode::NO_CONTENT
        }
    });
    let route = poem::Route::new()
        .nest("/pay", city_wechat_sandbox::pay::routes(&s).expect("the sandbox's pay simulator"))
        .at("/capture/*no", capture);
    listener.set_nonblocking(true).expect("non-blocking");
    let acceptor = poem::listener::TcpAcceptor::from_std(listener).expect("an acceptor");
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(route));
    let (client, _) = city_payments::pay_client(&s).expect("the merchant's WeChat Pay client");
    let client = Arc::new(client);
    let http = reqwest::Client::new();
    let time_expire =
        city_platform::time::rfc3339(city_platform::time::from_ms(city_platform::time::now_ms() + 30 * 60 * 1000));
    let transactions: Vec<()> = stream::iter(orders)
        .map(|o| {
            let (client, http, base, time_expire) = (client.clone(), http.clone(), base.clone(), time_expire.clone());
            async move {
                let order = json!({
                    "appid": DEMO_MP_APPID, "mchid": DEMO_MCHID, "description": "load harness top-up",
                    "out_trade_no": o.out_trade_no, "time_expire": time_expire,
                    "notify_url": format!("{base}/capture/{}", o.out_trade_no),
                    "amount": {"total": o.amount_fen, "currency": "CNY"}, "payer": {"openid": o.payer_openid},
                });
                client
                    .jsapi_prepay(&serde_json::from_value(order).expect("a JSAPI order"))
                    .await
                    .expect("the sandbox takes the order");
                let paid = http
                    .post(format!("{base}/pay/_test/transactions/{}/pay", o.out_trade_no))
                    .send()
                    .await
                    .expect("the sandbox pays");
                assert!(paid.status().is_success(), "the sandbox pays {}", o.out_trade_no);
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    drop(transactions);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while captured.lock().expect("not poisoned").len() < orders.len() {
        assert!(std::time::Instant::now() < deadline, "the sandbox delivered every notification");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    server.abort();
    let mut captured = std::mem::take(&mut *captured.lock().expect("not poisoned"));
    println!(
        "  ({} notifications signed and sealed by the sandbox in {:.1} s)",
        orders.len(),
        started.elapsed().as_secs_f64()
    );
    orders.iter().map(|o| captured.remove(&o.out_trade_no).expect("a notification for every order")).collect()
}

/// After the run: every order whose notification was answered 204 is paid exactly once (paid,
/// not a duplicate, nothing refunded, and the account's balance grew by exactly their sum once
/// posted); every order never notified is still pending.
async fn check_paid_once(run: &Run<'_>, orders: &[Order], sent: &[AtomicU64], balance_before: i64) {
    let crowd = run.crowd.clone();
    let views: Vec<(usize, Value)> = stream::iter(orders.iter().enumerate())
        .map(|(i, o)| {
            let crowd = crowd.clone();
            async move { (i, crowd.get_json(&format!("/v1/payments/orders/{}", o.id), &o.ip, Some(&o.token)).await) }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let (mut paid, mut repeated, mut unsent, mut paid_fen) = (0, 0, 0, 0);
    for (i, view) in &views {
        let deliveries = sent[*i].load(Ordering::Relaxed);
        if deliveries == 0 {
            assert_eq!(view["state"], "pending", "an order never notified stays pending: {view}");
            unsent += 1;
            continue;
        }
        assert_eq!(view["state"], "paid", "a notified order is paid: {view}");
        assert_ne!(view["posting_state"], "duplicate", "paid once, not twice: {view}");
        assert_eq!(view["refunded_fen"], 0, "nothing refunded: {view}");
        paid += 1;
        paid_fen += orders[*i].amount_fen;
        repeated += u64::from(deliveries > 1);
    }
    // The money reached the account once per order: the biller's balance grows by exactly
    // their sum as the postings run after the answers (never past it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut balance = balance_of(&crowd, &orders[0]).await;
    while balance < balance_before + paid_fen {
        assert!(
            std::time::Instant::now() < deadline,
            "postings done: the balance is {balance} fen, {} more were paid",
            balance_before + paid_fen - balance
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        balance = balance_of(&crowd, &orders[0]).await;
    }
    println!(
        "  (notifications: {paid} orders paid once ({repeated} of them delivered again), {unsent} never notified still pending; the account's balance grew by {} fen, their sum)",
        balance - balance_before
    );
    assert_eq!(balance, balance_before + paid_fen, "each paid order posted to the account exactly once");
}

/// The prepaid account's balance as the biller reports it to the citizen of `order`.
async fn balance_of(crowd: &Crowd, order: &Order) -> i64 {
    let accounts = crowd.get_json("/v1/payments/accounts", &order.ip, Some(&order.token)).await;
    accounts
        .as_array()
        .or_else(|| accounts["items"].as_array())
        .and_then(|a| a.iter().find(|b| b["id"] == order.binding_id.as_str()))
        .and_then(|b| b["balance_fen"].as_i64())
        .unwrap_or_else(|| panic!("the account's balance in {accounts}"))
}

/// pgbench on this run's PostgreSQL, in a scratch schema: a payment's writes as the service
/// makes them there in one statement (`apply_paid_pg` in services/payments/src/store/settlement.rs):
/// the order's conditional update to paid, its two ledger legs and two outbox events, each
/// transaction a new pending order. `None` on the embedded stores.
async fn notify_floor(run: &Run<'_>) -> Option<Sample> {
    let Some((url, prefix)) = &run.backend.database else {
        println!("  (pgbench floor skipped: the embedded backend has no PostgreSQL; set LOAD_DATABASE_URL)");
        return None;
    };
    let schema = format!("{prefix}pgbench_pay");
    let n_orders = 20_000 * (run.load.duration + run.load.warmup).as_secs().max(1);
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await.expect("PostgreSQL");
    let ddl = format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE;
         CREATE SCHEMA \"{schema}\";
         SET search_path = \"{schema}\";
         CREATE TABLE orders (id TEXT PRIMARY KEY, out_trade_no TEXT NOT NULL UNIQUE, item_kind TEXT NOT NULL,
             amount_fen BIGINT NOT NULL, state TEXT NOT NULL, transaction_id TEXT, paid_at_ms BIGINT,
             posting_state TEXT NOT NULL, next_posting_at_ms BIGINT, updated_at_ms BIGINT NOT NULL);
         CREATE TABLE ledger (id TEXT PRIMARY KEY, order_id TEXT NOT NULL, entry_key TEXT NOT NULL,
             account TEXT NOT NULL, amount_fen BIGINT NOT NULL, at_ms BIGINT NOT NULL,
             UNIQUE (order_id, entry_key, account));
         CREATE TABLE platform_outbox (id TEXT PRIMARY KEY, topic TEXT NOT NULL, payload TEXT NOT NULL,
             created_at BIGINT NOT NULL);
         CREATE SEQUENCE order_seq;
         INSERT INTO orders SELECT 'o' || n, 'T' || n, 'topup', 1000, 'pending', NULL, NULL, 'none', NULL, 0
             FROM generate_series(1, {n_orders}) AS n;
         ANALYZE;"
    );
    sqlx::raw_sql(&ddl).execute(&pool).await.expect("the pgbench schema");
    pool.close().await;
    // The next order is drawn once (in the WHERE clause, nextval would run for every row
    // scanned); one moment for every row as a literal, since pgbench sends variables as text.
    let script = "WITH next AS (
    SELECT 'T' || nextval('order_seq') AS no
), paid AS (
    UPDATE orders SET state = 'paid', transaction_id = 'tx' || :client_id, paid_at_ms = 1764700000000,
        posting_state = 'pending', next_posting_at_ms = 1764700000000, updated_at_ms = 1764700000000
    WHERE out_trade_no = (SELECT no FROM next) AND state IN ('pending', 'closed') AND amount_fen = 1000
    RETURNING id, amount_fen
), legs AS (
    INSERT INTO ledger (id, order_id, entry_key, account, amount_fen, at_ms)
    SELECT 'lc' || id, id, 'payment', 'wechat_clearing', amount_fen, 1764700000000 FROM paid
    UNION ALL SELECT 'lb' || id, id, 'payment', 'payable_cd_power', -amount_fen, 1764700000000 FROM paid
    ON CONFLICT (order_id, entry_key, account) DO NOTHING
    RETURNING id
), events AS (
    INSERT INTO platform_outbox (id, topic, payload, created_at)
    SELECT 'ep' || id, 'payments.paid', CAST(json_build_object('order_id', id) AS TEXT), 1764700000000 FROM paid
    UNION ALL SELECT 'en' || id, 'notify.payment', CAST(json_build_object('order_id', id) AS TEXT), 1764700000000 FROM paid
    RETURNING id
)
SELECT id FROM paid;
";
    let (url, clients, secs) = (url.clone(), run.load.concurrency, run.load.duration.as_secs().max(1));
    let sample = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("a directory for pgbench");
        let file = dir.path().join("paid.sql");
        std::fs::write(&file, script).expect("the pgbench script");
        crate::pgbench::run_script(&url, &schema, &file, clients, std::time::Duration::from_secs(secs), &[])
    })
    .await
    .expect("pgbench");
    Some(sample)
}
