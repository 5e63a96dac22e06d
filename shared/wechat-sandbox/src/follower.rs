//! The follower's side of the Service Account, which WeChat plays for real users: a message
//! typed into the chat reaches the channel's callback as WeChat pushes it (signed, and sealed in
//! safe mode), and opens the follower's 48-hour window for customer-service replies. With it, a
//! person tries the assistant and the agents' conversations from the command line:
//! `POST /_test/oa/say {"openid","text"}` or `{"openid","location":{"lat","lon"}}` answers the
//! callback's status and its passive reply, opened when sealed. `"account"` (a key such as
//! `health`, or an appid) writes to that Service Account instead of the city's: the push goes to
//! its callback (`/wechat/callback/<key>`), signed with its token, and opens its window.
//!
//! `"unionid"` in place of the openid writes as the person with that unionid (their openid in
//! that account, answered as `openid`), whom `GET /cgi-bin/user/info` then tells by unionid.
//!
//! [`Callback`] is the one way the sandbox pushes to the channel (broadcast job results too).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use city_platform::config::{service_accounts, CallbackMode, ServiceAccount, Settings, Topology, CITY_ACCOUNT};
use city_platform::time::now_ms;
use city_wechat::crypto::official_account::{new_nonce, url_signature, EncodingAesKey, MessageCrypt, ServerToken};
use parking_lot::Mutex;
use poem::http::StatusCode;
use poem::web::{Data, Json, Query};
use poem::{get, handler, post, EndpointExt, IntoResponse, Response, Route};
use serde::Deserialize;
use serde_json::json;

use crate::platform::IssuedTokens;

/// The Service Account's original id, as WeChat names it in pushes.
pub(crate) const OA_ID: &str = "gh_0123456789ab";

/// When each follower last wrote to each Service Account, by (appid, openid): the 48-hour
/// window, shared with the customer-service send.
pub(crate) type Interactions = Arc<Mutex<HashMap<(String, String), i64>>>;

/// The channel's callback, as WeChat reaches it.
pub(crate) struct Callback {
    /// The Service Account's original id (`ToUserName`).
    gh: String,
    url: String,
    crypt: Option<MessageCrypt>,
    safe_mode: bool,
    http: reqwest::Client,
}

impl Callback {
    /// Where `settings` place the channel, with its token and AES key.
    pub(crate) fn from_settings(settings: &Settings) -> Self {
        let city = service_accounts(settings).swap_remove(0);
        Self::for_account(settings, &city)
    }

    /// `account`'s callback: `/wechat/callback` for the city's, `/wechat/callback/<key>` else.
    pub(crate) fn for_account(settings: &Settings, account: &ServiceAccount) -> Self {
        let channel = match settings.topology {
            Topology::Together => format!("http://{}", settings.listen),
            Topology::Apart => settings.services.channel.first().trim_end_matches('/').to_owned(),
        };
        let crypt = match (ServerToken::parse(account.token.expose()), EncodingAesKey::parse(account.aes_key.expose()))
        {
            (Ok(token), Ok(key)) => Some(MessageCrypt::new(token, key, account.appid.clone())),
            _ => None,
        };
        let (url, gh) = if account.key == CITY_ACCOUNT {
            (format!("{channel}/wechat/callback"), OA_ID.to_owned())
        } else {
            (format!("{channel}/wechat/callback/{}", account.key), format!("gh_{:0<12.12}", account.key))
        };
        Self {
            gh,
            url,
            crypt,
            safe_mode: account.callback_mode == CallbackMode::Safe,
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
        }
    }

    /// Pushes `xml` from `openid` once; the callback's status and body, the body opened when
    /// sealed. `Err` when the sandbox has no usable token or the callback is unreachable.
    pub(crate) async fn push(&self, xml: &str, openid: &str) -> Result<(u16, String), String> {
        let crypt = self.crypt.as_ref().ok_or("no usable Service Account token")?;
        let ts = now_ms() / 1000;
        let ts_text = ts.to_string();
        let nonce = new_nonce();
        let mut query = vec![("timestamp", ts_text.clone()), ("nonce", nonce.clone()), ("openid", openid.to_owned())];
        let body = if self.safe_mode {
            let sealed = crypt.encrypt_reply(xml, ts, &nonce).map_err(|e| e.to_string())?;
            query.push(("encrypt_type", "aes".into()));
            query.push(("msg_signature", sealed.msg_signature.clone()));
            format!(
                "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
                self.gh, sealed.encrypt
            )
        } else {
            query.push(("signature", url_signature(crypt.token(), &ts_text, &nonce)));
            xml.to_owned()
        };
        let resp = self
            .http
            .post(&self.url)
            .header("content-type", "text/xml")
            .query(&query)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok((status, self.open(text)))
    }

    /// A sealed passive reply, opened; anything else as it came.
    fn open(&self, reply: String) -> String {
        let sealed = reply
            .split("<Encrypt><![CDATA[")
            .nth(1)
            .and_then(|rest| rest.split("]]></Encrypt>").next())
            .map(str::to_owned);
        match (sealed, &self.crypt) {
            (Some(sealed), Some(crypt)) => crypt.decrypt(&sealed).unwrap_or(reply),
            _ => reply,
        }
    }
}

struct State {
    /// Each Service Account's (key, appid, callback); the city's first.
    callbacks: Vec<(String, String, Callback)>,
    interactions: Interactions,
    next_msgid: AtomicU64,
    tokens: IssuedTokens,
}

/// Adds `/_test/oa/say` and `/cgi-bin/user/info`.
pub(crate) fn mount(route: Route, settings: &Settings, interactions: Interactions, tokens: IssuedTokens) -> Route {
    let state = Arc::new(State {
        callbacks: service_accounts(settings)
            .into_iter()
            .map(|a| {
                let callback = Callback::for_account(settings, &a);
                (a.key, a.appid, callback)
            })
            .collect(),
        interactions,
        // Distinct from real MsgIds and from one sandbox run to the next (the channel dedupes on them).
        next_msgid: AtomicU64::new(u64::try_from(now_ms()).unwrap_or_default() * 1000),
        tokens,
    });
    route.at("/_test/oa/say", post(say).data(state.clone())).at("/cgi-bin/user/info", get(user_info).data(state))
}

#[derive(Deserialize)]
struct UserInfoQuery {
    access_token: Option<String>,
    openid: Option<String>,
}

/// `GET /cgi-bin/user/info?access_token=&openid=&lang=`: a Service Account's follower, as
/// WeChat tells it: `subscribe` 1 with the unionid where the person has one (their openid
/// in this account), `subscribe` 0 and the openid alone for someone who never wrote to it.
#[handler]
fn user_info(Data(s): Data<&Arc<State>>, Query(q): Query<UserInfoQuery>) -> Response {
    let appid = match s.tokens.appid_of(q.access_token.as_deref()) {
        Ok(appid) => appid,
        Err(e) => return e,
    };
    if !s.tokens.is_service_account(&appid) {
        return Json(json!({"errcode": 48001, "errmsg": "api unauthorized"})).into_response();
    }
    let openid = q.openid.unwrap_or_default();
    if !valid_openid(&openid) {
        return Json(json!({"errcode": 40003, "errmsg": "invalid openid"})).into_response();
    }
    let unionid = s.tokens.unionid_of(&appid, &openid);
    let wrote = s.interactions.lock().get(&(appid.clone(), openid.clone())).copied();
    match wrote {
        None => Json(json!({"subscribe": 0, "openid": openid})).into_response(),
        Some(at) => {
            let mut body = json!({
                "subscribe": 1, "openid": openid, "language": "zh_CN", "subscribe_time": at / 1000,
                "remark": "", "groupid": 0, "tagid_list": [], "subscribe_scene": "ADD_SCENE_SEARCH",
                "qr_scene": 0, "qr_scene_str": "",
            });
            if let Some(u) = unionid {
                body["unionid"] = json!(u);
            }
            Json(body).into_response()
        }
    }
}

fn valid_openid(openid: &str) -> bool {
    !openid.is_empty()
        && openid.len() <= 64
        && openid.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[derive(Deserialize)]
struct Say {
    /// The follower; or give `unionid`.
    #[serde(default)]
    openid: String,
    /// The person's unionid: writes as their openid in the account.
    unionid: Option<String>,
    text: Option<String>,
    location: Option<Location>,
    /// The Service Account written to (key or appid); the city's when absent.
    account: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    lat: f64,
    lon: f64,
}

/// CDATA cannot hold its own terminator; WeChat's text never needs it.
fn cdata(text: &str) -> String {
    text.replace("]]>", "]] >")
}

#[handler]
async fn say(Data(s): Data<&Arc<State>>, body: Json<Say>) -> Response {
    let found = match body.account.as_deref() {
        None => s.callbacks.first(),
        Some(a) => s.callbacks.iter().find(|(key, appid, _)| key == a || appid == a),
    };
    let Some((_, appid, callback)) = found else {
        return (StatusCode::BAD_REQUEST, Json(json!({"errcode": 40013, "errmsg": "invalid appid: no such account"})))
            .into_response();
    };
    let derived;
    let openid = match body.unionid.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) if body.openid.trim().is_empty() && valid_openid(u) => {
            derived = s.tokens.openid_for(appid, u);
            derived.as_str()
        }
        _ => body.openid.trim(),
    };
    if !valid_openid(openid) {
        return (StatusCode::BAD_REQUEST, Json(json!({"errcode": 40003, "errmsg": "invalid openid"}))).into_response();
    }
    let ts = now_ms() / 1000;
    let msg_id = s.next_msgid.fetch_add(1, Ordering::Relaxed);
    let gh = &callback.gh;
    let head = format!(
        "<ToUserName><![CDATA[{gh}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{ts}</CreateTime>"
    );
    let xml = match (&body.text, &body.location) {
        (Some(text), None) if !text.trim().is_empty() && text.chars().count() <= 600 => format!(
            "<xml>{head}<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{}]]></Content><MsgId>{msg_id}</MsgId></xml>",
            cdata(text)
        ),
        (None, Some(at)) if (-90.0..=90.0).contains(&at.lat) && (-180.0..=180.0).contains(&at.lon) => format!(
            "<xml>{head}<MsgType><![CDATA[location]]></MsgType><Location_X>{}</Location_X><Location_Y>{}</Location_Y>\
             <Scale>15</Scale><Label><![CDATA[]]></Label><MsgId>{msg_id}</MsgId></xml>",
            at.lat, at.lon
        ),
        _ => {
            let why = "give either text (1 to 600 characters) or location {lat, lon}";
            return (StatusCode::BAD_REQUEST, Json(json!({"errcode": 40008, "errmsg": why}))).into_response();
        }
    };
    // A user's message opens the 48-hour window at WeChat, whatever the callback answers.
    s.interactions.lock().insert((appid.clone(), openid.to_owned()), now_ms());
    match callback.push(&xml, openid).await {
        Ok((status, reply)) => {
            Json(json!({"msg_id": msg_id, "openid": openid, "callback_status": status, "reply": reply})).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({"errcode": -1, "errmsg": e}))).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::cdata;

    #[test]
    fn text_cannot_close_its_cdata() {
        assert_eq!(cdata("a]]>b"), "a]] >b");
    }
}
