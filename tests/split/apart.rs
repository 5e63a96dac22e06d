//! The whole portal as separate `city` processes, as an operator runs it apart: the WeChat
//! sandbox, two replicas each of identity, booking, payments, channel and air, incidents, and the
//! gateway, on PostgreSQL + Redis (one process's memory is no use to another, so the embedded
//! stores cannot run apart: without `CITY_TEST_DATABASE_URL` and `CITY_TEST_REDIS_URL` this
//! suite says so and passes nothing off as tested). Everything a citizen, a clerk or WeChat does
//! goes through the gateway; what must reach a given replica (each channel replica's answer,
//! air ingested on one and read on another) goes to that replica's port.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use city_platform::coords::LatLon;
use city_platform::time::{city_date, from_ms, now_ms};
use city_platform::Settings;
use serde_json::{json, Value};

use crate::harness::{city_command, test_settings};

/// One `city serve` process.
struct Proc {
    name: String,
    base: String,
    child: Child,
    started: Instant,
    ready_ms: Option<u128>,
}

/// The sandbox, the services and the gateway, each its own process; killed when dropped.
struct Cluster {
    settings: Settings,
    gateway: String,
    procs: Vec<Proc>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The services with two replicas; the rest run once.
const TWICE: &[&str] = &["identity", "booking", "payments", "channel", "air"];
const ONCE: &[&str] = &["sandbox", "incidents"];

impl Cluster {
    async fn start() -> Self {
        Self::start_with(TWICE, ONCE, |_| {}).await
    }

    /// The services `twice` in two replicas and `once` in one (others not at all), after `tweak`
    /// has adjusted the settings every process gets.
    async fn start_with(twice: &[&'static str], once: &[&'static str], tweak: impl FnOnce(&mut Settings)) -> Self {
        let (mut settings, dir) = test_settings();
        tweak(&mut settings);
        let gateway_port = free_port();
        settings.listen = format!("127.0.0.1:{gateway_port}").parse().unwrap();
        let mut ports: Vec<(&str, Vec<u16>)> = Vec::new();
        for name in twice {
            ports.push((name, vec![free_port(), free_port()]));
        }
        for name in once {
            ports.push((name, vec![free_port()]));
        }
        let env: Vec<(String, String)> = ports
            .iter()
            .map(|(name, ps)| {
                // Trailing slashes, as operators write them, are fine.
                let urls: Vec<String> = ps.iter().map(|p| format!("http://127.0.0.1:{p}/")).collect();
                (format!("CITY_SERVICES__{}", name.to_ascii_uppercase()), urls.join(","))
            })
            .chain([
                ("CITY_PAYMENTS__JOB_INTERVAL_SECS".to_owned(), "1".to_owned()),
                ("CITY_LOG".to_owned(), std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into())),
                // The suite's load comes from one address; limits are the gateway's and tested elsewhere.
                ("CITY_RATE_LIMIT__ENABLED".to_owned(), "false".to_owned()),
            ])
            .collect();
        // One demo set for every process, written before any of them starts.
        let out = city_command(&settings, &["demo-secrets", "init"]).output().expect("the city binary runs");
        assert!(out.status.success(), "demo-secrets init: {}", String::from_utf8_lossy(&out.stderr));
        let settings = city_platform::profile::prepare(settings).expect("the demo set loads").settings;
        let mut cluster = Self {
            settings,
            gateway: format!("http://127.0.0.1:{gateway_port}"),
            procs: Vec::new(),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            _dir: dir,
        };
        // First replicas (they migrate and seed), then the second ones, then the gateway.
        for round in 0..2 {
            for (name, ps) in &ports {
                if let Some(port) = ps.get(round) {
                    let args = ["serve", "--only", name, "--listen", &format!("127.0.0.1:{port}")];
                    let mut env = env.clone();
                    // A service believes the gateway about the client's address, as deployed.
                    env.push(("CITY_TRUSTED_PROXIES".into(), "[127.0.0.1]".into()));
                    cluster.spawn(name, &args, &env);
                }
            }
            cluster.wait_ready().await;
        }
        cluster.spawn("gateway", &["serve", "--gateway"], &env);
        cluster.wait_ready().await;
        cluster
    }

    fn spawn(&mut self, name: &str, args: &[&str], env: &[(String, String)]) {
        let mut cmd = city_command(&self.settings, args);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdout(Stdio::null());
        let base = match args.iter().position(|a| *a == "--listen") {
            Some(i) => format!("http://{}", args[i + 1]),
            None => self.gateway.clone(),
        };
        let child = cmd.spawn().expect("the city binary starts");
        let replica = self.procs.iter().filter(|p| p.name.starts_with(name)).count() + 1;
        self.procs.push(Proc {
            name: format!("{name}#{replica}"),
            base,
            child,
            started: Instant::now(),
            ready_ms: None,
        });
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        for p in self.procs.iter_mut().filter(|p| p.ready_ms.is_none()) {
            loop {
                if let Some(status) = p.child.try_wait().unwrap() {
                    panic!("{} exited while starting: {status}", p.name);
                }
                let ok = self.http.get(format!("{}/readyz", p.base)).send().await.is_ok_and(|r| r.status() == 200);
                if ok {
                    p.ready_ms = Some(p.started.elapsed().as_millis());
                    break;
                }
                assert!(Instant::now() < deadline, "{} did not become ready", p.name);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// The base URL of replica `n` (1-based) of `service`.
    fn replica(&self, service: &str, n: usize) -> String {
        let name = format!("{service}#{n}");
        self.procs.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no {name}")).base.clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    /// Each process's start-to-ready time and resident memory, for the record.
    fn report(&self) {
        for p in &self.procs {
            let rss = std::fs::read_to_string(format!("/proc/{}/status", p.child.id()))
                .ok()
                .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l[6..].trim().to_owned()))
                .unwrap_or_default();
            eprintln!("split: {:<12} ready in {:>5} ms, RSS {rss}", p.name, p.ready_ms.unwrap_or(0));
        }
    }

    fn city(&self, args: &[&str]) -> String {
        let out = city_command(&self.settings, args).output().expect("the city binary runs");
        assert!(out.status.success(), "city {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    async fn send(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header("Idempotency-Key", format!("split-{}", uuid::Uuid::new_v4())).json(&body);
        }
        let resp = req.send().await.expect("the gateway answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send("GET", path, "", None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn stop(mut self) {
        self.kill_all();
        if let Some(url) = &self.settings.database_url {
            for service in
                ["gateway", "sandbox", "air", "identity", "booking", "payments", "incidents", "notify", "wechat"]
            {
                let schema = format!("{}{}", self.settings.schema_prefix, service);
                let _ = city_platform::db::drop_schema(url.expose(), &schema).await;
            }
        }
    }

    fn kill_all(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// A GB 11643 number with its check character.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

fn day(n: i64) -> String {
    city_date(from_ms(now_ms() + n * 86_400_000)).to_string()
}

/// The first free slot from `first` to `last` days ahead among `doctors` (a list query).
async fn free_slot(c: &Cluster, doctors: &str, first: i64, last: i64) -> (Value, Value) {
    let doctors = c.get(doctors).await;
    let (first, last) = (day(first), day(last));
    for doctor in doctors.as_array().unwrap() {
        let id = doctor["id"].as_str().unwrap();
        for s in c.get(&format!("/v1/booking/doctors/{id}/sessions")).await.as_array().unwrap() {
            let d = s["date"].as_str().unwrap();
            if d >= first.as_str() && d <= last.as_str() && s["n_free"].as_i64().unwrap() > 0 {
                let slots = c.get(&format!("/v1/booking/doctors/{id}/slots?date={d}")).await;
                if let Some(slot) = slots["slots"].as_array().unwrap().iter().find(|s| s["free"] == true) {
                    return (doctor.clone(), slot.clone());
                }
            }
        }
    }
    panic!("no free slot in {doctors}");
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Mini Program sign-in through the gateway, the login code from the sandbox behind it.
async fn mp_sign_in(c: &Cluster, unionid: &str) -> String {
    let (status, code) = c.send("POST", "/sandbox/wechat/_test/mp/codes", "", Some(json!({"unionid": unionid}))).await;
    assert_eq!(status, 200, "{code}");
    let (status, session) = c.send("POST", "/v1/auth/miniprogram/login", "", Some(json!({"code": code["code"]}))).await;
    assert_eq!(status, 200, "{session}");
    session["token"].as_str().unwrap().to_owned()
}

/// Service Account sign-in through the gateway, as a browser does it: the consent redirect comes
/// back to the client (with the state cookie), naming the gateway, never identity's own port.
async fn oa_sign_in(c: &Cluster, openid: &str) -> String {
    let resp = c.http.get(c.url("/v1/auth/oa/authorize?redirect=/h5/me")).send().await.unwrap();
    assert_eq!(resp.status(), 302, "the redirect is the browser's to follow");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/sandbox/wechat/", c.gateway)), "{location}");
    let redirect_uri = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    assert_eq!(redirect_uri, Some(format!("{}/v1/auth/oa/callback", c.gateway)), "{location}");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let state = location.split("state=").nth(1).unwrap().split(['&', '#']).next().unwrap().to_owned();
    let body = json!({"openid": openid, "unionid": format!("split-{openid}")});
    let (_, code) = c.send("POST", "/sandbox/wechat/_test/oa/oauth-codes", "", Some(body)).await;
    let code = code["code"].as_str().unwrap();
    let resp = c
        .http
        .get(c.url(&format!("/v1/auth/oa/callback?code={code}&state={state}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    // The callback sends the browser on with the session in a cookie (issue #23).
    assert_eq!(resp.status(), 302);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().strip_prefix("city_session=").expect("a citizen session cookie").to_owned()
}

const GH: &str = "gh_0123456789ab";

fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).unwrap();
    let inner = &xml[start..end];
    inner.strip_prefix("<![CDATA[").and_then(|s| s.strip_suffix("]]>")).unwrap_or(inner)
}

fn push_xml(openid: &str, body: &str) -> String {
    // A distinct CreateTime per push: WeChat's retries share it, new taps do not.
    static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let now = now_ms() / 1000;
    let create_time = LAST.fetch_max(now, std::sync::atomic::Ordering::SeqCst).max(now - 1) + 1;
    LAST.fetch_max(create_time, std::sync::atomic::Ordering::SeqCst);
    format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>{body}</xml>"
    )
}

/// A safe-mode push to the channel at `base` (one replica); the decrypted text reply.
async fn push(c: &Cluster, base: &str, xml: &str) -> Option<String> {
    let crypt = city_channel::message_crypt(&c.settings).expect("the account's crypto");
    let (ts, nonce) = (now_ms() / 1000, "1714036504");
    let sealed = crypt.encrypt_reply(xml, ts, nonce).unwrap();
    let envelope = format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        sealed.encrypt
    );
    let resp = c
        .http
        .post(format!("{base}/wechat/callback"))
        .query(&[
            ("timestamp", ts.to_string().as_str()),
            ("nonce", nonce),
            ("openid", element(xml, "FromUserName")),
            ("encrypt_type", "aes"),
            ("msg_signature", sealed.msg_signature.as_str()),
        ])
        .header("content-type", "text/xml")
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    if body == "success" {
        return None;
    }
    let plain = crypt
        .decrypt_push(
            element(&body, "MsgSignature"),
            element(&body, "TimeStamp"),
            element(&body, "Nonce"),
            element(&body, "Encrypt"),
        )
        .unwrap();
    Some(element(&plain, "Content").to_owned())
}

fn click(openid: &str, key: &str) -> String {
    push_xml(openid, &format!("<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[{key}]]></EventKey>"))
}

#[tokio::test]
async fn the_portal_apart_serves_every_cross_service_flow_through_the_gateway_and_survives_a_killed_replica() {
    let (Ok(_), Ok(_)) = (std::env::var("CITY_TEST_DATABASE_URL"), std::env::var("CITY_TEST_REDIS_URL")) else {
        eprintln!(
            "split: the services apart need PostgreSQL and Redis (CITY_TEST_DATABASE_URL, CITY_TEST_REDIS_URL); not run"
        );
        return;
    };
    let started = Instant::now();
    let c = Cluster::start().await;
    eprintln!("split: {} processes ready in {} ms", c.procs.len(), started.elapsed().as_millis());
    c.report();

    // Mini Program sign-in, a family member, and a booking whose fee is paid in the sandbox
    // (booking asks identity for the person: a real person, not `unknown-person`).
    let alice = mp_sign_in(&c, "split-alice").await;
    let person = json!({"name": "李小梅", "id_number": id_number("51010719900315004"), "relation": "self"});
    let (status, person) = c.send("POST", "/v1/me/people", &alice, Some(person)).await;
    assert_eq!(status, 201, "{person}");
    let (_, slot) = free_slot(&c, "/v1/booking/doctors?hospital_id=h-cd2&limit=50", 2, 6).await;
    let body = json!({"slot_id": slot["id"], "person_id": person["id"]});
    let (status, appt) = c.send("POST", "/v1/booking/appointments", &alice, Some(body)).await;
    assert_eq!(status, 201, "{appt}");
    let appt_id = appt["id"].as_str().unwrap().to_owned();
    let fee = appt["fee_fen"].as_i64().unwrap();
    let order = eventually("the fee becoming payable", async || {
        let body = json!({"kind": "booking", "booking_id": appt_id});
        let (status, order) = c.send("POST", "/v1/payments/orders", &alice, Some(body)).await;
        (status == 200).then_some(order)
    })
    .await;
    assert_eq!(order["amount_fen"], fee);
    let pay = format!("/sandbox/wechat/pay/_test/transactions/{}/pay", order["out_trade_no"].as_str().unwrap());
    let (status, _) = c.send("POST", &pay, "", Some(json!({"notify": true}))).await;
    assert_eq!(status, 200);
    let appointment = format!("/v1/booking/appointments/{appt_id}");
    eventually("the paid appointment being booked", async || {
        let (_, a) = c.send("GET", &appointment, &alice, None).await;
        (a["status"] == "booked").then_some(a)
    })
    .await;
    let (status, cancelled) = c.send("POST", &format!("{appointment}/cancel"), &alice, Some(json!({}))).await;
    assert_eq!(status, 200, "{cancelled}");
    eventually("the fee being refunded", async || {
        let (_, a) = c.send("GET", &appointment, &alice, None).await;
        (a["refund_state"] == "refunded").then_some(a)
    })
    .await;

    // Signed out through the gateway: every replica of every service refuses the token at once.
    let mine = [("booking", "/v1/booking/appointments"), ("payments", "/v1/payments/accounts")];
    let status_on = async |service: &str, n: usize, path: &str| {
        let url = format!("{}{path}", c.replica(service, n));
        c.http.get(url).bearer_auth(&alice).send().await.unwrap().status().as_u16()
    };
    for (service, path) in mine {
        for n in [1, 2] {
            // Each replica has seen (and may have remembered) the token.
            assert_eq!(status_on(service, n, path).await, 200, "{service}#{n}");
        }
    }
    let (status, body) = c.send("DELETE", "/v1/auth/session", &alice, None).await;
    assert!(status < 300, "{status} {body}");
    for (service, path) in mine {
        for n in [1, 2] {
            assert_eq!(status_on(service, n, path).await, 401, "{service}#{n} still takes a signed-out token");
        }
    }

    // Service Account sign-in, an appointment and a bill; both channel replicas answer the menu.
    let follower = "oSplitFollower00000000000001";
    let bob = oa_sign_in(&c, follower).await;
    let person = json!({"name": "王小明", "id_number": id_number("51010419800101001"), "relation": "parent"});
    let (status, person) = c.send("POST", "/v1/me/people", &bob, Some(person)).await;
    assert_eq!(status, 201, "{person}");
    let (doctor, slot) = free_slot(&c, "/v1/booking/doctors?lat=30.6530&lon=104.0836&coord=gcj02&limit=5", 1, 6).await;
    let body = json!({"slot_id": slot["id"], "person_id": person["id"]});
    let (status, appt) = c.send("POST", "/v1/booking/appointments", &bob, Some(body)).await;
    assert_eq!(status, 201, "{appt}");
    let body = json!({"biller_id": "cd-power", "account_no": "3100123456", "label": "home"});
    let (status, account) = c.send("POST", "/v1/payments/accounts", &bob, Some(body)).await;
    assert_eq!(status, 200, "{account}");
    for replica in [c.replica("channel", 1), c.replica("channel", 2)] {
        let next = push(&c, &replica, &click(follower, "MY_NEXT_APPOINTMENT")).await.unwrap();
        assert!(next.contains(doctor["name"].as_str().unwrap()), "{replica}: {next}");
        let unpaid = push(&c, &replica, &click(follower, "MY_UNPAID")).await.unwrap();
        assert!(unpaid.contains('¥'), "{replica}: {unpaid}");
    }

    // Air readings ingested through one air replica, read through the other and the channel.
    let key = c.city(&["apikey", "create", "--name", "split feed", "--scope", "air-ingest:CNEMC"]);
    let at = city_platform::time::rfc3339(from_ms(now_ms() / 3_600_000 * 3_600_000));
    let rows: Vec<Value> = [("pm25", 80.0, "ug/m3"), ("pm10", 40.0, "ug/m3"), ("so2", 5.0, "ug/m3")]
        .into_iter()
        .chain([("no2", 20.0, "ug/m3"), ("co", 0.6, "mg/m3"), ("o3", 60.0, "ug/m3")])
        .map(|(p, v, u)| json!({"station_code": "1437A", "observed_at": at, "pollutant": p, "value": v, "unit": u}))
        .collect();
    let resp = c
        .http
        .post(format!("{}/v1/air/readings", c.replica("air", 1)))
        .header("X-API-Key", &key)
        .json(&json!({"readings": rows}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(status, 200, "{}", resp.text().await.unwrap());
    let other = c.replica("air", 2);
    eventually("the other air replica serving the reading", async || {
        let url = format!("{other}/v1/air/nearest?lat=30.6581&lon=104.0591&coord=gcj02");
        let body: Value = c.http.get(url).send().await.ok()?.json().await.ok()?;
        (body["aqi"] == 119).then_some(body)
    })
    .await;
    let pin = LatLon::new(30.6581, 104.0591).unwrap().to_gcj02();
    let here = format!(
        "<Event><![CDATA[LOCATION]]></Event><Latitude>{}</Latitude><Longitude>{}</Longitude><Precision>30.0</Precision>",
        pin.lat(),
        pin.lon()
    );
    let channel = c.replica("channel", 2);
    assert_eq!(push(&c, &channel, &push_xml(follower, &here)).await, None);
    let air = eventually("the channel's air answer", async || {
        let answer = push(&c, &channel, &click(follower, "AIR_NEAR_ME")).await?;
        answer.contains("AQI").then_some(Value::String(answer))
    })
    .await;
    assert!(air.as_str().unwrap().contains("AQI 119"), "{air}");

    // An incident filed through Open311; the district clerk sees it and confirms it.
    let key = c.city(&["apikey", "create", "--name", "split open311", "--scope", "open311"]);
    let resp = c
        .http
        .post(c.url(&format!("/open311/v2/requests.json?api_key={key}")))
        .form(&[
            ("service_code", "dumping"),
            ("lat", "30.6552"),
            ("long", "104.0811"),
            ("description", "Sofa left on the pavement"),
            ("attribute[waste_type]", "bulky"),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let created: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{created}");
    let ticket = created[0]["service_request_id"].as_str().unwrap().to_owned();
    let password = "correct horse battery";
    c.city(&[
        "staff",
        "create",
        "--username",
        "split.clerk",
        "--password",
        password,
        "--role",
        "clerk",
        "--district",
        "510104",
    ]);
    let body = json!({"username": "split.clerk", "password": password});
    let (status, session) = c.send("POST", "/v1/staff/sessions", "", Some(body)).await;
    assert_eq!(status, 200, "{session}");
    let clerk = session["token"].as_str().unwrap().to_owned();
    let (status, queue) = c.send("GET", "/v1/incidents/queue", &clerk, None).await;
    assert_eq!(status, 200, "{queue}");
    assert!(queue.to_string().contains(&ticket), "{queue}");
    let resp = c
        .http
        .post(c.url(&format!("/v1/incidents/queue/{ticket}/state")))
        .bearer_auth(&clerk)
        .header("If-Match", "\"v1\"")
        .json(&json!({"state": "confirmed", "public_update": "Confirmed by an inspector."}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(status, 200, "{}", resp.text().await.unwrap());

    // A booking replica killed under load: only requests in flight on it fail, each a 502 or
    // 504 problem; the rest, and everything after, go to the replica left.
    let mut c = c;
    let load = {
        let (http, url) = (c.http.clone(), c.url("/v1/booking/hospitals"));
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..40 {
                let batch = (0..8).map(|_| {
                    let (http, url) = (http.clone(), url.clone());
                    async move {
                        let resp = http.get(url).send().await.expect("the gateway answers");
                        let status = resp.status().as_u16();
                        let kind = resp.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned());
                        (status, kind)
                    }
                });
                outcomes.extend(futures::future::join_all(batch).await);
            }
            outcomes
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let victim = c.procs.iter_mut().find(|p| p.name == "booking#1").unwrap();
    victim.child.kill().unwrap();
    let _ = victim.child.wait();
    let outcomes = load.await.unwrap();
    let failed: Vec<_> = outcomes.iter().filter(|(s, _)| *s != 200).collect();
    assert!(failed.len() <= 8, "more failures than requests in flight: {failed:?}");
    for (status, kind) in &failed {
        assert!([502, 504].contains(status), "{status}");
        assert!(kind.as_deref().is_some_and(|k| k.starts_with("application/problem+json")), "{kind:?}");
    }
    for _ in 0..10 {
        let (status, _) = c.send("GET", "/v1/booking/hospitals", "", None).await;
        assert_eq!(status, 200, "the replica left serves everything after");
    }
    eprintln!("split: killed booking#1 under load: {} of {} requests failed", failed.len(), outcomes.len());

    // A clean stop (SIGTERM) of an air replica takes its own consumer group with it; the other
    // replica's stays.
    let groups = || {
        let stream = format!("{}events:air.stations_changed", c.settings.redis_prefix);
        let url = c.settings.redis_url.as_ref().unwrap().expose().to_owned();
        let out = std::process::Command::new("redis-cli").args(["-u", &url, "XINFO", "GROUPS", &stream]).output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        text.lines().filter(|l| l.starts_with("air-index-")).map(str::to_owned).collect::<Vec<_>>()
    };
    let first_port = c.replica("air", 1).rsplit(':').next().unwrap().to_owned();
    let before = groups();
    if !before.is_empty() {
        assert_eq!(before.len(), 2, "one group per air replica: {before:?}");
        let stopping = c.procs.iter_mut().find(|p| p.name == "air#2").unwrap();
        std::process::Command::new("kill").args(["-TERM", &stopping.child.id().to_string()]).status().unwrap();
        let status = stopping.child.wait().unwrap();
        assert!(status.success(), "air#2 stopped cleanly: {status}");
        let after = groups();
        assert_eq!(after.len(), 1, "{after:?}");
        assert!(after[0].ends_with(&format!("-{first_port}")), "air#1's group stays: {after:?}");
    } else {
        eprintln!("split: no redis-cli to list consumer groups; the clean stop is not checked");
    }
    eprintln!("split: whole run {} ms", started.elapsed().as_millis());
    c.stop().await;
}

/// A Redis of this test's own (append-only, so a restart keeps sessions and streams), which the
/// test stops and starts again.
struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnRedis {
    async fn start() -> Self {
        let mut redis = Self { port: free_port(), dir: tempfile::tempdir().unwrap(), child: None };
        redis.restart().await;
        redis
    }

    async fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--dir", self.dir.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, as a restart by an operator: it writes what it has and exits.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A PostgreSQL of this test's own (the shared one serves every other suite), run as the
/// `postgres` user, which the test restarts.
struct OwnPostgres {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    /// `None` where no PostgreSQL server binaries or no `postgres` user are at hand.
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|d| d.path().join("bin")).next()?;
        let dir = tempfile::tempdir().ok()?;
        std::process::Command::new("chown").arg("postgres").arg(dir.path()).status().ok()?.success().then_some(())?;
        let data = dir.path().join("data");
        let ok = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        let pg = Self { bin, dir, port: free_port() };
        (ok && pg.ctl(&["start"])).then_some(pg)
    }

    fn ctl(&self, action: &[&str]) -> bool {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-w", "-m", "fast", "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-o", &options])
            .args(action)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.ctl(&["stop"]);
    }
}

#[tokio::test]
async fn redis_and_postgres_restarted_during_a_booking_run_lose_and_double_nothing_and_the_portal_recovers_by_itself() {
    let Ok(_) = std::env::var("CITY_TEST_DATABASE_URL") else {
        eprintln!("split: the services apart need PostgreSQL (CITY_TEST_DATABASE_URL); not run");
        return;
    };
    if std::process::Command::new("redis-server").arg("--version").output().is_err() {
        eprintln!("split: no redis-server to restart; not run");
        return;
    }
    let Some(postgres) = OwnPostgres::start() else {
        eprintln!("split: no PostgreSQL server binaries or postgres user to run one of our own; not run");
        return;
    };
    let mut redis = OwnRedis::start().await;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    // What a booking with a fee needs: identity (people, payers), booking, payments, the sandbox.
    let c = Cluster::start_with(&["booking"], &["identity", "payments", "sandbox"], |s| {
        s.redis_url = Some(city_platform::config::Secret::new(url.clone()));
        s.database_url = Some(city_platform::config::Secret::new(postgres.url()));
        s.redis_prefix = "split:".into();
    })
    .await;
    let citizen = mp_sign_in(&c, "split-restart").await;
    let mut people = Vec::new();
    for (name, first17) in [("张一", "51010719900315012"), ("张二", "51010719900315020"), ("张三", "51010719900315039")]
    {
        let body = json!({"name": name, "id_number": id_number(first17), "relation": "child"});
        let (status, person) = c.send("POST", "/v1/me/people", &citizen, Some(body)).await;
        assert_eq!(status, 201, "{person}");
        people.push(person["id"].as_str().unwrap().to_owned());
    }
    // Three bookings, each with its own Idempotency-Key; Redis restarts after the first,
    // PostgreSQL after the second.
    let mut booked = Vec::new();
    let refused = std::cell::Cell::new(0);
    for (i, person) in people.iter().enumerate() {
        if i == 1 {
            redis.stop();
            tokio::time::sleep(Duration::from_millis(500)).await;
            redis.restart().await;
        }
        if i == 2 {
            assert!(postgres.ctl(&["restart"]), "PostgreSQL restarts");
        }
        let (_, slot) = free_slot(&c, "/v1/booking/doctors?hospital_id=h-cd2&limit=50", 2, 6).await;
        let key = format!("split-restart-{i}");
        let appt = eventually("a booking after the restart", async || {
            let resp = c
                .http
                .post(c.url("/v1/booking/appointments"))
                .bearer_auth(&citizen)
                .header("Idempotency-Key", &key)
                .json(&json!({"slot_id": slot["id"], "person_id": person}))
                .send()
                .await
                .ok()?;
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.ok()?;
            assert!(status == 201 || status >= 500, "only the outage may refuse: {status} {body}");
            refused.set(refused.get() + usize::from(status != 201));
            (status == 201).then_some(body)
        })
        .await;
        booked.push(appt["id"].as_str().unwrap().to_owned());
    }
    eprintln!(
        "split: Redis and PostgreSQL restarted mid-run; {} booking attempts refused meanwhile, all three booked",
        refused.get()
    );
    // Each booked once, and each fee reached payments (its event was delivered).
    let (_, mine) = c.send("GET", "/v1/booking/appointments", &citizen, None).await;
    for id in &booked {
        let n = mine.to_string().matches(id.as_str()).count();
        assert_eq!(n, 1, "appointment {id} listed {n} times: {mine}");
        eventually("the fee becoming payable after the restart", async || {
            let body = json!({"kind": "booking", "booking_id": id});
            let (status, order) = c.send("POST", "/v1/payments/orders", &citizen, Some(body)).await;
            (status == 200).then_some(order)
        })
        .await;
    }
    c.stop().await;
}
