//! The WeChat sandbox: a local simulator of WeChat's servers with the same paths, parameters,
//! JSON shapes, error codes, signatures and encryption, mounted at `/sandbox/wechat` in the
//! all-in-one portal and usable alone in tests. Helpers that WeChat does not have live under
//! `/_test/`.
//!
//! Layout: [`platform`] simulates the Mini Program and Service Account APIs
//! (`/sns/jscode2session`, `/cgi-bin/stable_token`, OAuth, ...); [`pay`] simulates a WeChat Pay
//! v3 merchant account (`/pay/v3/...`); [`messages`] the message and menu endpoints, which
//! accept only access tokens [`platform`] issued; [`mass`] broadcasts, drafts, tags and the
//! cover upload, with the monthly limit and the `MASSSENDJOBFINISH` push.
//!
//! Invariants: it exists only in the `demo` profile; it is a peer, not a library of the services: they reach it only over HTTP, at the
//! base URL in their configuration, exactly as they would reach WeChat.

pub mod document;
mod follower;
pub mod mass;
pub mod messages;
pub mod pay;
pub mod platform;
pub mod security;

use city_platform::config::{Profile, Settings};
use poem::Route;

/// Every sandbox route, to be nested at `/sandbox/wechat`, from prepared settings (the demo
/// set's keys). Refused in the `production` profile: a deployment has no sandbox, since its
/// `_test` helpers pay orders and mint logins for anyone.
pub fn endpoint(settings: &Settings) -> Result<Route, String> {
    if settings.profile != Profile::Demo {
        return Err("the WeChat sandbox exists only in the demo profile".into());
    }
    let (platform_routes, tokens) = platform::routes_and_tokens(settings);
    let route = mass::mount(Route::new(), tokens.clone(), settings);
    let interactions = follower::Interactions::default();
    let route = follower::mount(route, settings, interactions.clone(), tokens.clone());
    let links_max = usize::try_from(settings.channel.miniprogram_links_max).unwrap_or(10);
    Ok(messages::mount(route, tokens, interactions, links_max)
        .nest("/pay", pay::routes(settings)?)
        .at("/wxa/msg_sec_check", security::msg_sec_check_endpoint())
        // Its own document, apart from the portal's (issue #16); like the sandbox, demo only.
        .at("/openapi.json", document_endpoint())
        .nest("/", platform_routes))
}

fn document_endpoint() -> impl poem::Endpoint<Output = poem::Response> {
    let text = document::openapi("/sandbox/wechat");
    poem::endpoint::make_sync(move |_| poem::Response::builder().content_type("application/json").body(text.clone()))
}
