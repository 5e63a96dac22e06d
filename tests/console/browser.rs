//! A headless Debian Chromium driven over WebDriver (chromedriver on a random port), with the
//! few steps the console's tests need: sign in, fill, choose, click, wait, screenshot, and an
//! axe-core check of the page.
//!
//! Without `chromium` and `chromedriver` the tests say how to install them and pass as
//! skipped, except in CI (`CI=true`), where a missing browser fails the run.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// axe-core from npm (vendored with its licence beside the console); only the tests load it.
const AXE: &str = include_str!("../../services/console/vendor/axe-core-4.14.1/axe.min.js");

const INSTALL: &str = "apt-get update && apt-get install -y chromium chromium-driver";

/// One browser (its own chromedriver and profile), closed on drop.
pub struct Browser {
    pub client: Client,
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// Whether the browser is installed; when not, says how to install it, and fails under CI.
pub fn available() -> bool {
    if which("chromium").is_some() && which("chromedriver").is_some() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!ci, "the console's browser tests need Debian's chromium and chromium-driver: {INSTALL}");
    eprintln!(
        "skipping the console's browser tests: chromium or chromedriver is missing; install them with `{INSTALL}`"
    );
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Browser {
    /// A fresh headless Chromium for the portal at `base`.
    pub async fn start(base: &str) -> Browser {
        let port = free_port();
        let driver = Command::new(which("chromedriver").expect("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a profile directory");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let chromium = which("chromium").expect("chromium");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--window-size=1366,900", format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a WebDriver session in headless Chromium");
        Browser { client, base: base.to_owned(), driver, _profile: profile }
    }

    /// Opens `path` of the portal.
    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("the page opens");
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("a URL");
        format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default())
    }

    /// Waits for `css` to be on the page.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on {}: {e}", self.base))
    }

    /// The text of `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("its text")
    }

    /// Types `text` into the field `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("the field clears");
        el.send_keys(text).await.expect("typing works");
    }

    /// Chooses the option `value` of the select `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap_or_else(|e| panic!("no option {value} in {css}: {e}"));
    }

    /// Clicks `css`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("`{css}` cannot be clicked: {e}"));
    }

    /// Signs in through the form and waits for the queue.
    pub async fn sign_in(&self, username: &str, password: &str) {
        self.goto("/console/login").await;
        self.fill("#username", username).await;
        self.fill("#password", password).await;
        self.click("#sign-in").await;
        self.find("#who").await;
    }

    /// Polls `script` (a JavaScript expression) until it is truthy.
    pub async fn until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.client.execute(&format!("return !!({script});"), vec![]).await.expect("the script runs");
            if v == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the window as `<target tmp>/console-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot is written");
        path
    }

    /// Runs axe-core on the page and fails on any serious or critical violation.
    pub async fn assert_accessible(&self, page: &str) {
        self.client.execute(AXE, vec![]).await.expect("axe-core loads");
        let script = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ["violations"] })
              .then(r => done(r.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")) }))))
              .catch(e => done([{ id: "axe-failed", help: String(e) }]));
        "#;
        let found = self.client.execute_async(script, vec![]).await.expect("axe runs");
        let bad = found.as_array().cloned().unwrap_or_default();
        assert!(bad.is_empty(), "axe found serious or critical violations on the {page} page: {found:#}");
    }

    /// Ends the WebDriver session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
