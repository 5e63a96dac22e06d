//! The gateway in front of stand-in replicas (small poem servers in this process), so each edge
//! behaviour is seen exactly: who got the request, with which headers, and what came back.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use city::Mode;
use city_platform::peers;
use poem::web::{Json, Path};
use poem::{handler, EndpointExt, Request, Response, Route};
use serde_json::{json, Value};

use crate::harness::{city_command, expect_problem, spawn_mode, test_settings};

/// What a stand-in replica saw of a request, and who it is.
#[handler]
fn who(req: &Request, name: poem::web::Data<&&'static str>) -> Json<Value> {
    let header = |n: &str| req.header(n).map(str::to_owned);
    Json(json!({"replica": *name.0, "request_id": header("x-request-id"), "traceparent": header("traceparent")}))
}

/// A consent hop as identity answers it: a redirect with the browser's state cookie.
#[handler]
fn authorize() -> Response {
    Response::builder()
        .status(poem::http::StatusCode::FOUND)
        .header("location", "http://consent.example/authorize?state=s1")
        .header("set-cookie", "oa_state=s1; HttpOnly")
        .finish()
}

/// A frozen replica: answers after `secs` seconds.
#[handler]
async fn slow(Path(secs): Path<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_secs(secs)).await;
    "done"
}

/// Starts a stand-in replica named `name`; its base URL.
async fn replica(name: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app = Route::new()
        .at("/healthz", poem::endpoint::make_sync(|_| "ok"))
        .at("/v1/booking/who", who)
        .at("/v1/booking/slow/:secs", slow)
        .at("/v1/auth/oa/authorize", authorize)
        .data(name);
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    format!("http://{addr}")
}

/// A URL where nothing listens.
fn dead() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn the_gateway_takes_replicas_in_turn_sets_a_dead_one_aside_and_carries_the_request_id_and_trace() {
    let (a, b, gone) = (replica("a").await, replica("b").await, dead());
    let list = format!("{a}/, {b}, {gone}");
    let gateway = spawn_mode(Mode::Gateway, |s| {
        s.services.booking = list.clone().into();
        s.gateway.eject_secs = 60;
    })
    .await;

    let mut seen = std::collections::BTreeSet::new();
    for i in 0..6 {
        let id = format!("split-edge-{i}");
        let resp = gateway.http.get(gateway.url("/v1/booking/who")).header("x-request-id", &id).send().await.unwrap();
        // The dead replica refuses the connection: the request goes to a live one instead.
        assert_eq!(resp.status(), 200, "request {i}");
        let saw: Value = resp.json().await.unwrap();
        seen.insert(saw["replica"].as_str().unwrap().to_owned());
        assert_eq!(saw["request_id"], id.as_str());
        let parent = saw["traceparent"].as_str().expect("a traceparent on the internal hop");
        assert_eq!(peers::trace_id_in(parent), Some(peers::trace_id_of(&id).as_str()), "{parent}");
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["a", "b"], "both live replicas take turns");

    // A client's own trace is continued, with the gateway's hop as the parent.
    let theirs = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let saw: Value = gateway
        .http
        .get(gateway.url("/v1/booking/who"))
        .header("traceparent", theirs)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parent = saw["traceparent"].as_str().unwrap();
    assert_eq!(peers::trace_id_in(parent), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_ne!(parent, theirs);

    // The gateway's readiness is its own; each replica's state is listed beside it.
    let (status, ready) = gateway.get_json("/readyz").await;
    assert_eq!(status, 200, "one dead replica does not take the gateway out of rotation: {ready}");
    let state =
        |url: &str| ready["upstreams"].as_array().unwrap().iter().find(|u| u["url"] == url).map(|u| u["ok"].clone());
    assert_eq!(state(&a), Some(json!(true)), "{ready}");
    assert_eq!(state(&gone), Some(json!(false)), "{ready}");
    let metrics = gateway.http.get(gateway.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("gateway_upstream_healthy") && l.contains(&gone))
        .unwrap_or_else(|| panic!("no gauge for {gone}"));
    assert!(line.ends_with(" 0"), "{line}");

    // Internal paths are not in the gateway's document: it never forwards them.
    let (_, doc) = gateway.get_json("/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.keys().any(|p| p.starts_with("/v1/booking")));
    assert!(!paths.keys().any(|p| p.starts_with("/v1/internal/")), "internal paths offered");
    gateway.stop().await;
}

#[tokio::test]
async fn redirects_reach_the_client_and_a_frozen_service_is_a_504_problem_in_time() {
    let identity = replica("id").await;
    let gateway = spawn_mode(Mode::Gateway, |s| {
        s.services.identity = identity.clone().into();
        s.services.booking = identity.clone().into();
        s.gateway.upstream_timeout_secs = 1;
    })
    .await;
    // The consent redirect is the browser's to follow, with its cookie (a proxy that followed
    // it itself lost the cookie, and the sign-in ended in oauth-state-mismatch).
    let resp = gateway.http.get(gateway.url("/v1/auth/oa/authorize?redirect=/h5/me")).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "http://consent.example/authorize?state=s1");
    assert!(resp.headers()["set-cookie"].to_str().unwrap().starts_with("oa_state=s1"));

    let started = Instant::now();
    let resp = gateway.http.get(gateway.url("/v1/booking/slow/5")).send().await.unwrap();
    let p = expect_problem(resp, 504).await;
    assert_eq!(p["type"], "/problems/upstream-timeout");
    assert!(started.elapsed() < Duration::from_secs(3), "answered after {:?}", started.elapsed());
    gateway.stop().await;
}

#[tokio::test]
async fn a_service_whose_replicas_all_failed_is_a_503_problem_until_they_are_tried_again() {
    let list = format!("{},{}", dead(), dead());
    let gateway = spawn_mode(Mode::Gateway, |s| {
        s.services.air = list.clone().into();
        s.gateway.eject_secs = 60;
    })
    .await;
    // Both refuse: the request that found out is a 502 ...
    let resp = gateway.http.get(gateway.url("/v1/air/schemes")).send().await.unwrap();
    assert_eq!(expect_problem(resp, 502).await["type"], "/problems/upstream-unavailable");
    // ... and while both are set aside, the gateway says so at once.
    let resp = gateway.http.get(gateway.url("/v1/air/schemes")).send().await.unwrap();
    let p = expect_problem(resp, 503).await;
    assert_eq!(p["type"], "/problems/upstream-no-healthy-replica");
    assert!(p["detail"].as_str().unwrap().contains("air"), "{p}");
    gateway.stop().await;
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_then_the_gateway_exits() {
    let upstream = replica("slow").await;
    let (settings, _dir) = test_settings();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = city_command(&settings, &["serve", "--gateway", "--listen", &listen]);
    cmd.env("CITY_SERVICES__BOOKING", &upstream).env("CITY_SHUTDOWN_GRACE_SECS", "10").stdout(Stdio::null());
    let mut child = cmd.spawn().expect("the city binary starts");
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let in_flight = tokio::spawn({
        let url = format!("{base}/v1/booking/slow/2");
        async move { http.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert_eq!(in_flight.await.unwrap().expect("an answer, not a dropped connection"), 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the gateway did not stop after draining");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "a clean exit: {status}");
    let after = reqwest::Client::new().get(format!("{base}/healthz")).send().await;
    assert!(after.is_err(), "nothing listens after the drain");
}

#[tokio::test]
async fn city_config_names_every_wechat_address_and_menu_show_says_when_the_base_is_not_wechat() {
    let (settings, _dir) = test_settings();
    let out = city_command(&settings, &["config"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (together, apart) = text.split_once("# apart").expect("both topologies listed");
    let listen = settings.listen;
    for line in [
        format!("wechat.api_base = http://{listen}/sandbox/wechat"),
        format!("wechat.pay_api_base = http://{listen}/sandbox/wechat/pay"),
    ] {
        assert!(together.contains(&line), "{line} missing from {together}");
    }
    for line in [
        "wechat.api_base = http://127.0.0.1:8087/sandbox/wechat".to_owned(),
        format!("identity.oauth_authorize_base = http://{listen}/sandbox/wechat"),
        format!("payments.notify_url = http://{listen}/v1/payments/wechatpay/notify"),
    ] {
        assert!(apart.contains(&line), "{line} missing from {apart}");
    }

    // A base that answers 404 (here a stand-in that is no WeChat) is named as such.
    let not_wechat = replica("not-wechat").await;
    let mut cmd = city_command(&settings, &["wechat", "menu", "show"]);
    cmd.env("CITY_WECHAT__API_BASE", &not_wechat).stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("answered HTTP 404"), "{err}");
    assert!(!err.contains("without access_token"), "{err}");
}

#[tokio::test]
async fn the_channel_runs_as_channel_and_wechat_is_its_warned_older_name_on_the_port_of_services_channel() {
    let (settings, _dir) = test_settings();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = city_command(&settings, &["serve", "--only", "wechat"]);
    // A trailing slash, as operators write URLs.
    cmd.env("CITY_SERVICES__CHANNEL", format!("http://127.0.0.1:{port}/"))
        .env("CITY_LOG", "warn")
        .env("CITY_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http.get(format!("http://127.0.0.1:{port}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "the channel did not start on services.channel's port");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = http.get(format!("http://127.0.0.1:{port}/wechat/callback")).send().await.unwrap().status();
    assert_ne!(status, 404, "the channel's callback is served");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("older name of `--only channel`"), "{log}");
}
