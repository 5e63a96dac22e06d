//! `GET/POST /wechat/callback` (the city's Service Account) and `/wechat/callback/{account}`
//! (a departmental one, issue #20): WeChat's URL verification and message pushes, plaintext and
//! safe mode, as the account's callback mode allows (`wechat.oa_callback_mode`, or the
//! account's `callback_mode`: plaintext, compatible, safe). Each account checks signatures with
//! its own token and key, so a push signed for one account is refused at another's URL.
//!
//! Order of checks on a push: timestamp freshness, the mode, signature (`signature` in plaintext mode,
//! `msg_signature` over `Encrypt` in safe mode), decryption (appid checked), XML, then the dedupe
//! claim in the shared cache ([`crate::claim`]). Anything failing before the claim is rejected
//! with a 4xx, logged, and changes nothing. Follower state is written in batches off this path
//! ([`crate::followers`]).
//! The answer comes within WeChat's 5 seconds: the passive reply when the services answered in
//! time, otherwise `success` and the answer follows as a customer-service message.

use std::sync::Arc;

use city_platform::config::CallbackMode;
use city_platform::time::now_ms;
use city_wechat::crypto::official_account::{new_nonce, verify_url_signature};
use city_wechat::xml::{EncryptedEnvelope, PushMessage, ReplyKind};
use city_wechat::WechatError;
use poem::http::StatusCode;
use poem::{Body, Response};
use serde::Deserialize;

mod api;

pub use api::{routes, CallbackApi};

use crate::accounts::Account;
use crate::claim::{self, Claim};
use crate::state::ChannelState;

/// Pushes whose timestamp is further than this from our clock are refused (replay protection).
pub const MAX_SKEW_SECS: i64 = 300;
/// No WeChat push comes near this size.
const MAX_PUSH_BYTES: usize = 64 * 1024;

/// The query WeChat sends with every callback request.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
    encrypt_type: Option<String>,
    msg_signature: Option<String>,
}

fn reject(status: StatusCode, why: &'static str) -> Response {
    tracing::warn!(reason = why, "wechat callback rejected");
    Response::builder().status(status).content_type("text/plain; charset=utf-8").body(why)
}

fn text(body: String) -> Response {
    Response::builder().content_type("text/plain; charset=utf-8").body(body)
}

fn xml(body: String) -> Response {
    Response::builder().content_type("application/xml; charset=utf-8").body(body)
}

/// `GET /wechat/callback`: answers WeChat's server-URL check with the echo string.
pub async fn verify(q: CallbackQuery, account: &Account) -> Response {
    let (Some(signature), Some(timestamp), Some(nonce), Some(echostr)) = (q.signature, q.timestamp, q.nonce, q.echostr)
    else {
        return reject(StatusCode::BAD_REQUEST, "signature, timestamp, nonce and echostr are required");
    };
    if verify_url_signature(account.crypt.token(), &timestamp, &nonce, &signature).is_err() {
        return reject(StatusCode::FORBIDDEN, "invalid signature");
    }
    text(echostr)
}

/// `POST /wechat/callback`: a message or event push.
pub async fn push(q: CallbackQuery, state: &Arc<ChannelState>, account: Arc<Account>, body: Body) -> Response {
    let state = state.clone();
    let (Some(timestamp), Some(nonce)) = (q.timestamp.as_deref(), q.nonce.as_deref()) else {
        return reject(StatusCode::BAD_REQUEST, "timestamp and nonce are required");
    };
    let Ok(ts) = timestamp.parse::<i64>() else {
        return reject(StatusCode::BAD_REQUEST, "timestamp is not a number");
    };
    if (now_ms() / 1000 - ts).abs() > MAX_SKEW_SECS {
        return reject(StatusCode::FORBIDDEN, "stale timestamp");
    }
    let Ok(bytes) = body.into_bytes_limit(MAX_PUSH_BYTES).await else {
        return reject(StatusCode::PAYLOAD_TOO_LARGE, "push too large or unreadable");
    };
    let Ok(raw) = std::str::from_utf8(&bytes) else {
        return reject(StatusCode::BAD_REQUEST, "push is not UTF-8");
    };
    let safe_mode = q.encrypt_type.as_deref() == Some("aes");
    // The mode chosen in WeChat's console: in safe mode a plaintext push is refused (its
    // signature covers the query, not the body, so a captured query would carry any body).
    match (account.mode, safe_mode) {
        (CallbackMode::Safe, false) => {
            return reject(StatusCode::FORBIDDEN, "plaintext push refused: the account is in safe mode")
        }
        (CallbackMode::Plaintext, true) => {
            return reject(StatusCode::BAD_REQUEST, "encrypted push refused: the account is in plaintext mode")
        }
        _ => {}
    }
    let plain = if safe_mode {
        let Some(msg_signature) = q.msg_signature.as_deref() else {
            return reject(StatusCode::BAD_REQUEST, "msg_signature is required in safe mode");
        };
        let Ok(envelope) = EncryptedEnvelope::parse(raw) else {
            return reject(StatusCode::BAD_REQUEST, "malformed safe-mode envelope");
        };
        match account.crypt.decrypt_push(msg_signature, timestamp, nonce, &envelope.encrypt) {
            Ok(plain) => plain,
            Err(WechatError::SignatureMismatch) => return reject(StatusCode::FORBIDDEN, "invalid msg_signature"),
            Err(_) => return reject(StatusCode::BAD_REQUEST, "undecryptable push"),
        }
    } else {
        let Some(signature) = q.signature.as_deref() else {
            return reject(StatusCode::BAD_REQUEST, "signature is required");
        };
        if verify_url_signature(account.crypt.token(), timestamp, nonce, signature).is_err() {
            return reject(StatusCode::FORBIDDEN, "invalid signature");
        }
        raw.to_owned()
    };
    let Ok(msg) = PushMessage::parse(&plain) else {
        return reject(StatusCode::BAD_REQUEST, "malformed push XML");
    };

    // The city's keys stay as they were; another account's carry its appid (openids are per
    // account at WeChat, but nothing should depend on that here).
    let key = if account.key == city_platform::config::CITY_ACCOUNT {
        msg.dedupe_key()
    } else {
        format!("{}:{}", account.appid, msg.dedupe_key())
    };
    let content = match claim::claim(&*state.platform.cache, &key).await {
        Ok(Claim::New) => respond_in_time(&state, &account.appid, msg.clone(), key).await,
        // A retry: no second effect; the same words again if the first delivery has them.
        Ok(Claim::Seen(reply)) => reply,
        Err(e) => {
            // WeChat will retry; nothing happened yet.
            tracing::error!(error = %e, "dedupe cache unavailable");
            return Response::builder().status(StatusCode::SERVICE_UNAVAILABLE).body("cache unavailable");
        }
    };
    let Some(content) = content else {
        return text("success".into());
    };
    let reply = msg.reply(now_ms() / 1000, ReplyKind::Text { content }).to_xml();
    if !safe_mode {
        return xml(reply);
    }
    match account.crypt.encrypt_reply(&reply, now_ms() / 1000, &new_nonce()) {
        Ok(encrypted) => xml(encrypted.to_xml()),
        Err(e) => {
            tracing::error!(error = %e, "could not encrypt a reply");
            text("success".into())
        }
    }
}

/// Runs the push's effects and answer; if they outlast the reply budget, WeChat gets `success`
/// now and the answer follows as a customer-service message.
async fn respond_in_time(state: &Arc<ChannelState>, account: &str, msg: PushMessage, key: String) -> Option<String> {
    let mut worker = {
        let state = state.clone();
        let msg = msg.clone();
        let key = key.clone();
        let account = account.to_owned();
        tokio::spawn(async move {
            let reply = state.respond(&account, &msg, &key).await;
            if let Err(e) = claim::remember(&*state.platform.cache, &key, reply.as_deref()).await {
                tracing::warn!(error = %e, "could not keep a reply for retries");
            }
            reply
        })
    };
    match tokio::time::timeout(state.reply_budget, &mut worker).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "push handler failed");
            None
        }
        Err(_) => {
            let state = state.clone();
            let account = account.to_owned();
            tokio::spawn(async move {
                if let Ok(Some(content)) = worker.await {
                    state.send_late(&account, &msg.from_user_name, &content).await;
                }
            });
            None
        }
    }
}
