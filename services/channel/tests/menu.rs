//! `city wechat menu push|show|delete` against the sandbox served on a real loopback port.

use city_channel::menu_ops::{self, MenuOpError};
use city_channel::MENU_SEED;
use city_platform::testing::test_platform;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Route, Server};
use serde_json::Value;

#[tokio::test]
async fn the_menu_file_pushed_to_the_sandbox_round_trips_through_show_and_delete_removes_it() {
    let t = test_platform().await;
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app =
        Route::new().nest("/sandbox/wechat", city_wechat_sandbox::endpoint(&t.settings).expect("the sandbox starts"));
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    let mut settings = t.settings.clone();
    settings.wechat.api_base = Some(format!("http://{addr}/sandbox/wechat"));
    let api = menu_ops::oa_api(&settings);

    menu_ops::push(&api, None).await.unwrap();
    let shown = menu_ops::show(&api).await.unwrap();
    let seed: Value = serde_json::from_str(MENU_SEED).unwrap();
    assert_eq!(shown, seed);

    let too_long = MENU_SEED.replace("\"城市服务\"", "\"城市服务中心大厅\"");
    assert!(matches!(menu_ops::push(&api, Some(&too_long)).await, Err(MenuOpError::Invalid(_))));

    menu_ops::delete(&api).await.unwrap();
    let gone = menu_ops::show(&api).await.unwrap_err();
    assert!(matches!(gone, MenuOpError::Wechat(e) if e.errcode() == Some(46003)));

    // Networked accounts (issue #20): each departmental account gets its own menu through its
    // own client; the city's stays as it is (deleted above).
    let pushed = menu_ops::push_accounts(&settings).await;
    assert_eq!(
        pushed.iter().map(|(k, r)| (k.as_str(), r.is_ok())).collect::<Vec<_>>(),
        [("health", true), ("traffic", true)]
    );
    let health = menu_ops::show(&menu_ops::account_api(&settings, "health").unwrap()).await.unwrap();
    assert!(health.to_string().contains("TALK_TO_AGENT_BOOKING"), "{health}");
    let traffic = menu_ops::show(&menu_ops::account_api(&settings, "traffic").unwrap()).await.unwrap();
    assert!(traffic.to_string().contains("TALK_TO_AGENT_PAYMENTS"), "{traffic}");
    assert!(matches!(menu_ops::show(&api).await, Err(MenuOpError::Wechat(e)) if e.errcode() == Some(46003)));
    t.cleanup().await;
}

#[tokio::test]
async fn the_sandbox_message_endpoints_take_only_access_tokens_it_issued_to_the_right_app() {
    use city_notify::wechat::{WechatApi, WechatMessages};
    use serde_json::json;

    let t = test_platform().await;
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(
        Server::new_with_acceptor(acceptor)
            .run(city_wechat_sandbox::endpoint(&t.settings).expect("the sandbox starts")),
    );
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let w = &t.settings.wechat;
    let post = |path: String, body: Value| {
        let http = http.clone();
        async move { http.post(path).json(&body).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let token_of = |appid: String, secret: String| {
        let base = base.clone();
        async move {
            let answer = post(
                format!("{base}/cgi-bin/stable_token"),
                json!({"grant_type": "client_credential", "appid": appid, "secret": secret}),
            )
            .await;
            answer["access_token"].as_str().unwrap().to_owned()
        }
    };
    let oa_token = token_of(w.oa_appid.clone(), w.oa_secret.expose().to_owned()).await;
    let mp_token = token_of(w.mp_appid.clone(), w.mp_secret.expose().to_owned()).await;
    let template = |token: &str| {
        post(
            format!("{base}/cgi-bin/message/template/send?access_token={token}"),
            json!({"touser": "oSomeone", "template_id": "TPL"}),
        )
    };
    assert_eq!(template("made-up-token").await["errcode"], 40001);
    assert_eq!(post(format!("{base}/cgi-bin/message/template/send"), json!({})).await["errcode"], 41001);
    assert_eq!(template(&mp_token).await["errcode"], 48001, "the Mini Program's token is not the account's");
    assert_eq!(template(&oa_token).await["errcode"], 0);
    let subscribe = post(
        format!("{base}/cgi-bin/message/subscribe/send?access_token={oa_token}"),
        json!({"touser": "oSomeone", "template_id": "TPL"}),
    )
    .await;
    assert_eq!(subscribe["errcode"], 48001);

    // A revoked token stops working; the client notices (40001), fetches a new one and retries.
    let client = WechatApi::new(base.clone(), w.oa_appid.clone(), w.oa_secret.expose());
    client.send_template("oSomeone", json!({"template_id": "TPL"})).await.unwrap();
    post(format!("{base}/_test/access-tokens/revoke"), json!({"appid": w.oa_appid})).await;
    assert_eq!(template(&oa_token).await["errcode"], 40001);
    client.send_template("oSomeone", json!({"template_id": "TPL"})).await.unwrap();
    t.cleanup().await;
}
