//! Traces across processes (issue #18): the sandbox, identity, booking, payments and the gateway
//! as separate `city` processes exporting over OTLP/HTTP to a receiver in this test; one booking
//! through the gateway is one trace with spans of the gateway, booking and identity. The
//! services apart need PostgreSQL and Redis (as `tests/split`): without `CITY_TEST_DATABASE_URL`
//! and `CITY_TEST_REDIS_URL` the test says so and checks only the receiver's decoding.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::{handler, post, web::Data, EndpointExt, Route};
use serde_json::{json, Value};

use crate::harness::{city_command, test_settings};

/// One span as the collector got it.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
}

/// The protobuf fields of `buf`: (field number, wire type, the bytes of a length-delimited
/// field, or the varint). Enough of the wire format for OTLP's messages.
fn fields(mut buf: &[u8]) -> Vec<(u64, u8, &[u8], u64)> {
    fn varint(buf: &mut &[u8]) -> u64 {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = buf[0];
            *buf = &buf[1..];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        value
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf);
        let (field, wire) = (key >> 3, (key & 7) as u8);
        match wire {
            0 => {
                let v = varint(&mut buf);
                out.push((field, wire, &[][..], v));
            }
            1 => {
                out.push((field, wire, &buf[..8], 0));
                buf = &buf[8..];
            }
            2 => {
                let len = varint(&mut buf) as usize;
                out.push((field, wire, &buf[..len], 0));
                buf = &buf[len..];
            }
            5 => {
                out.push((field, wire, &buf[..4], 0));
                buf = &buf[4..];
            }
            other => panic!("protobuf wire type {other} is not OTLP's"),
        }
    }
    out
}

fn sub(buf: &[u8], number: u64) -> Vec<&[u8]> {
    fields(buf).into_iter().filter(|(f, w, _, _)| *f == number && *w == 2).map(|(_, _, b, _)| b).collect()
}

/// The spans of one `ExportTraceServiceRequest` (opentelemetry-proto's trace.proto): resource
/// spans (1) hold a resource (1, attributes 1: key 1, value 2 with string_value 1) and scope
/// spans (2), whose spans (2) carry trace_id (1), span_id (2), parent_span_id (4) and name (5).
fn decode(request: &[u8]) -> Vec<Span> {
    let mut spans = Vec::new();
    for resource_spans in sub(request, 1) {
        let mut service = String::new();
        for resource in sub(resource_spans, 1) {
            for attribute in sub(resource, 1) {
                let key = sub(attribute, 1).first().map(|k| String::from_utf8_lossy(k).to_string());
                if key.as_deref() == Some("service.name") {
                    let value = sub(attribute, 2).first().and_then(|v| sub(v, 1).first().copied()).unwrap_or_default();
                    service = String::from_utf8_lossy(value).to_string();
                }
            }
        }
        for scope_spans in sub(resource_spans, 2) {
            for span in sub(scope_spans, 2) {
                let trace = sub(span, 1).first().map(hex::encode).unwrap_or_default();
                let span_id = sub(span, 2).first().map(hex::encode).unwrap_or_default();
                let parent_span_id = sub(span, 4).first().map(hex::encode).unwrap_or_default();
                let name = sub(span, 5).first().map(|n| String::from_utf8_lossy(n).to_string()).unwrap_or_default();
                spans.push(Span { service: service.clone(), trace_id: trace, span_id, parent_span_id, name });
            }
        }
    }
    spans
}

type Received = Arc<Mutex<Vec<Span>>>;

#[handler]
fn collect(body: Vec<u8>, Data(received): Data<&Received>) -> &'static str {
    received.lock().unwrap().extend(decode(&body));
    ""
}

/// An OTLP/HTTP receiver on a free port: its base URL and what it got.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let addr = format!("127.0.0.1:{}", free_port());
    let app = Route::new().at("/v1/traces", post(collect)).data(received.clone());
    let listener = poem::listener::TcpListener::bind(addr.clone());
    tokio::spawn(async move {
        let _ = poem::Server::new(listener).run(app).await;
    });
    (format!("http://{addr}"), received)
}

#[test]
fn the_receiver_decodes_an_export_request() {
    // A hand-made ExportTraceServiceRequest: one resource (service.name = city-booking) with
    // one span in trace 0x01…10 named "request".
    let field = |n: u8, bytes: &[u8]| [&[n << 3 | 2, bytes.len() as u8][..], bytes].concat();
    let any_value = field(1, b"city-booking");
    let attribute = [field(1, b"service.name"), field(2, &any_value)].concat();
    let resource = field(1, &attribute);
    let trace: Vec<u8> = (1..=16).collect();
    let span = [field(1, &trace), field(2, &[9; 8]), field(4, &[7; 8]), field(5, b"request")].concat();
    let scope_spans = field(2, &span);
    let resource_spans = [field(1, &resource), field(2, &scope_spans)].concat();
    let spans = decode(&field(1, &resource_spans));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].service, "city-booking");
    assert_eq!(spans[0].trace_id, "0102030405060708090a0b0c0d0e0f10");
    assert_eq!(spans[0].span_id, "0909090909090909");
    assert_eq!(spans[0].parent_span_id, "0707070707070707");
    assert_eq!(spans[0].name, "request");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A GB 11643 number with its check character.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn ready(http: &reqwest::Client, base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "{base} exited while starting");
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(Instant::now() < deadline, "{base} did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_booking_through_the_gateway_is_one_trace_across_gateway_booking_and_identity() {
    let (Ok(_), Ok(_)) = (std::env::var("CITY_TEST_DATABASE_URL"), std::env::var("CITY_TEST_REDIS_URL")) else {
        eprintln!("traces: the services apart need PostgreSQL and Redis (CITY_TEST_DATABASE_URL, CITY_TEST_REDIS_URL); not run");
        return;
    };
    let (collector, received) = receiver().await;
    let (mut settings, _dir) = test_settings();
    let gateway_port = free_port();
    settings.listen = format!("127.0.0.1:{gateway_port}").parse().unwrap();
    let services = ["sandbox", "identity", "booking", "payments"];
    let ports: BTreeMap<&str, u16> = services.iter().map(|s| (*s, free_port())).collect();
    let mut env: Vec<(String, String)> = ports
        .iter()
        .map(|(name, port)| {
            (format!("CITY_SERVICES__{}", name.to_ascii_uppercase()), format!("http://127.0.0.1:{port}"))
        })
        .collect();
    env.extend(
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            // Spans are exported at the level logs are kept.
            ("CITY_LOG", "info"),
            ("CITY_RATE_LIMIT__ENABLED", "false"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let out = city_command(&settings, &["demo-secrets", "init"]).output().expect("the city binary runs");
    assert!(out.status.success(), "demo-secrets init: {}", String::from_utf8_lossy(&out.stderr));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut procs = Procs(Vec::new());
    for (name, port) in &ports {
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = city_command(&settings, &["serve", "--only", name, "--listen", &listen]);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("CITY_TRUSTED_PROXIES", "[127.0.0.1]")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        procs.0.push(cmd.spawn().expect("the city binary starts"));
        let child = procs.0.last_mut().unwrap();
        ready(&http, &format!("http://{listen}"), child).await;
    }
    let mut cmd = city_command(&settings, &["serve", "--gateway"]);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdout(Stdio::null()).stderr(Stdio::null());
    procs.0.push(cmd.spawn().expect("the gateway starts"));
    let gateway = format!("http://127.0.0.1:{gateway_port}");
    ready(&http, &gateway, procs.0.last_mut().unwrap()).await;

    let send = |method: &str, path: &str, token: &str, body: Option<Value>| {
        let mut req = http.request(method.parse().unwrap(), format!("{gateway}{path}"));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header("Idempotency-Key", uuid::Uuid::new_v4().to_string()).json(&body);
        }
        async move {
            let resp = req.send().await.expect("the gateway answers");
            let status = resp.status().as_u16();
            let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body, request_id)
        }
    };
    let (status, code, _) =
        send("POST", "/sandbox/wechat/_test/mp/codes", "", Some(json!({"unionid": "trace-1"}))).await;
    assert_eq!(status, 200, "{code}");
    let (status, session, _) =
        send("POST", "/v1/auth/miniprogram/login", "", Some(json!({"code": code["code"]}))).await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let person = json!({"name": "李小梅", "id_number": id_number("51010719900315004"), "relation": "self"});
    let (status, person, _) = send("POST", "/v1/me/people", &token, Some(person)).await;
    assert_eq!(status, 201, "{person}");
    // A free slot from the day after tomorrow (the city's calendar), never one already past.
    let from =
        city_platform::time::city_date(city_platform::time::from_ms(city_platform::time::now_ms() + 2 * 86_400_000))
            .to_string();
    let (_, doctors, _) = send("GET", "/v1/booking/doctors?hospital_id=h-cd2&limit=50", "", None).await;
    let mut slot = None;
    'doctors: for doctor in doctors.as_array().unwrap() {
        let id = doctor["id"].as_str().unwrap();
        let (_, sessions, _) = send("GET", &format!("/v1/booking/doctors/{id}/sessions"), "", None).await;
        for s in sessions
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["n_free"].as_i64() > Some(0) && s["date"].as_str() >= Some(from.as_str()))
        {
            let date = s["date"].as_str().unwrap();
            let (_, slots, _) = send("GET", &format!("/v1/booking/doctors/{id}/slots?date={date}"), "", None).await;
            if let Some(free) = slots["slots"].as_array().unwrap().iter().find(|s| s["free"] == true) {
                slot = Some(free["id"].clone());
                break 'doctors;
            }
        }
    }
    let body = json!({"slot_id": slot.expect("a free slot"), "person_id": person["id"]});
    let (status, appointment, request_id) = send("POST", "/v1/booking/appointments", &token, Some(body)).await;
    assert_eq!(status, 201, "{appointment}");

    // The booking's trace, as every process names it: derived from the request id.
    let trace = city_platform::peers::trace_id_of(&request_id);
    let wanted: BTreeSet<&str> = ["city-gateway", "city-booking", "city-identity"].into();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen: BTreeSet<String> = {
            let spans = received.lock().unwrap();
            spans.iter().filter(|s| s.trace_id == trace).map(|s| s.service.clone()).collect()
        };
        if wanted.iter().all(|w| seen.contains(*w)) {
            break;
        }
        if Instant::now() > deadline {
            let spans = received.lock().unwrap();
            let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
            panic!(
                "trace {trace} has spans of {seen:?}, not all of {wanted:?} ({} spans from {services:?})",
                spans.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Across processes each span hangs under its caller's: booking's under the gateway's
    // forwarding span, identity's under one of booking's.
    let spans = received.lock().unwrap();
    let in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let ids_of = |service: &str| -> BTreeSet<&str> {
        in_trace.iter().filter(|s| s.service == service).map(|s| s.span_id.as_str()).collect()
    };
    let parented = |child: &str, parent: &str| {
        let parents = ids_of(parent);
        in_trace.iter().any(|s| s.service == child && parents.contains(s.parent_span_id.as_str()))
    };
    assert!(parented("city-booking", "city-gateway"), "booking's span under the gateway's: {in_trace:?}");
    assert!(parented("city-identity", "city-booking"), "identity's span under booking's: {in_trace:?}");
    eprintln!("traces: the booking's trace {trace}: {} spans from {wanted:?}", in_trace.len());
}
