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
    let app = Route::new().nest("/sandbox/wechat", city_wechat_sandbox::endpoint(&t.settings));
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
    t.cleanup().await;
}
