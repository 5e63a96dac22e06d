//! The injection point for a city's real-name authority (issue #15): `IdentityService::start_with`
//! puts the authority behind every family member added, and a production start refuses the
//! sandbox's check unless it is explicitly allowed. Both backends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use city_identity::domain::id_number::IdNumber;
use city_identity::{IdentityService, RealNameCheck, RealNameUnavailable, RealNameVerdict, StartError};
use city_platform::config::Profile;
use city_platform::testing::test_platform_with;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{json, Value};

/// A city's authority that knows one holder only, and counts the questions it was asked.
struct OneHolder(Arc<AtomicUsize>);

#[async_trait]
impl RealNameCheck for OneHolder {
    async fn check(&self, name: &str, _id: &IdNumber) -> Result<RealNameVerdict, RealNameUnavailable> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(if name == "张三丰" { RealNameVerdict::Match } else { RealNameVerdict::Mismatch })
    }
}

fn id_number(seq: &str) -> String {
    let first17 = format!("11010519491231{seq}");
    let c = city_identity::domain::id_number::check_char(first17.as_bytes());
    format!("{first17}{}", c as char)
}

#[tokio::test]
async fn a_plugged_in_authority_decides_every_family_member_added() {
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let sandbox = format!("http://{addr}");
    let base = sandbox.clone();
    let t = test_platform_with(move |s| s.wechat.api_base = Some(base)).await;
    let ep = city_wechat_sandbox::endpoint(&t.settings).expect("the sandbox starts");
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(ep));
    let asked = Arc::new(AtomicUsize::new(0));
    let (api, db, auth) = IdentityService::start_with(t.platform.clone(), Arc::new(OneHolder(asked.clone())))
        .await
        .expect("starts with the city's authority");
    let client = t.client(api, &db, auth);

    let http = reqwest::Client::new();
    let code: Value = http
        .post(format!("{sandbox}/_test/mp/codes"))
        .json(&json!({"unionid": "authority-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = client.post("/v1/auth/miniprogram/login").body_json(&json!({"code": code["code"]})).send().await;
    resp.assert_status_is_ok();
    let login: Value = resp.json().await.value().deserialize();
    let bearer = format!("Bearer {}", login["token"].as_str().unwrap());

    // A name the sandbox would take, refused by the city's authority.
    let stranger = json!({"name": "李四", "id_number": id_number("003"), "relation": "parent"});
    let resp = client.post("/v1/me/people").header("authorization", &bearer).body_json(&stranger).send().await;
    resp.assert_status(poem::http::StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = resp.json().await.value().deserialize();
    assert_eq!(problem["type"], "/problems/real-name-mismatch", "{problem}");
    let holder = json!({"name": "张三丰", "id_number": id_number("002"), "relation": "parent"});
    let resp = client.post("/v1/me/people").header("authorization", &bearer).body_json(&holder).send().await;
    resp.assert_status(poem::http::StatusCode::CREATED);
    assert_eq!(asked.load(Ordering::SeqCst), 2, "the authority was asked about each");
    t.track(&db);
    t.cleanup().await;
}

#[tokio::test]
async fn production_refuses_the_sandbox_check_unless_allowed_and_takes_a_city_authority() {
    let t = test_platform_with(|_| {}).await;
    let production = |allow: bool| {
        let mut platform = t.platform.clone();
        let mut settings = (*platform.settings).clone();
        settings.profile = Profile::Production;
        settings.identity.allow_sandbox_real_name = allow;
        platform.settings = Arc::new(settings);
        platform
    };
    let refused = IdentityService::start(production(false)).await.err().expect("refused");
    assert!(matches!(refused, StartError::SandboxRealName), "{refused}");
    assert!(refused.to_string().contains("CITY_IDENTITY__ALLOW_SANDBOX_REAL_NAME"), "{refused}");

    let (_, db, _) = IdentityService::start(production(true)).await.expect("allowed knowingly");
    t.track(&db);
    let (_, db, _) = IdentityService::start_with(production(false), Arc::new(OneHolder(Arc::default())))
        .await
        .expect("a city's own authority needs no allowance");
    t.track(&db);
    t.cleanup().await;
}
