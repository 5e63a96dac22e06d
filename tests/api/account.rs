//! The citizen's account (issue #23): the menu's pages under `/h5`, the Service Account sign-in
//! that ends on the page it started from with the session in a cookie.

use serde_json::{json, Value};

use crate::harness::{spawn_app, TestApp};

/// Every page the shipped menu opens (a `view` button's url, a `miniprogram` button's fallback).
fn menu_pages() -> Vec<(String, Option<String>)> {
    let menu: Value = serde_json::from_str(city_channel::MENU_SEED).unwrap();
    let mut pages = Vec::new();
    for top in menu["button"].as_array().unwrap() {
        let subs = top["sub_button"].as_array().cloned().unwrap_or_else(|| vec![top.clone()]);
        for b in subs {
            if let Some(url) = b["url"].as_str() {
                let path = url.split_once("://").unwrap().1;
                let path = &path[path.find('/').unwrap()..];
                pages.push((path.to_owned(), b["pagepath"].as_str().map(str::to_owned)));
            }
        }
    }
    pages
}

#[tokio::test]
async fn every_page_of_the_menu_opens_with_200_and_links_to_its_mini_program_page() {
    let app = spawn_app().await;
    // The menu as shipped is one WeChat (the sandbox) accepts, miniprogram buttons included.
    let api = city_channel::menu_ops::oa_api(&app.settings);
    city_channel::menu_ops::push(&api, None).await.expect("the sandbox takes the shipped menu");
    let pages = menu_pages();
    assert!(pages.iter().any(|(_, mp)| mp.is_some()), "the menu has a miniprogram button: {pages:?}");
    for (path, pagepath) in pages {
        assert!(path.starts_with("/h5/"), "{path}");
        let resp = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("城市服务") && html.contains("City Services"), "{html}");
        if let Some(pagepath) = pagepath {
            // Which service this is, what to do next, and the Mini Program page that does it.
            assert!(html.contains("预约挂号") && html.contains("Doctor appointments"), "{html}");
            let encoded = pagepath.replace('/', "%2F");
            assert!(html.contains(&format!("appid={}&amp;path={encoded}", app.settings.wechat.mp_appid)), "{html}");
        }
    }
    let resp = app.http.get(app.url("/h5/no-such-page")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn the_sandbox_refuses_a_miniprogram_button_without_its_linked_appid_or_page() {
    let app = spawn_app().await;
    let api = city_channel::menu_ops::oa_api(&app.settings);
    let mp_appid = app.settings.wechat.mp_appid.clone();
    let fallback = app.url("/h5/booking");
    let cases = [
        (json!({"url": fallback, "appid": "wxsomeoneelse00001", "pagepath": "pages/booking/index"}), Some(40166)),
        (json!({"url": fallback, "appid": mp_appid}), Some(40165)),
        (json!({"appid": mp_appid, "pagepath": "pages/booking/index"}), Some(40055)),
        (json!({"url": fallback, "appid": mp_appid, "pagepath": "pages/booking/index"}), None),
    ];
    for (fields, errcode) in cases {
        let mut button = json!({"type": "miniprogram", "name": "Book"});
        button.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        let answer = api.menu_create(&json!({ "button": [button] })).await;
        assert_eq!(answer.as_ref().err().and_then(|e| e.errcode()), errcode, "{button}");
    }
    app.stop().await;
}

/// The Service Account sign-in as a browser goes through it, starting at `start`; the callback's
/// answer.
async fn oauth_from(app: &TestApp, start: &str, unionid: &str) -> reqwest::Response {
    let resp = app.http.get(app.url(start)).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let browser = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    // What WeChat's consent page sends the browser back with: a code, and the state.
    let code: Value = app
        .http
        .post(app.url("/sandbox/wechat/_test/oa/oauth-codes"))
        .json(&json!({ "unionid": unionid }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state = location.split("state=").nth(1).unwrap().trim_end_matches("#wechat_redirect").to_owned();
    let code = code["code"].as_str().unwrap();
    app.http
        .get(app.url(&format!("/v1/auth/oa/callback?code={code}&state={state}")))
        .header("cookie", browser)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_oauth_flow_ends_on_the_page_it_started_from_with_the_session_in_a_cookie_only() {
    let app = spawn_app().await;
    // Before: the account page invites to sign in.
    let before = app.http.get(app.url("/h5/me")).send().await.unwrap().text().await.unwrap();
    assert!(before.contains("You are not signed in"), "{before}");

    let resp = oauth_from(&app, "/v1/auth/oa/authorize?redirect=/h5/booking", "account-oauth").await;
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/h5/booking");
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("city_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.split("; ").any(|a| a == attribute), "{attribute} in {set_cookie}");
    }
    // Plain http here: a Secure cookie would never come back.
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let token = set_cookie.split(';').next().unwrap().strip_prefix("city_session=").unwrap().to_owned();
    assert!(!location.contains(&token));

    // The page it asked for opens, and the account page sees the session.
    let page = app.http.get(app.url(&location)).header("cookie", format!("city_session={token}")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let me = app.http.get(app.url("/h5/me")).header("cookie", format!("city_session={token}")).send().await.unwrap();
    assert!(me.text().await.unwrap().contains("You are signed in"));
    // The cookie's session is the citizen's bearer session too.
    let profile = app.http.get(app.url("/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(profile.status(), 200);

    // Another site cannot be the destination (the check at the start refuses it).
    for evil in ["//evil.example/x", "https://evil.example/", "/\\evil.example"] {
        let resp = app.http.get(app.url("/v1/auth/oa/authorize")).query(&[("redirect", evil)]).send().await.unwrap();
        assert_eq!(resp.status(), 422, "{evil}");
    }
    // Without a page asked for, the sign-in ends on the account page.
    let resp = oauth_from(&app, "/v1/auth/oa/authorize", "account-oauth").await;
    assert_eq!(resp.headers()["location"], "/h5/me");
    app.stop().await;
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure() {
    let app = crate::harness::spawn_app_with(|s| {
        s.identity.public_base_url = Some("https://city.example.cn".into());
    })
    .await;
    let resp = oauth_from(&app, "/v1/auth/oa/authorize?redirect=/h5/me", "account-secure").await;
    assert_eq!(resp.status(), 302);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.split("; ").any(|a| a == "Secure"), "{set_cookie}");
    app.stop().await;
}

/// A real SMTP server on loopback that accepts every mail and keeps its text.
struct SmtpSink {
    port: u16,
    mails: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

async fn smtp_sink() -> SmtpSink {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 loopback ESMTP\r\n").await.ok();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
                        "DATA" => {
                            write.write_all(b"354 go on\r\n").await.ok();
                            let mut text = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                text.push_str(&l);
                                text.push('\n');
                            }
                            kept.lock().unwrap().push(text);
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok();
                            break;
                        }
                        _ => b"502 no\r\n",
                    };
                    write.write_all(answer).await.ok();
                }
            });
        }
    });
    SmtpSink { port, mails }
}

impl SmtpSink {
    /// Mails to `address` so far.
    fn to(&self, address: &str) -> Vec<String> {
        let to = format!("To: {address}");
        self.mails.lock().unwrap().iter().filter(|m| m.lines().any(|l| l == to)).cloned().collect()
    }

    /// Waits (up to 20 s) until `n` mails have reached `address`; them.
    async fn wait_for(&self, address: &str, n: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let mails = self.to(address);
            if mails.len() >= n || std::time::Instant::now() > deadline {
                assert_eq!(mails.len(), n, "mails to {address}: {mails:?}");
                return mails;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// A mail's header value (unfolded).
fn header(mail: &str, name: &str) -> Option<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut lines = mail.lines().take_while(|l| !l.is_empty()).peekable();
    while let Some(line) = lines.next() {
        if line.to_ascii_lowercase().starts_with(&prefix) {
            let mut value = line[prefix.len()..].trim().to_owned();
            while lines.peek().is_some_and(|l| l.starts_with([' ', '\t'])) {
                value.push_str(lines.next().unwrap().trim());
            }
            return Some(value);
        }
    }
    None
}

/// A mail's text, decoded from its transfer encoding.
fn text_of(mail: &str) -> String {
    use base64::Engine as _;
    let body = mail.split_once("\n\n").map_or("", |(_, b)| b);
    match header(mail, "Content-Transfer-Encoding").unwrap_or_default().to_ascii_lowercase().as_str() {
        "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD.decode(body.replace(['\n', '\r'], "")).unwrap_or_default(),
        )
        .unwrap_or_default(),
        "quoted-printable" => {
            let joined = body.replace("=\n", "");
            let bytes = joined.as_bytes();
            let (mut out, mut i) = (Vec::new(), 0);
            while i < bytes.len() {
                match (bytes[i], std::str::from_utf8(bytes.get(i + 1..i + 3).unwrap_or(b""))) {
                    (b'=', Ok(hex)) if u8::from_str_radix(hex, 16).is_ok() => {
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 3;
                    }
                    (b, _) => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }
        _ => body.to_owned(),
    }
}

/// The value of `param` in the first URL of `text` that has it.
fn param_in(text: &str, param: &str) -> Option<String> {
    let at = text.find(&format!("{param}="))? + param.len() + 1;
    Some(text[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect())
}

async fn send(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = app
        .http
        .request(method.parse().unwrap(), app.url(path))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_email_address_is_confirmed_through_real_smtp_and_one_click_unsubscribe_works_without_sign_in() {
    let sink = smtp_sink().await;
    let app = crate::harness::spawn_app_with(|s| {
        s.notify.smtp_url = Some(city_platform::config::Secret::new(format!("smtp://127.0.0.1:{}", sink.port)));
        s.notify.retry_secs = vec![1, 1];
    })
    .await;
    let citizen = app.citizen_token("account-mail").await;
    let stranger = app.citizen_token("account-mail-stranger").await;

    // Who may call: a citizen for themself; no credential is 401.
    assert_eq!(send(&app, "POST", "/v1/me/email", None, Some(json!({"email": "li@example.cn"}))).await.0, 401);
    assert_eq!(send(&app, "GET", "/v1/me/preferences", None, None).await.0, 401);
    let (status, p) =
        send(&app, "POST", "/v1/me/email", Some(&citizen), Some(json!({"email": "not an address"}))).await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "email");

    let (status, pending) =
        send(&app, "POST", "/v1/me/email", Some(&citizen), Some(json!({"email": "li.lei@example.cn"}))).await;
    assert_eq!(status, 202, "{pending}");
    assert_eq!(pending["email_masked"], "l***@example.cn");
    // Not kept before it is confirmed.
    let (_, prefs) = send(&app, "GET", "/v1/me/preferences", Some(&citizen), None).await;
    assert!(prefs.get("email_masked").is_none(), "{prefs}");

    let mail = sink.wait_for("li.lei@example.cn", 1).await.remove(0);
    let confirm = param_in(&text_of(&mail), "token").expect("a confirmation link");
    let (status, p) = send(&app, "GET", "/v1/me/email/confirm?token=made-up", None, None).await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("token")));
    let (status, confirmed) = send(&app, "GET", &format!("/v1/me/email/confirm?token={confirm}"), None, None).await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["email_masked"], "l***@example.cn");
    // Single use.
    assert_eq!(send(&app, "GET", &format!("/v1/me/email/confirm?token={confirm}"), None, None).await.0, 422);
    let (_, prefs) = send(&app, "GET", "/v1/me/preferences", Some(&citizen), None).await;
    assert_eq!(prefs["email_masked"], "l***@example.cn");
    // Another citizen's view shows none of it.
    let (_, theirs) = send(&app, "GET", "/v1/me/preferences", Some(&stranger), None).await;
    assert!(theirs.get("email_masked").is_none(), "{theirs}");

    // Preferences per kind: unknown kinds and channels are refused naming the field.
    let choose = |kind: &str, channels: Value| json!({"kind": kind, "channels": channels});
    let (status, p) =
        send(&app, "PUT", "/v1/me/preferences", Some(&citizen), Some(choose("payments.nope", json!(["email"])))).await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("kind")));
    let (status, p) =
        send(&app, "PUT", "/v1/me/preferences", Some(&citizen), Some(choose("payments.bill_due", json!(["fax"]))))
            .await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("channels")));
    let (status, prefs) = send(
        &app,
        "PUT",
        "/v1/me/preferences",
        Some(&citizen),
        Some(choose("payments.bill_due", json!(["email", "oa_template"]))),
    )
    .await;
    assert_eq!(status, 200, "{prefs}");
    let bill_due = |prefs: &Value| {
        prefs["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "payments.bill_due").cloned().unwrap()
    };
    assert_eq!(bill_due(&prefs)["channels"], json!(["email", "oa_template"]));
    // No credential changes nothing; another citizen's choice is theirs alone.
    let none = choose("payments.bill_due", json!([]));
    assert_eq!(send(&app, "PUT", "/v1/me/preferences", None, Some(none.clone())).await.0, 401);
    assert_eq!(send(&app, "PUT", "/v1/me/preferences", Some(&stranger), Some(none)).await.0, 200);
    let (_, prefs) = send(&app, "GET", "/v1/me/preferences", Some(&citizen), None).await;
    assert_eq!(bill_due(&prefs)["channels"], json!(["email", "oa_template"]));

    // Every mail carries the one-click unsubscribe (RFC 8058), which needs no sign-in.
    let list = header(&mail, "List-Unsubscribe").expect("List-Unsubscribe");
    assert_eq!(header(&mail, "List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    let url = list.trim_start_matches('<').trim_end_matches('>').to_owned();
    assert!(url.starts_with(&app.url("/v1/me/email/unsubscribe?token=")), "{url}");
    let token = param_in(&url, "token").unwrap();
    // The last hex digit changed (to one it is not).
    let last = if token.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    let (status, _) = send(&app, "POST", &format!("/v1/me/email/unsubscribe?token={forged}"), None, None).await;
    assert_eq!(status, 422);
    let path = &url[app.base.len()..];
    for _ in 0..2 {
        let resp = app
            .http
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "a second click is harmless");
    }
    let (_, prefs) = send(&app, "GET", "/v1/me/preferences", Some(&citizen), None).await;
    assert_eq!(bill_due(&prefs)["channels"], json!(["oa_template"]), "{prefs}");
    assert!(prefs["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| !k["channels"].as_array().unwrap().contains(&json!("email"))));
    app.stop().await;
}

/// A citizen with a confirmed address at `address` (the confirmation mail read off `sink`).
async fn with_confirmed_email(app: &TestApp, sink: &SmtpSink, unionid: &str, address: &str) -> String {
    let citizen = app.citizen_token(unionid).await;
    let (status, _) = send(app, "POST", "/v1/me/email", Some(&citizen), Some(json!({ "email": address }))).await;
    assert_eq!(status, 202);
    let mail = sink.wait_for(address, 1).await.remove(0);
    let token = param_in(&text_of(&mail), "token").unwrap();
    assert_eq!(send(app, "GET", &format!("/v1/me/email/confirm?token={token}"), None, None).await.0, 200);
    citizen
}

fn subject_has(mail: &str, text: &str) -> bool {
    // Non-ASCII subjects are encoded words; the English half is readable as is.
    header(mail, "Subject").is_some_and(|s| s.contains(text))
}

#[tokio::test]
async fn a_bill_reminder_reaches_the_confirmed_address_once_and_unsubscribing_stops_the_next() {
    let sink = smtp_sink().await;
    let app = crate::harness::spawn_app_with(|s| {
        s.notify.smtp_url = Some(city_platform::config::Secret::new(format!("smtp://127.0.0.1:{}", sink.port)));
        s.notify.retry_secs = vec![1, 1];
        s.payments.job_interval_secs = 1;
    })
    .await;
    let address = "han.meimei@example.cn";
    let citizen = with_confirmed_email(&app, &sink, "account-reminders", address).await;
    let choose = json!({"kind": "payments.bill_new", "channels": ["email"]});
    assert_eq!(send(&app, "PUT", "/v1/me/preferences", Some(&citizen), Some(choose)).await.0, 200);

    let body = json!({ "biller_id": "cd-power", "account_no": "3100123456", "label": "home" });
    let (status, account) = send(&app, "POST", "/v1/payments/accounts", Some(&citizen), Some(body)).await;
    assert_eq!(status, 200, "{account}");
    let bills_path = format!("/v1/payments/accounts/{}/bills", account["id"].as_str().unwrap());
    let (_, bills) = send(&app, "GET", &bills_path, Some(&citizen), None).await;
    let unpaid = bills.as_array().unwrap().iter().filter(|b| b["status"] == "unpaid").count();
    assert!(unpaid >= 1, "{bills}");

    // One mail per unpaid bill (after the confirmation), however many rounds run.
    let mails = sink.wait_for(address, 1 + unpaid).await;
    let reminders: Vec<&String> = mails.iter().filter(|m| subject_has(m, "New bill")).collect();
    assert_eq!(reminders.len(), unpaid, "{mails:?}");
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(sink.to(address).len(), 1 + unpaid, "each reminder goes once");
    // The mail's own one-click link stops the next bill's reminder.
    let list = header(reminders[0], "List-Unsubscribe").unwrap();
    let url = list.trim_start_matches('<').trim_end_matches('>');
    assert!(url.ends_with("&kind=payments.bill_new"), "{url}");
    let resp = app.http.post(url).body("List-Unsubscribe=One-Click").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = json!({ "biller_id": "cd-water", "account_no": "W00088001" });
    let (status, water) = send(&app, "POST", "/v1/payments/accounts", Some(&citizen), Some(body)).await;
    assert_eq!(status, 200, "{water}");
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(sink.to(address).len(), 1 + unpaid, "no mail after unsubscribing");
    app.stop().await;
}

/// A finance officer's token (the staff account made with the `city` command).
async fn finance_officer(app: &TestApp) -> String {
    let password = "correct horse battery";
    let args = ["staff", "create", "--username", "fin.reminders", "--password", password, "--role", "finance"];
    assert!(crate::harness::city_command(&app.settings, &args).output().unwrap().status.success());
    let login = json!({ "username": "fin.reminders", "password": password });
    let (_, session) = send(app, "POST", "/v1/staff/sessions", None, Some(login)).await;
    session["token"].as_str().expect("a staff token").to_owned()
}

/// The other reminders, each exactly once over many job rounds: a bill due in three
/// Beijing days, a new fine for a bound vehicle; a bill paid (through the sandbox) before any
/// round could remind of it sends none.
#[tokio::test]
async fn due_and_fine_reminders_go_once_and_a_paid_bill_sends_none() {
    let sink = smtp_sink().await;
    let app = crate::harness::spawn_app_with(|s| {
        s.notify.smtp_url = Some(city_platform::config::Secret::new(format!("smtp://127.0.0.1:{}", sink.port)));
        s.notify.retry_secs = vec![1, 1];
        s.payments.job_interval_secs = 1;
    })
    .await;
    let address = "li.lei@example.cn";
    let citizen = with_confirmed_email(&app, &sink, "account-reminders-due", address).await;
    for kind in ["payments.bill_new", "payments.bill_due", "payments.fine_new"] {
        let choose = json!({"kind": kind, "channels": ["email"]});
        assert_eq!(send(&app, "PUT", "/v1/me/preferences", Some(&citizen), Some(choose)).await.0, 200);
    }
    let officer = finance_officer(&app).await;
    let today = city_platform::time::city_date(city_platform::time::from_ms(city_platform::time::now_ms()));

    // Another citizen of the household pays the power account's October bill in the sandbox
    // before our citizen binds it: our citizen is reminded of September's only.
    let payer = app.citizen_token("account-reminders-payer").await;
    let power = json!({ "biller_id": "cd-power", "account_no": "3100123456" });
    let (status, account) = send(&app, "POST", "/v1/payments/accounts", Some(&payer), Some(power.clone())).await;
    assert_eq!(status, 200, "{account}");
    let bills_path = format!("/v1/payments/accounts/{}/bills", account["id"].as_str().unwrap());
    let (_, bills) = send(&app, "GET", &bills_path, Some(&payer), None).await;
    let october = bills.as_array().unwrap().iter().find(|b| b["period"] == "2026-10").unwrap().clone();
    let body = json!({ "kind": "bill", "bill_id": october["id"], "payer_openid": "oReminderPayer" });
    let (status, order) = send(&app, "POST", "/v1/payments/orders", Some(&payer), Some(body)).await;
    assert_eq!(status, 200, "{order}");
    let pay = format!("/sandbox/wechat/pay/_test/transactions/{}/pay", order["out_trade_no"].as_str().unwrap());
    assert_eq!(send(&app, "POST", &pay, None, Some(json!({ "notify": true }))).await.0, 200);
    let order_path = format!("/v1/payments/orders/{}", order["id"].as_str().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while send(&app, "GET", &order_path, Some(&payer), None).await.1["state"] != "paid" {
        assert!(std::time::Instant::now() < deadline, "the order was never paid");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(send(&app, "POST", "/v1/payments/accounts", Some(&citizen), Some(power)).await.0, 200);

    // A water bill due three Beijing days from today, through the finance office's import.
    let due = (0..3).fold(today, |d, _| d.succ_opt().unwrap());
    let file = format!("biller_id,account_no,period,amount_yuan,due_date\ncd-water,W00088001,2026-12,52.30,{due}\n");
    let import = json!({ "file_name": "water-2026-12.csv", "content": file });
    let (status, imported) = send(&app, "POST", "/v1/payments/imports/bills", Some(&officer), Some(import)).await;
    assert_eq!(status, 200, "{imported}");
    let water = json!({ "biller_id": "cd-water", "account_no": "W00088001" });
    assert_eq!(send(&app, "POST", "/v1/payments/accounts", Some(&citizen), Some(water)).await.0, 200);

    // The car: its two unpaid fines on binding, then one new fine from the traffic police's file.
    let car = json!({ "plate": "川A12345", "plate_type": "02", "engine_last6": "123456" });
    assert_eq!(send(&app, "POST", "/v1/payments/vehicles", Some(&citizen), Some(car)).await.0, 200);
    // confirmation 1 + power September 1 + water new 2 and due 1 + fines 2.
    sink.wait_for(address, 7).await;
    let fines = format!(
        "decision_no,plate,plate_type,engine_no,fine_yuan,decided_on,violation,location\n\
         5101041000099001,川A12345,02,LFV2A1K50123456,150,{today},闯红灯,人民南路四段\n"
    );
    let import = json!({ "file_name": "fines-new.csv", "content": fines });
    let (status, imported) = send(&app, "POST", "/v1/payments/imports/fines", Some(&officer), Some(import)).await;
    assert_eq!((status, imported["new_fines"].as_i64()), (200, Some(1)), "{imported}");
    sink.wait_for(address, 8).await;
    // Several more rounds send nothing again.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let mails = sink.to(address);
    assert_eq!(mails.len(), 8, "{mails:?}");
    let texts: Vec<String> = mails.iter().map(|m| text_of(m)).collect();
    let count = |subject: &str, text: &str| {
        mails.iter().zip(&texts).filter(|(m, t)| subject_has(m, subject) && t.contains(text)).count()
    };
    assert_eq!(count("New bill", "bill for 2026-09 is"), 1, "power's September: {texts:?}");
    assert_eq!(count("New bill", "bill for 2026-09/10 is"), 1, "{texts:?}");
    assert_eq!(count("New bill", "bill for 2026-12 is"), 1, "{texts:?}");
    assert_eq!(count("Bill due soon", &format!("due on {due}")), 1, "{texts:?}");
    assert_eq!(count("New traffic fine", "5101041000099001"), 1, "{texts:?}");
    assert_eq!(count("New traffic fine", ""), 3, "{texts:?}");
    assert_eq!(count("", "bill for 2026-10"), 0, "the paid bill sends none: {texts:?}");
    app.stop().await;
}
