//! The identity API in-process behind the real edge middleware, talking to the WeChat sandbox
//! over HTTP on a random port, on both backends.

use std::time::Duration;

use city_identity::admin::{self, Actor, NewStaff};
use city_identity::IdentityService;
use city_platform::auth::{Role, Scopes, SharedAuthenticator};
use city_platform::outbox::Relay;
use city_platform::testing::{test_platform_with, TestPlatform};
use city_platform::Db;
use poem::endpoint::BoxEndpoint;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::test::TestClient;
use serde_json::{json, Value};

type Client = TestClient<BoxEndpoint<'static>>;

struct World {
    t: TestPlatform,
    client: Client,
    db: Db,
    auth: SharedAuthenticator,
    sandbox: String,
    http: reqwest::Client,
}

async fn world() -> World {
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let sandbox = format!("http://{addr}");
    let base = sandbox.clone();
    let t = test_platform_with(move |s| s.wechat.api_base = Some(base)).await;
    let ep = city_wechat_sandbox::endpoint(&t.settings).expect("the sandbox starts");
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(ep));
    let (api, db, auth) = IdentityService::start(t.platform.clone()).await.unwrap();
    let client = t.client(api, &db, auth.clone());
    World { t, client, db, auth, sandbox, http: reqwest::Client::new() }
}

impl World {
    async fn sandbox_post(&self, path: &str, body: Value) -> Value {
        let resp = self.http.post(format!("{}{path}", self.sandbox)).json(&body).send().await.unwrap();
        resp.json().await.unwrap()
    }

    async fn mp_code(&self, unionid: Option<&str>) -> String {
        let body = match unionid {
            Some(u) => json!({"unionid": u}),
            None => json!({}),
        };
        self.sandbox_post("/_test/mp/codes", body).await["code"].as_str().unwrap().to_owned()
    }

    async fn login(&self, unionid: Option<&str>) -> (String, String) {
        let code = self.mp_code(unionid).await;
        let resp = self.client.post("/v1/auth/miniprogram/login").body_json(&json!({"code": code})).send().await;
        resp.assert_status_is_ok();
        let v: Value = resp.json().await.value().deserialize();
        (v["token"].as_str().unwrap().to_owned(), v["citizen"]["id"].as_str().unwrap().to_owned())
    }

    async fn staff(&self, username: &str, roles: Vec<Role>) -> String {
        let password = "a long enough password";
        let hashed = city_identity::admin::hash_password_blocking(password);
        let n = NewStaff {
            username: username.into(),
            display_name: String::new(),
            password: password.into(),
            roles,
            scopes: Scopes { hospitals: vec!["h1".into()], ..Scopes::default() },
        };
        admin::create_staff(&self.db, &Actor::cli(), n, hashed).await.unwrap();
        let resp = self
            .client
            .post("/v1/staff/sessions")
            .body_json(&json!({"username": username, "password": password}))
            .send()
            .await;
        resp.assert_status_is_ok();
        let v: Value = resp.json().await.value().deserialize();
        v["token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let resp = self.client.get(path).header("authorization", format!("Bearer {token}")).send().await;
        status_json(resp).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let resp =
            self.client.post(path).header("authorization", format!("Bearer {token}")).body_json(&body).send().await;
        status_json(resp).await
    }

    async fn delete(&self, path: &str, token: &str) -> u16 {
        let resp = self.client.delete(path).header("authorization", format!("Bearer {token}")).send().await;
        resp.0.status().as_u16()
    }
}

async fn status_json(resp: poem::test::TestResponse) -> (u16, Value) {
    let status = resp.0.status().as_u16();
    let bytes = resp.0.into_body().into_bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The OAuth callback's answer as the session it carries (issue #23: a 302 to the page asked for,
/// the session in the `city_session` cookie): `{token, citizen, redirect}`, or the problem.
async fn callback_session(client: &Client, resp: poem::test::TestResponse) -> (u16, Value) {
    if resp.0.status() != poem::http::StatusCode::FOUND {
        return status_json(resp).await;
    }
    let redirect = resp.0.headers()["location"].to_str().unwrap().to_owned();
    let set_cookie = resp.0.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let token = set_cookie.split(';').next().unwrap().strip_prefix("city_session=").unwrap().to_owned();
    let (status, citizen) =
        status_json(client.get("/v1/me").header("authorization", format!("Bearer {token}")).send().await).await;
    assert_eq!(status, 200, "{citizen}");
    (200, json!({"token": token, "citizen": citizen, "redirect": redirect}))
}

/// A valid ID number born on `birth` (YYYYMMDD) with sequence `seq` (3 digits).
fn id_number(birth: &str, seq: &str) -> String {
    let first17 = format!("110105{birth}{seq}");
    let c = city_identity::domain::id_number::check_char(first17.as_bytes());
    format!("{first17}{}", c as char)
}

#[tokio::test]
async fn a_citizen_logs_in_adds_a_family_member_sees_it_masked_logs_out_and_the_token_is_refused() {
    let w = world().await;
    let (token, citizen_id) = w.login(Some("union-1")).await;
    let (status, me) = w.get("/v1/me", &token).await;
    assert_eq!(status, 200);
    assert_eq!(me["id"], citizen_id.as_str());
    assert_eq!(me["miniprogram"], true);
    assert!(!me.to_string().contains("openid"), "{me}");

    let id = id_number("19491231", "002");
    let (status, p) = w
        .post(
            "/v1/me/people",
            &token,
            json!({"name": "张三丰", "id_number": id, "relation": "parent", "phone": "13800138000"}),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(p["name_masked"], "张*丰");
    assert_eq!(p["sex"], "female");
    assert_eq!(p["birth_date"], "1949-12-31");
    assert_eq!(p["id_number_masked"], format!("110***********{}", &id[14..]));
    assert_eq!(p["phone_masked"], "138****8000");
    assert_eq!(p["id_number_hash"].as_str().unwrap().len(), 64);
    let (_, list) = w.get("/v1/me/people", &token).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&id), "the full ID number never leaves");
    assert!(!list.to_string().contains("张三丰"));

    assert_eq!(w.delete("/v1/auth/session", &token).await, 204);
    let (status, problem) = w.get("/v1/me", &token).await;
    assert_eq!(status, 401);
    assert_eq!(problem["type"], "/problems/unauthorized");
    assert_eq!(w.auth.bearer(&token).await.unwrap(), None);
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_reused_or_expired_login_code_is_a_4xx_naming_the_wechat_error() {
    let w = world().await;
    let code = w.mp_code(None).await;
    let first = w.client.post("/v1/auth/miniprogram/login").body_json(&json!({"code": code})).send().await;
    first.assert_status_is_ok();
    let (status, p) =
        status_json(w.client.post("/v1/auth/miniprogram/login").body_json(&json!({"code": code})).send().await).await;
    assert_eq!(status, 400);
    assert_eq!(p["type"], "/problems/wechat-code-used");
    assert_eq!(p["errors"][0]["field"], "code");

    let stale = w.mp_code(None).await;
    w.sandbox_post("/_test/clock/advance", json!({"seconds": 301})).await;
    let (status, p) =
        status_json(w.client.post("/v1/auth/miniprogram/login").body_json(&json!({"code": stale})).send().await).await;
    assert_eq!(status, 400);
    assert_eq!(p["type"], "/problems/wechat-invalid-code");

    let (status, p) =
        status_json(w.client.post("/v1/auth/miniprogram/login").body_json(&json!({"code": "made-up"})).send().await)
            .await;
    assert_eq!(status, 400);
    assert_eq!(p["type"], "/problems/wechat-invalid-code");
    w.t.cleanup().await;
}

#[tokio::test]
async fn the_same_unionid_through_the_service_account_is_the_same_citizen_and_without_it_another() {
    let w = world().await;
    let (_, mp_citizen) = w.login(Some("union-oa")).await;

    let resp = w.client.get("/v1/auth/oa/authorize").query("redirect", &"/h5/bookings").send().await;
    resp.assert_status(poem::http::StatusCode::FOUND);
    let location = resp.0.headers()["location"].to_str().unwrap().to_owned();
    let cookie = resp.0.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/connect/oauth2/authorize?appid=", w.sandbox)), "{location}");
    assert!(location.ends_with("#wechat_redirect"));
    let state = location.split("state=").nth(1).unwrap().trim_end_matches("#wechat_redirect").to_owned();

    let code = w.sandbox_post("/_test/oa/oauth-codes", json!({"unionid": "union-oa"})).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another browser (no cookie) cannot use this state.
    let (status, p) =
        status_json(w.client.get("/v1/auth/oa/callback").query("code", &code).query("state", &state).send().await)
            .await;
    assert_eq!(status, 400);
    assert_eq!(p["type"], "/problems/oauth-state-mismatch");

    let (status, s) = callback_session(
        &w.client,
        w.client
            .get("/v1/auth/oa/callback")
            .query("code", &code)
            .query("state", &state)
            .header("cookie", &cookie)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["citizen"]["id"], mp_citizen.as_str());
    assert_eq!(s["citizen"]["service_account"], true);
    assert_eq!(s["citizen"]["miniprogram"], true);
    assert_eq!(s["redirect"], "/h5/bookings");

    // The state is single use.
    let code2 = w.sandbox_post("/_test/oa/oauth-codes", json!({"unionid": "union-oa"})).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = callback_session(
        &w.client,
        w.client
            .get("/v1/auth/oa/callback")
            .query("code", &code2)
            .query("state", &state)
            .header("cookie", &cookie)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 400);

    // Without a unionid the Service Account person is someone new.
    let resp = w.client.get("/v1/auth/oa/authorize").send().await;
    let location = resp.0.headers()["location"].to_str().unwrap().to_owned();
    let cookie = resp.0.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let state = location.split("state=").nth(1).unwrap().trim_end_matches("#wechat_redirect").to_owned();
    let code = w.sandbox_post("/_test/oa/oauth-codes", json!({})).await["code"].as_str().unwrap().to_owned();
    let (status, s) = callback_session(
        &w.client,
        w.client
            .get("/v1/auth/oa/callback")
            .query("code", &code)
            .query("state", &state)
            .header("cookie", &cookie)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_ne!(s["citizen"]["id"], mp_citizen.as_str());
    w.t.cleanup().await;
}

#[tokio::test]
async fn an_open_redirect_is_refused_naming_the_field() {
    let w = world().await;
    let (status, p) =
        status_json(w.client.get("/v1/auth/oa/authorize").query("redirect", &"//evil.example").send().await).await;
    assert_eq!(status, 422);
    assert_eq!(p["errors"][0]["field"], "redirect");
    w.t.cleanup().await;
}

#[tokio::test]
async fn an_invalid_id_number_is_422_naming_the_field_and_another_citizens_person_is_404() {
    let w = world().await;
    let (a, _) = w.login(None).await;
    let (b, _) = w.login(None).await;
    let mut bad = id_number("19800101", "001");
    bad.replace_range(17.., if bad.ends_with('0') { "1" } else { "0" });
    let (status, p) = w.post("/v1/me/people", &a, json!({"name": "李四", "id_number": bad, "relation": "self"})).await;
    assert_eq!(status, 422);
    assert_eq!(p["errors"][0]["field"], "id_number");
    let (status, p) = w
        .post("/v1/me/people", &a, json!({"name": "李四", "id_number": "11010519800230001X", "relation": "self"}))
        .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "id_number");
    let (status, p) = w
        .post(
            "/v1/me/people",
            &a,
            json!({"name": "李四", "id_number": id_number("19800101", "001"), "relation": "boss"}),
        )
        .await;
    assert_eq!(status, 400, "{p}");
    assert_eq!(p["errors"][0]["field"], "relation");

    let (status, p) = w
        .post(
            "/v1/me/people",
            &a,
            json!({"name": "李四", "id_number": id_number("19800101", "001"), "relation": "self"}),
        )
        .await;
    assert_eq!(status, 201);
    let pid = p["id"].as_str().unwrap().to_owned();
    let (status, again) = w
        .post(
            "/v1/me/people",
            &a,
            json!({"name": "李四", "id_number": id_number("19800101", "001"), "relation": "self"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(again["type"], "/problems/person-exists");
    assert_eq!(w.get(&format!("/v1/me/people/{pid}"), &a).await.0, 200);
    assert_eq!(w.get(&format!("/v1/me/people/{pid}"), &b).await.0, 404);
    assert_eq!(w.delete(&format!("/v1/me/people/{pid}"), &b).await, 404);
    assert_eq!(w.delete(&format!("/v1/me/people/{pid}"), &a).await, 204);
    w.t.cleanup().await;
}

#[tokio::test]
async fn twenty_concurrent_adds_leave_exactly_five_family_members() {
    let w = world().await;
    let (token, _) = w.login(None).await;
    let adds = (0..20).map(|i| {
        let body = json!({"name": "王五", "id_number": id_number("19900101", &format!("{:03}", 100 + i)), "relation": "other"});
        w.post("/v1/me/people", &token, body)
    });
    let results = futures::future::join_all(adds).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 5);
    assert!(results.iter().filter(|(s, _)| *s != 201).all(|(s, p)| *s == 409 && p["type"] == "/problems/people-limit"));
    let (_, list) = w.get("/v1/me/people", &token).await;
    assert_eq!(list.as_array().unwrap().len(), 5);
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_phone_code_binds_a_masked_phone_even_after_the_access_token_was_revoked() {
    let w = world().await;
    let (token, _) = w.login(None).await;
    let code = w.sandbox_post("/_test/mp/phone-codes", json!({"phone": "13912345678"})).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, me) = w.post("/v1/me/phone", &token, json!({"code": code})).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["phone_masked"], "139****5678");

    // Someone forced a refresh elsewhere: our cached token now answers 40001; one refresh, one retry.
    w.sandbox_post("/_test/access-tokens/revoke", json!({})).await;
    let code = w.sandbox_post("/_test/mp/phone-codes", json!({"phone": "13800000001"})).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, me) = w.post("/v1/me/phone", &token, json!({"code": code})).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["phone_masked"], "138****0001");

    let (status, p) = w.post("/v1/me/phone", &token, json!({"code": code})).await;
    assert_eq!(status, 400);
    assert_eq!(p["type"], "/problems/wechat-code-used");
    w.t.cleanup().await;
}

#[tokio::test]
async fn the_role_matrix_of_the_staff_endpoints_holds() {
    let w = world().await;
    let admin = w.staff("admin1", vec![Role::Admin]).await;
    let clerk = w.staff("clerk1", vec![Role::Clerk]).await;
    let (citizen, _) = w.login(None).await;
    let admin_gets = ["/v1/staff/members", "/v1/staff/api-keys", "/v1/staff/audit"];
    for path in admin_gets {
        assert_eq!(w.get(path, &admin).await.0, 200, "{path} admin");
        assert_eq!(w.get(path, &clerk).await.0, 403, "{path} clerk");
        assert_eq!(w.get(path, &citizen).await.0, 403, "{path} citizen");
        assert_eq!(w.get(path, "garbage").await.0, 401, "{path} no token");
    }
    assert_eq!(w.get("/v1/staff/me", &clerk).await.0, 200);
    assert_eq!(w.get("/v1/staff/me", &citizen).await.0, 403);
    assert_eq!(w.get("/v1/me", &clerk).await.0, 403);
    assert_eq!(w.get("/v1/me/people", &admin).await.0, 403);
    let new_staff = json!({"username": "sched1", "password": "another long password", "roles": ["scheduler"], "scopes": {"hospitals": ["h9"]}});
    assert_eq!(w.post("/v1/staff/members", &clerk, new_staff.clone()).await.0, 403);
    assert_eq!(w.post("/v1/staff/api-keys", &clerk, json!({"name": "x", "scopes": ["open311"]})).await.0, 403);
    let (status, created) = w.post("/v1/staff/members", &admin, new_staff.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["scopes"]["hospitals"][0], "h9");
    assert!(!created.to_string().contains("argon2"));
    assert_eq!(w.post("/v1/staff/members", &admin, new_staff).await.0, 409);
    let (status, p) =
        w.post("/v1/staff/members", &admin, json!({"username": "x1", "password": "short", "roles": ["clerk"]})).await;
    assert_eq!(status, 422);
    assert_eq!(p["errors"][0]["field"], "username");
    w.t.cleanup().await;
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_and_disabling_ends_sessions_at_once() {
    let w = world().await;
    let admin = w.staff("boss", vec![Role::Admin]).await;
    let clerk = w.staff("clerk2", vec![Role::Clerk]).await;
    for _ in 0..5 {
        let (status, p) = status_json(
            w.client
                .post("/v1/staff/sessions")
                .body_json(&json!({"username": "clerk2", "password": "nope"}))
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(p["type"], "/problems/bad-credentials");
    }
    let (status, p) = status_json(
        w.client
            .post("/v1/staff/sessions")
            .body_json(&json!({"username": "clerk2", "password": "a long enough password"}))
            .send()
            .await,
    )
    .await;
    // Locked, and the right password: the same answer as a wrong one (issue #15).
    assert_eq!(status, 401);
    assert_eq!(p["type"], "/problems/bad-credentials");
    let (status, p) = status_json(
        w.client.post("/v1/staff/sessions").body_json(&json!({"username": "ghost", "password": "x"})).send().await,
    )
    .await;
    assert_eq!((status, p["type"].as_str()), (401, Some("/problems/bad-credentials")));

    let (_, me) = w.get("/v1/staff/me", &clerk).await;
    let clerk_id = me["id"].as_str().unwrap().to_owned();
    let (status, after) = w.post(&format!("/v1/staff/members/{clerk_id}/disable"), &admin, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(after["disabled"], true);
    assert_eq!(w.get("/v1/staff/me", &clerk).await.0, 401);
    w.t.cleanup().await;
}

#[tokio::test]
async fn an_api_key_is_shown_once_works_and_stops_working_when_revoked() {
    let w = world().await;
    let admin = w.staff("keymaster", vec![Role::Admin]).await;
    let (status, created) =
        w.post("/v1/staff/api-keys", &admin, json!({"name": "air feed", "scopes": ["air-ingest"]})).await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let integrator = w.auth.api_key(&key).await.unwrap().expect("the key works");
    assert_eq!(integrator.scopes, ["air-ingest"]);
    integrator.require("air-ingest").unwrap();
    assert!(integrator.require("open311").is_err());
    let (_, list) = w.get("/v1/staff/api-keys", &admin).await;
    assert!(!list.to_string().contains(&key));
    let id = created["api_key"]["id"].as_str().unwrap();
    assert_eq!(w.delete(&format!("/v1/staff/api-keys/{id}"), &admin).await, 204);
    assert_eq!(w.auth.api_key(&key).await.unwrap(), None);
    assert_eq!(w.delete(&format!("/v1/staff/api-keys/{id}"), &admin).await, 404);
    w.t.cleanup().await;
}

#[tokio::test]
async fn staff_actions_reach_the_audit_log_with_before_and_after() {
    let w = world().await;
    let relay = Relay::new(w.db.clone(), w.t.platform.bus.clone());
    tokio::spawn(relay.run(Duration::from_millis(20), w.t.platform.shutdown.clone()));
    let admin = w.staff("auditor", vec![Role::Admin]).await;
    let (status, _) = w
        .post(
            "/v1/staff/members",
            &admin,
            json!({"username": "newbie", "password": "a long enough password", "roles": ["finance"]}),
        )
        .await;
    assert_eq!(status, 201);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let entry = loop {
        let (_, log) = w.get("/v1/staff/audit?service=identity", &admin).await;
        if let Some(e) = log.as_array().unwrap().iter().find(|e| e["actor_name"] == "auditor") {
            break e.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the audit entry never arrived: {log}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(entry["action"], "create_staff");
    assert_eq!(entry["after"]["username"], "newbie");
    assert!(entry["before"].is_null());
    assert!(entry["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{entry}");
    w.t.cleanup().await;
}

#[tokio::test]
async fn introspection_answers_only_for_the_credential_given() {
    let w = world().await;
    let (token, citizen) = w.login(None).await;
    let (status, v) =
        status_json(w.client.post("/v1/auth/introspect").body_json(&json!({"token": token})).send().await).await;
    assert_eq!(status, 200);
    assert_eq!(v["active"], true);
    assert_eq!(v["principal"]["kind"], "citizen");
    assert_eq!(v["principal"]["citizen_id"], citizen.as_str());
    let (_, v) =
        status_json(w.client.post("/v1/auth/introspect").body_json(&json!({"token": "x".repeat(43)})).send().await)
            .await;
    assert_eq!(v["active"], false);
    assert!(v["principal"].is_null());
    w.t.cleanup().await;
}

impl World {
    /// Signs in through the Service Account OAuth (sandbox) as `openid`, with `unionid` if given.
    async fn oa_sign_in(&self, openid: &str, unionid: Option<&str>) -> Value {
        let resp = self.client.get("/v1/auth/oa/authorize").send().await;
        let location = resp.0.headers()["location"].to_str().unwrap().to_owned();
        let cookie = resp.0.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let state = location.split("state=").nth(1).unwrap().trim_end_matches("#wechat_redirect").to_owned();
        let code = self.sandbox_post("/_test/oa/oauth-codes", json!({"openid": openid, "unionid": unionid})).await
            ["code"]
            .as_str()
            .unwrap()
            .to_owned();
        let resp = self
            .client
            .get("/v1/auth/oa/callback")
            .query("code", &code)
            .query("state", &state)
            .header("cookie", &cookie)
            .send()
            .await;
        let (status, session) = callback_session(&self.client, resp).await;
        assert_eq!(status, 200, "{session}");
        session
    }

    /// GET with an `X-Internal-Token` (or none).
    async fn internal_get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(path);
        if let Some(token) = token {
            req = req.header("x-internal-token", token);
        }
        status_json(req.send().await).await
    }
}

#[tokio::test]
async fn a_service_account_follower_resolves_to_their_citizen_and_contacts_only_with_the_internal_token() {
    let w = world().await;
    let token = w.t.platform.internal_token.expose().to_owned();
    let (_, citizen) = w.login(Some("union-follower")).await;
    let openid = "oFollowerFromOauth0000000001";
    let session = w.oa_sign_in(openid, Some("union-follower")).await;
    assert_eq!(session["citizen"]["id"], citizen.as_str(), "the same person through both apps");

    let follower = format!("/v1/internal/identity/oa-followers/{openid}");
    let (status, v) = w.internal_get(&follower, Some(&token)).await;
    assert_eq!((status, v), (200, json!({"citizen_id": citizen})));

    let contacts = format!("/v1/internal/identity/citizens/{citizen}/contacts");
    let (status, v) = w.internal_get(&contacts, Some(&token)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["oa_openid"], openid);
    assert!(v["mp_openid"].as_str().is_some_and(|o| o.starts_with('o') && o != openid), "{v}");
    assert!(v["email"].is_null(), "{v}");

    // A follower who never signed in, and a citizen who does not exist: 404 problems.
    let (status, p) =
        w.internal_get("/v1/internal/identity/oa-followers/oNeverSignedIn000000000000001", Some(&token)).await;
    assert_eq!((status, p["type"].as_str()), (404, Some("/problems/not-found")), "{p}");
    let (status, _) = w
        .internal_get("/v1/internal/identity/citizens/0193a0b0-0000-7000-8000-000000000000/contacts", Some(&token))
        .await;
    assert_eq!(status, 404);
    // A path that is no openid is refused naming it.
    let (status, p) = w.internal_get("/v1/internal/identity/oa-followers/o%27%3B--", Some(&token)).await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "openid", "{p}");

    // Without the token, or with a wrong one: 401, and nothing about the citizen.
    for presented in [None, Some("not-the-internal-token")] {
        for path in [&follower, &contacts] {
            let (status, p) = w.internal_get(path, presented).await;
            assert_eq!(status, 401, "{path} with {presented:?}: {p}");
            assert!(!p.to_string().contains(&citizen) && !p.to_string().contains(openid), "{p}");
        }
    }
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_citizen_who_only_used_the_mini_program_has_no_service_account_openid() {
    let w = world().await;
    let token = w.t.platform.internal_token.expose().to_owned();
    let (_, citizen) = w.login(None).await;
    let (status, v) = w.internal_get(&format!("/v1/internal/identity/citizens/{citizen}/contacts"), Some(&token)).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["oa_openid"].is_null() && v["mp_openid"].is_string(), "{v}");
    w.t.cleanup().await;
}
