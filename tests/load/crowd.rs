//! The simulated citizens and the scheduler who prepares their slots. Every request carries
//! its sender's own `X-Forwarded-For` address (the portal trusts loopback as its proxy), so the
//! per-IP and per-identity limits apply as in production and, spread over many senders, are not
//! reached by design. Citizens sign in as the Mini Program does, through the WeChat sandbox.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::{stream, StreamExt};
use serde_json::{json, Value};

/// Anonymous senders: few enough to keep the limiter's table small, many enough that each
/// stays far below production's 1,200 requests a minute per address up to ~100k req/s.
const ANONYMOUS_SENDERS: u64 = 8192;

/// A client for one portal, with the addresses of the crowd behind it.
#[derive(Clone)]
pub struct Crowd {
    pub http: reqwest::Client,
    pub base: String,
    /// The WeChat sandbox, where the Mini Program gets its login codes.
    pub wechat: String,
    next_anonymous: Arc<AtomicU64>,
}

/// A signed-in citizen with their patients (family members, each with their own ID number).
#[derive(Debug, Clone)]
pub struct Citizen {
    pub token: String,
    pub ip: String,
    pub people: Vec<String>,
}

/// The address of sender `n`: in 10.0.0.0/8, never a trusted proxy.
pub fn address(n: u64) -> String {
    let n = n % (1 << 24);
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

impl Crowd {
    pub fn new(base: &str, wechat: &str, concurrency: usize) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency.max(1) * 2)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        Crowd { http, base: base.to_owned(), wechat: wechat.to_owned(), next_anonymous: Arc::new(AtomicU64::new(0)) }
    }

    /// The next anonymous sender's address.
    pub fn anonymous(&self) -> String {
        address(self.next_anonymous.fetch_add(1, Ordering::Relaxed) % ANONYMOUS_SENDERS)
    }

    /// GET `path` as an anonymous citizen; the status (0 when there was no answer).
    pub async fn get(&self, path: &str) -> u16 {
        let req = self.http.get(format!("{}{path}", self.base)).header("x-forwarded-for", self.anonymous());
        status_of(req).await
    }

    /// POST JSON with a fresh `Idempotency-Key`, as `ip` and optionally with a bearer token.
    pub fn post(&self, path: &str, ip: &str, token: Option<&str>, body: &Value) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-forwarded-for", ip)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req
    }

    /// POST and read a JSON answer; panics on an unexpected status, naming it.
    pub async fn post_json(&self, path: &str, ip: &str, token: Option<&str>, body: &Value, want: &[u16]) -> Value {
        let resp = self.post(path, ip, token, body).send().await.unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(want.contains(&status), "POST {path}: {status} {answer}");
        answer
    }

    /// GET JSON as `ip` (with `token` when given).
    pub async fn get_json(&self, path: &str, ip: &str, token: Option<&str>) -> Value {
        let mut req = self.http.get(format!("{}{path}", self.base)).header("x-forwarded-for", ip);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.expect("a JSON answer")
    }

    /// Signs `n` citizens in (`tag` keeps runs apart) and gives each `people` patients.
    pub async fn citizens(&self, tag: &str, first: u64, n: u64, people: u64) -> Vec<Citizen> {
        let crowd = self.clone();
        let tag = tag.to_owned();
        let mut all: Vec<(u64, Citizen)> = stream::iter(first..first + n)
            .map(|i| {
                let (crowd, tag) = (crowd.clone(), tag.clone());
                async move { (i, crowd.citizen(&tag, i, people).await) }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, c)| c).collect()
    }

    async fn citizen(&self, tag: &str, i: u64, people: u64) -> Citizen {
        // Citizens' addresses lie above the anonymous ones.
        let ip = address(ANONYMOUS_SENDERS + i);
        let session = self.sign_in(&format!("load-{tag}-{i}"), &ip).await;
        let token = session["token"].as_str().expect("a citizen token").to_owned();
        let mut ids = Vec::new();
        for k in 0..people {
            let body = json!({"name": "陈小红", "id_number": id_number(i * 5 + k), "relation": "other"});
            let person = self.post_json("/v1/me/people", &ip, Some(&token), &body, &[201]).await;
            ids.push(person["id"].as_str().expect("a person id").to_owned());
        }
        Citizen { token, ip, people: ids }
    }
}

impl Crowd {
    /// A sandbox login code exchanged for a session. Sign-in is preparation, not measured: a 503
    /// (the portal's WeChat client giving up on the sandbox while hundreds sign in at once) is
    /// tried again after a pause.
    async fn sign_in(&self, unionid: &str, ip: &str) -> Value {
        let wechat = Crowd { base: self.wechat.clone(), ..self.clone() };
        for attempt in 1..=10u64 {
            let code = wechat
                .post_json("/sandbox/wechat/_test/mp/codes", ip, None, &json!({"unionid": unionid}), &[200, 201])
                .await;
            let resp = self.post("/v1/auth/miniprogram/login", ip, None, &json!({"code": code["code"]})).send().await;
            let resp = resp.unwrap_or_else(|e| panic!("POST /v1/auth/miniprogram/login: {e}"));
            let status = resp.status().as_u16();
            let answer: Value = resp.json().await.unwrap_or(Value::Null);
            match status {
                200 | 201 => return answer,
                503 => tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await,
                _ => panic!("POST /v1/auth/miniprogram/login: {status} {answer}"),
            }
        }
        panic!("sign-in of {unionid} answered 503 ten times");
    }
}

/// The status of a sent request, its body read to the end; 0 when there was no answer.
pub async fn status_of(req: reqwest::RequestBuilder) -> u16 {
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.bytes().await {
                Ok(b) => {
                    if status >= 500 && std::env::var("LOAD_SHOW_5XX").is_ok() {
                        eprintln!("{status}: {}", String::from_utf8_lossy(&b));
                    }
                    status
                }
                Err(_) => 0,
            }
        }
        Err(_) => 0,
    }
}

/// The `n`th of many distinct valid GB 11643 numbers: a Chengdu district, a birth day from
/// 1950 on, a sequence number, and the check digit.
pub fn id_number(n: u64) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let day =
        city_platform::time::city_date(city_platform::time::from_ms(-631_152_000_000 + (n / 1000) as i64 * 86_400_000));
    let first17 = format!("510104{}{:03}", day.format("%Y%m%d"), n % 1000);
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}
