//! The services apart: `city serve --only air` as its own process, the gateway in this one
//! forwarding `/v1/air` to it with the request id and credentials passed through.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use city::Mode;

use crate::harness::{city_command, expect_problem, spawn_mode, test_settings};

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn the_gateway_forwards_to_a_service_running_as_its_own_process() {
    let (settings, _dir) = test_settings();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = city_command(&settings, &["serve", "--only", "air", "--listen", &listen]);
    cmd.env("CITY_LOG", "warn").stdout(Stdio::null());
    let _service = Service(cmd.spawn().expect("the city binary starts"));

    let http = reqwest::Client::new();
    let service_url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{service_url}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the air service did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let gateway = spawn_mode(Mode::Gateway, |s| {
        s.services.air = service_url.clone().into();
        s.schema_prefix = settings.schema_prefix.clone();
    })
    .await;

    // Forwarded, with the request id carried through to the service and back.
    let resp = gateway
        .http
        .get(gateway.url("/v1/air/schemes"))
        .header("x-request-id", "two-proc-1")
        .header("authorization", "Bearer passes-through")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "two-proc-1");
    let schemes: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(schemes[0]["id"], "cn-2026");

    // The service's own problem responses come back unchanged.
    let resp = gateway.http.get(gateway.url("/v1/air/nothing-here")).send().await.unwrap();
    expect_problem(resp, 404).await;
    // The nearest-station answer is the service's own too: demo stations, but no readings yet.
    let resp =
        gateway.http.get(gateway.url("/v1/air/nearest?lat=30.6581&lon=104.0591&coord=gcj02")).send().await.unwrap();
    let p = expect_problem(resp, 404).await;
    assert_eq!(p["type"], "/problems/no-station-nearby");

    // The gateway's own routes and the whole portal's document are served by the gateway.
    let (status, services) = gateway.get_json("/v1/services").await;
    assert_eq!(status, 200);
    assert!(services["services"].is_array());
    let (_, doc) = gateway.get_json("/openapi.json").await;
    assert!(doc["paths"]["/v1/air/schemes"].is_object(), "the document covers the services too");

    // A service that is down is a 502 problem, not a hang or an HTML page.
    let resp = gateway.http.get(gateway.url("/v1/booking/hospitals")).send().await.unwrap();
    let p = expect_problem(resp, 502).await;
    assert_eq!(p["type"], "/problems/upstream-unavailable");
    gateway.stop().await;
}
