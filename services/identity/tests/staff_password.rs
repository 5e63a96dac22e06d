//! Staff change their own password; an admin-created account's temporary password is flagged
//! until they do. In-process behind the real edge middleware, on both backends.

use city_identity::admin::{self, Actor, NewStaff};
use city_identity::IdentityService;
use city_platform::auth::{Role, Scopes};
use city_platform::testing::test_platform;
use serde_json::{json, Value};

async fn send(resp: poem::test::TestResponse) -> (u16, Value) {
    let status = resp.0.status().as_u16();
    let bytes = resp.0.into_body().into_bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_temporary_password_is_flagged_until_its_holder_changes_it_and_only_they_can() {
    let t = test_platform().await;
    let (api, db, auth) = IdentityService::start(t.platform.clone()).await.unwrap();
    let client = t.client(api, &db, auth);
    // The audit log is fed by the outbox's events.
    let relay = city_platform::outbox::Relay::new(db.clone(), t.platform.bus.clone());
    tokio::spawn(relay.run(std::time::Duration::from_millis(20), t.platform.shutdown.clone()));
    let admin_password = "the admin's long password";
    let n = NewStaff {
        username: "admin".into(),
        display_name: String::new(),
        password: admin_password.into(),
        roles: vec![Role::Admin],
        scopes: Scopes::default(),
    };
    admin::create_staff(&db, &Actor::cli(), n, admin::hash_password_blocking(admin_password)).await.unwrap();
    let sign_in = |username: &'static str, password: &'static str| {
        let client = &client;
        async move {
            send(
                client
                    .post("/v1/staff/sessions")
                    .body_json(&json!({"username": username, "password": password}))
                    .send()
                    .await,
            )
            .await
        }
    };
    let (status, admin_session) = sign_in("admin", "the admin's long password").await;
    assert_eq!(status, 200);
    assert_eq!(admin_session["staff"]["must_change_password"], false, "a command-line account chose its own");
    let admin_token = admin_session["token"].as_str().unwrap().to_owned();

    // An admin creates a clerk: the password they set is temporary unless they say otherwise.
    let (status, created) = send(
        client
            .post("/v1/staff/members")
            .header("authorization", format!("Bearer {admin_token}"))
            .body_json(&json!({"username": "jj.new", "password": "temporary password 1", "roles": ["clerk"],
                               "scopes": {"districts": ["510104"]}}))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["must_change_password"], true);
    let (_, session) = sign_in("jj.new", "temporary password 1").await;
    assert_eq!(session["staff"]["must_change_password"], true);
    let token = session["token"].as_str().unwrap().to_owned();
    let change = |token: String, body: Value| {
        let client = &client;
        async move {
            send(
                client
                    .post("/v1/staff/me/password")
                    .header("authorization", format!("Bearer {token}"))
                    .body_json(&body)
                    .send()
                    .await,
            )
            .await
        }
    };

    // Refusals name the field; none changes anything.
    let (status, p) =
        change(token.clone(), json!({"current_password": "not it at all", "new_password": "my own password"})).await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "current_password", "{p}");
    let (status, p) =
        change(token.clone(), json!({"current_password": "temporary password 1", "new_password": "short"})).await;
    assert_eq!(status, 422);
    assert_eq!(p["errors"][0]["field"], "new_password", "{p}");
    let (status, p) = change(
        token.clone(),
        json!({"current_password": "temporary password 1", "new_password": "temporary password 1"}),
    )
    .await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("new_password")));
    let (status, _) = send(
        client
            .post("/v1/staff/me/password")
            .body_json(&json!({"current_password": "a", "new_password": "b"}))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 401, "no credentials");

    // The change itself.
    let (status, me) =
        change(token.clone(), json!({"current_password": "temporary password 1", "new_password": "my own password"}))
            .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["must_change_password"], false);
    assert_eq!(sign_in("jj.new", "temporary password 1").await.0, 401, "the old password is gone");
    let (status, session) = sign_in("jj.new", "my own password").await;
    assert_eq!(status, 200);
    assert_eq!(session["staff"]["must_change_password"], false);

    // Audited, without the password.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let entry = loop {
        let (_, audit) =
            send(client.get("/v1/staff/audit").header("authorization", format!("Bearer {admin_token}")).send().await)
                .await;
        if let Some(e) = audit.as_array().unwrap().iter().find(|e| e["action"] == "change_own_password") {
            break e.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the change never reached the audit log: {audit}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(!entry.to_string().contains("my own password"));
    t.cleanup().await;
}
