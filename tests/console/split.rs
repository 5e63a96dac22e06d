//! The console in split mode: identity, incidents and the WeChat sandbox each their own `city`
//! process, the gateway in front serving `/console` and reaching them over HTTP, on PostgreSQL
//! and Redis (separate processes share nothing else; without `CITY_TEST_DATABASE_URL` and
//! `CITY_TEST_REDIS_URL` this test says so and passes nothing off as tested). One flow in
//! Chromium: sign in, open a ticket, post a public update; the citizen's API shows it.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::browser::Browser;
use crate::harness::{city_command, test_settings};
use crate::PASSWORD;

/// The processes, killed when dropped.
struct Procs(Vec<(String, Child)>);

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_ready(http: &reqwest::Client, procs: &mut Procs, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        for (name, child) in &mut procs.0 {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{name} exited while starting: {status}");
            }
        }
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(Instant::now() < deadline, "{base} did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn split_mode_a_clerk_signs_in_opens_a_ticket_and_posts_an_update_through_the_gateway() {
    if !crate::browser::available() {
        return;
    }
    let (settings, dir) = test_settings();
    if settings.database_url.is_none() || settings.redis_url.is_none() {
        eprintln!("the console in split mode needs CITY_TEST_DATABASE_URL and CITY_TEST_REDIS_URL: skipped");
        return;
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let out = city_command(&settings, &["demo-secrets", "init"]).output().expect("the city binary runs");
    assert!(out.status.success(), "demo-secrets init: {}", String::from_utf8_lossy(&out.stderr));
    let settings = city_platform::profile::prepare(settings).expect("the demo set loads").settings;
    let services = ["sandbox", "identity", "incidents"];
    let ports: Vec<u16> = services.iter().map(|_| free_port()).collect();
    let gateway = free_port();
    let env: Vec<(String, String)> = services
        .iter()
        .zip(&ports)
        .map(|(name, port)| {
            (format!("CITY_SERVICES__{}", name.to_ascii_uppercase()), format!("http://127.0.0.1:{port}"))
        })
        .chain([("CITY_RATE_LIMIT__ENABLED".to_owned(), "false".to_owned())])
        .collect();
    let mut procs = Procs(Vec::new());
    for (name, port) in services.iter().zip(&ports) {
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = city_command(&settings, &["serve", "--only", name, "--listen", &listen]);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("CITY_TRUSTED_PROXIES", "[127.0.0.1]")
            .stdout(Stdio::null());
        procs.0.push((name.to_string(), cmd.spawn().expect("the city binary starts")));
        wait_ready(&http, &mut procs, &format!("http://{listen}")).await;
    }
    let base = format!("http://127.0.0.1:{gateway}");
    let mut cmd = city_command(&settings, &["serve", "--gateway", "--listen", &format!("127.0.0.1:{gateway}")]);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdout(Stdio::null());
    procs.0.push(("gateway".into(), cmd.spawn().expect("the gateway starts")));
    wait_ready(&http, &mut procs, &base).await;

    // A ticket (through Open311, as an integrator files one) and a district clerk.
    let city = |args: &[&str]| {
        let out = city_command(&settings, args).output().expect("the city binary runs");
        assert!(out.status.success(), "city {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let key = city(&["apikey", "create", "--name", "split console", "--scope", "open311"]);
    let resp = http
        .post(format!("{base}/open311/v2/requests.json?api_key={key}"))
        .form(&[
            ("service_code", "pothole"),
            ("lat", "30.6552"),
            ("long", "104.0811"),
            ("description", "Pothole by the split-mode bus stop"),
            ("attribute[size]", "large"),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let created: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{created}");
    let id = created[0]["service_request_id"].as_str().unwrap().to_owned();
    city(&[
        "staff",
        "create",
        "--username",
        "split.console",
        "--password",
        PASSWORD,
        "--role",
        "clerk",
        "--district",
        "510104",
    ]);

    // In the browser, through the gateway: sign in, the ticket from the queue, a public update.
    let b = Browser::start(&base).await;
    b.sign_in("split.console", PASSWORD).await;
    assert!(b.text("#who").await.contains("510104"));
    b.click(&format!("a.ticket-link[data-id=\"{id}\"]")).await;
    b.find("#ticket-id").await;
    assert_eq!(b.text("#ticket-id").await, id);
    b.fill("#public-update", "Inspected; a crew is booked for Thursday.").await;
    b.choose("#new-state", "action_scheduled").await;
    b.click("#save-state").await;
    b.until("the saved banner", "document.querySelector('.banner.done')").await;
    assert_eq!(b.find("#ticket-state").await.attr("data-state").await.unwrap().as_deref(), Some("action_scheduled"));

    let public: Value = http.get(format!("{base}/v1/incidents/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(public["state"], "action_scheduled", "{public}");
    let history = public["history"].as_array().cloned().unwrap_or_default();
    assert!(history.iter().any(|u| u["text_en"] == "Inspected; a crew is booked for Thursday."), "{public}");
    b.close().await;
    drop(procs);
    if let Some(url) = &settings.database_url {
        for service in ["gateway", "sandbox", "identity", "incidents", "notify", "wechat", "air", "booking", "payments"]
        {
            let _ = city_platform::db::drop_schema(url.expose(), &format!("{}{service}", settings.schema_prefix)).await;
        }
    }
    drop(dir);
}
