//! Simulated WeChat server APIs for the Mini Program and the Service Account.
//!
//! Same paths, parameters, JSON shapes and `errcode`s as `api.weixin.qq.com`: `jscode2session`,
//! `stable_token`, `getuserphonenumber`, the web OAuth authorize page, `/sns/oauth2/access_token`
//! and `/sns/userinfo`. WeChat answers errors with HTTP 200 and `{"errcode", "errmsg"}`; so do we.
//!
//! Helpers WeChat does not have live under `/_test/`: minting login, OAuth and phone codes,
//! advancing the simulator's clock (codes and tokens expire by it) and revoking access tokens.
//!
//! State is in memory: it is a simulator, one per process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use city_platform::config::Settings;
use city_platform::time::now_ms;
use parking_lot::Mutex;
use poem::http::StatusCode;
use poem::web::{Data, Json, Query};
use poem::{get, handler, post, EndpointExt, IntoResponse, Response, Route};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Login, OAuth and phone codes live this long (WeChat: 5 minutes).
const CODE_TTL_MS: i64 = 5 * 60 * 1000;
/// Access tokens (global and web OAuth) live this long (WeChat: 7200 s).
const TOKEN_TTL_MS: i64 = 7200 * 1000;
/// A renewed stable token's predecessor keeps working this long; renewal happens in the last
/// such window of a token's life.
const OVERLAP_MS: i64 = 5 * 60 * 1000;

/// A registered app: its secret.
#[derive(Clone)]
struct App {
    secret: String,
}

/// A code minted for a user of one app.
struct Code {
    appid: String,
    openid: String,
    unionid: Option<String>,
    created_ms: i64,
    used: bool,
    scope: &'static str,
}

/// A phone-number code.
struct PhoneCode {
    phone: String,
    created_ms: i64,
    used: bool,
}

/// A stable access token of one app, and its predecessor during the overlap.
struct StableToken {
    token: String,
    expires_ms: i64,
    previous: Option<(String, i64)>,
}

/// A user's web OAuth access token.
struct WebToken {
    appid: String,
    openid: String,
    unionid: Option<String>,
    scope: &'static str,
    expires_ms: i64,
}

/// The simulator's whole state.
struct Sandbox {
    apps: HashMap<String, App>,
    /// The Service Account's web authorization domain (host and port of the portal's public
    /// base): the only place the consent page sends a browser back to.
    oauth_domain: String,
    mp_appid: String,
    oa_appid: String,
    /// Every Service Account: the city's and the departmental ones (issue #20).
    oa_appids: Vec<String>,
    clock_offset_ms: AtomicI64,
    login_codes: Mutex<HashMap<String, Code>>,
    phone_codes: Mutex<HashMap<String, PhoneCode>>,
    stable_tokens: Mutex<HashMap<String, StableToken>>,
    web_tokens: Mutex<HashMap<String, WebToken>>,
    /// People with a unionid WeChat has seen, by (appid, openid): what `/cgi-bin/user/info`
    /// tells of a follower of any of our apps (issue #20).
    people: Mutex<HashMap<(String, String), String>>,
}

type State = Arc<Sandbox>;

impl Sandbox {
    fn now(&self) -> i64 {
        now_ms() + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// `Some(error)` unless `appid` is registered and `secret` is its secret.
    fn check_app(&self, appid: &str, secret: &str) -> Option<Response> {
        match self.apps.get(appid) {
            None => Some(errcode(40013, "invalid appid")),
            Some(app) if app.secret != secret => Some(errcode(40125, "invalid appsecret")),
            Some(_) => None,
        }
    }

    /// The appid a global access token belongs to, or the errcode answer.
    fn check_access_token(&self, token: Option<&str>) -> Result<String, Response> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(errcode(41001, "access_token missing"));
        };
        let now = self.now();
        let tokens = self.stable_tokens.lock();
        for (appid, t) in tokens.iter() {
            if t.token == token {
                return if t.expires_ms > now {
                    Ok(appid.clone())
                } else {
                    Err(errcode(42001, "access_token expired"))
                };
            }
            if let Some((prev, until)) = &t.previous {
                if prev == token && *until > now {
                    return Ok(appid.clone());
                }
            }
        }
        Err(errcode(40001, "invalid credential, access_token is invalid or not latest"))
    }

    /// Takes a login or OAuth code of `appid`: single use, five minutes.
    fn take_code(&self, appid: &str, code: &str, expired_errcode: i64) -> Result<Code, Response> {
        let now = self.now();
        let mut codes = self.login_codes.lock();
        let Some(c) = codes.get_mut(code) else {
            return Err(errcode(40029, "invalid code"));
        };
        if c.appid != appid {
            return Err(errcode(40029, "invalid code"));
        }
        if c.used {
            return Err(errcode(40163, "code been used"));
        }
        if now - c.created_ms > CODE_TTL_MS {
            return Err(errcode(expired_errcode, "code expired"));
        }
        c.used = true;
        Ok(Code {
            appid: c.appid.clone(),
            openid: c.openid.clone(),
            unionid: c.unionid.clone(),
            created_ms: c.created_ms,
            used: true,
            scope: c.scope,
        })
    }

    /// The person with `unionid` in every app of ours (one openid per app, as WeChat gives).
    fn remember(&self, unionid: &str) {
        let mut people = self.people.lock();
        for appid in self.apps.keys() {
            people.insert((appid.clone(), derived_openid(appid, unionid)), unionid.to_owned());
        }
    }

    fn mint_code(&self, appid: &str, openid: Option<String>, unionid: Option<String>, scope: &'static str) -> String {
        let code = random_text(32);
        let unionid = unionid.filter(|u| !u.is_empty());
        // The same person has one openid per app: derive it from the unionid when one is given.
        let openid = openid.filter(|o| !o.is_empty()).unwrap_or_else(|| match &unionid {
            Some(u) => derived_openid(appid, u),
            None => format!("o{}", random_text(27)),
        });
        if let Some(u) = &unionid {
            self.remember(u);
        }
        let entry = Code { appid: appid.into(), openid, unionid, created_ms: self.now(), used: false, scope };
        self.login_codes.lock().insert(code.clone(), entry);
        code
    }
}

/// The openid WeChat would give the person with `unionid` in `appid` (stable per pair).
fn derived_openid(appid: &str, unionid: &str) -> String {
    let digest = Sha256::digest(format!("{appid}\u{0}{unionid}").as_bytes());
    format!("o{}", &hex::encode(digest)[..27])
}

fn random_text(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// WeChat's error answer: HTTP 200 with `errcode` and `errmsg` (with a request id, as WeChat adds).
fn errcode(code: i64, msg: &str) -> Response {
    Json(json!({"errcode": code, "errmsg": format!("{msg} rid: {}", random_text(8))})).into_response()
}

fn ok(value: Value) -> Response {
    Json(value).into_response()
}

/// Checks access tokens against the ones this simulator issued (`stable_token`), for the
/// message and menu endpoints, which live in [`crate::messages`].
#[derive(Clone)]
pub struct IssuedTokens(State);

impl IssuedTokens {
    /// The appid `token` was issued to; otherwise WeChat's answer: 41001 missing, 42001 expired,
    /// 40001 never issued (or replaced and past its overlap).
    pub fn appid_of(&self, token: Option<&str>) -> Result<String, Response> {
        self.0.check_access_token(token)
    }

    /// The Service Account's appid.
    pub fn oa_appid(&self) -> &str {
        &self.0.oa_appid
    }

    /// The Mini Program's appid.
    pub fn mp_appid(&self) -> &str {
        &self.0.mp_appid
    }

    /// The openid of the person with `unionid` in `appid` (remembered, so `/cgi-bin/user/info`
    /// tells that unionid back).
    pub fn openid_for(&self, appid: &str, unionid: &str) -> String {
        self.0.remember(unionid);
        derived_openid(appid, unionid)
    }

    /// The unionid of `appid`'s user `openid`, when WeChat knows one.
    pub fn unionid_of(&self, appid: &str, openid: &str) -> Option<String> {
        self.0.people.lock().get(&(appid.to_owned(), openid.to_owned())).cloned()
    }

    /// Whether `appid` is one of the Service Accounts (the city's or a departmental one).
    pub fn is_service_account(&self, appid: &str) -> bool {
        self.0.oa_appids.iter().any(|a| a == appid)
    }
}

/// The simulated Mini Program and Service Account endpoints.
pub fn routes(settings: &Settings) -> Route {
    routes_and_tokens(settings).0
}

/// [`routes`], and the registry of the access tokens they issue.
pub fn routes_and_tokens(settings: &Settings) -> (Route, IssuedTokens) {
    let w = &settings.wechat;
    let mut apps = HashMap::new();
    apps.insert(w.mp_appid.clone(), App { secret: w.mp_secret.expose().to_owned() });
    // The city's Service Account and the departmental ones, each with its own secret.
    let accounts = city_platform::config::service_accounts(settings);
    for a in &accounts {
        apps.insert(a.appid.clone(), App { secret: a.secret.expose().to_owned() });
    }
    let state: State = Arc::new(Sandbox {
        apps,
        oauth_domain: authority_of(&settings.public_base_url()).unwrap_or_default(),
        mp_appid: w.mp_appid.clone(),
        oa_appid: w.oa_appid.clone(),
        oa_appids: accounts.into_iter().map(|a| a.appid).collect(),
        clock_offset_ms: AtomicI64::new(0),
        login_codes: Mutex::default(),
        phone_codes: Mutex::default(),
        stable_tokens: Mutex::default(),
        web_tokens: Mutex::default(),
        people: Mutex::default(),
    });
    let tokens = IssuedTokens(state.clone());
    let route = Route::new()
        .at("/sns/jscode2session", get(jscode2session).data(state.clone()))
        .at("/cgi-bin/stable_token", post(stable_token).data(state.clone()))
        .at("/wxa/business/getuserphonenumber", post(get_phone_number).data(state.clone()))
        .at("/connect/oauth2/authorize", get(oauth_authorize).data(state.clone()))
        .at("/sns/oauth2/access_token", get(oauth_access_token).data(state.clone()))
        .at("/sns/userinfo", get(userinfo).data(state.clone()))
        .at("/_test/mp/codes", post(mint_mp_code).data(state.clone()))
        .at("/_test/oa/oauth-codes", post(mint_oauth_code).data(state.clone()))
        .at("/_test/mp/phone-codes", post(mint_phone_code).data(state.clone()))
        .at("/_test/clock/advance", post(advance_clock).data(state.clone()))
        .at("/_test/access-tokens/revoke", post(revoke_access_tokens).data(state));
    (route, tokens)
}

#[derive(Deserialize)]
struct Code2SessionQuery {
    appid: Option<String>,
    secret: Option<String>,
    js_code: Option<String>,
    grant_type: Option<String>,
}

/// `GET /sns/jscode2session`: a Mini Program login code for the user's openid and session key.
#[handler]
fn jscode2session(Data(s): Data<&State>, Query(q): Query<Code2SessionQuery>) -> Response {
    let appid = q.appid.unwrap_or_default();
    if let Some(err) = s.check_app(&appid, &q.secret.unwrap_or_default()) {
        return err;
    }
    if q.grant_type.as_deref() != Some("authorization_code") {
        return errcode(40002, "invalid grant_type");
    }
    let Some(code) = q.js_code.filter(|c| !c.is_empty()) else {
        return errcode(41008, "missing code");
    };
    match s.take_code(&appid, &code, 40029) {
        Ok(c) => {
            let session_key = base64_16_random();
            let mut body = json!({"openid": c.openid, "session_key": session_key});
            if let Some(u) = c.unionid {
                body["unionid"] = Value::String(u);
            }
            ok(body)
        }
        Err(e) => e,
    }
}

fn base64_16_random() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::thread_rng().gen();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Deserialize)]
struct StableTokenBody {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    force_refresh: bool,
}

/// `POST /cgi-bin/stable_token`: the app's access token; the same one while it lives (renewed in
/// its last five minutes, the old one still valid for five), a new one on `force_refresh`.
#[handler]
fn stable_token(Data(s): Data<&State>, body: poem::Result<Json<StableTokenBody>>) -> Response {
    let Ok(Json(b)) = body else {
        return errcode(47001, "data format error");
    };
    if b.grant_type.as_deref() != Some("client_credential") {
        return errcode(40002, "invalid grant_type");
    }
    let appid = b.appid.unwrap_or_default();
    if let Some(err) = s.check_app(&appid, &b.secret.unwrap_or_default()) {
        return err;
    }
    let now = s.now();
    let mut tokens = s.stable_tokens.lock();
    let current = tokens.get(&appid);
    let renew = match current {
        None => true,
        Some(t) => b.force_refresh || t.expires_ms - now <= OVERLAP_MS,
    };
    if renew {
        // A forced refresh kills the old token at once; a natural renewal lets it overlap.
        let previous = match current {
            Some(t) if !b.force_refresh && t.expires_ms > now => Some((t.token.clone(), now + OVERLAP_MS)),
            _ => None,
        };
        let token = StableToken { token: random_text(136), expires_ms: now + TOKEN_TTL_MS, previous };
        tokens.insert(appid.clone(), token);
    }
    let t = &tokens[&appid];
    ok(json!({"access_token": t.token, "expires_in": (t.expires_ms - now) / 1000}))
}

#[derive(Deserialize)]
struct AccessTokenQuery {
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct PhoneBody {
    code: Option<String>,
}

/// `POST /wxa/business/getuserphonenumber`: a phone-number code for the number (Mini Program only).
#[handler]
fn get_phone_number(
    Data(s): Data<&State>,
    Query(q): Query<AccessTokenQuery>,
    body: poem::Result<Json<PhoneBody>>,
) -> Response {
    let appid = match s.check_access_token(q.access_token.as_deref()) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if appid != s.mp_appid {
        return errcode(48001, "api unauthorized");
    }
    let Some(code) = body.ok().and_then(|Json(b)| b.code).filter(|c| !c.is_empty()) else {
        return errcode(47001, "data format error");
    };
    let now = s.now();
    let mut codes = s.phone_codes.lock();
    let Some(c) = codes.get_mut(&code) else {
        return errcode(40029, "invalid code");
    };
    if c.used {
        return errcode(40163, "code been used");
    }
    if now - c.created_ms > CODE_TTL_MS {
        return errcode(40029, "invalid code");
    }
    c.used = true;
    let (country, pure) = match c.phone.strip_prefix('+') {
        Some(rest) if !rest.starts_with("86") => {
            let split = rest.len().saturating_sub(10).clamp(1, 3);
            (rest[..split].to_owned(), rest[split..].to_owned())
        }
        Some(rest) => ("86".to_owned(), rest.trim_start_matches("86").to_owned()),
        None => ("86".to_owned(), c.phone.clone()),
    };
    let phone_number = if country == "86" { pure.clone() } else { format!("+{country}{pure}") };
    ok(json!({
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": phone_number,
            "purePhoneNumber": pure,
            "countryCode": country,
            "watermark": {"timestamp": now / 1000, "appid": appid}
        }
    }))
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    appid: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
}

/// `GET /connect/oauth2/authorize`: the consent page; the simulated user (a new one each time)
/// agrees at once and the browser is sent to `redirect_uri?code=...&state=...`.
#[handler]
fn oauth_authorize(Data(s): Data<&State>, Query(q): Query<AuthorizeQuery>) -> Response {
    let appid = q.appid.unwrap_or_default();
    if !s.apps.contains_key(&appid) || appid == s.mp_appid {
        return text_page(StatusCode::BAD_REQUEST, "appid invalid (10016)");
    }
    // Like WeChat: only the registered web authorization domain gets codes, so the page is
    // no open redirect and no code leaves for someone else's site.
    let Some(redirect) = q.redirect_uri.filter(|r| authority_of(r).is_some_and(|a| a == s.oauth_domain)) else {
        return text_page(StatusCode::BAD_REQUEST, "redirect_uri domain mismatch (10003)");
    };
    if q.response_type.as_deref() != Some("code") {
        return text_page(StatusCode::BAD_REQUEST, "response_type invalid (10004)");
    }
    let scope = match q.scope.as_deref() {
        Some("snsapi_base") => "snsapi_base",
        Some("snsapi_userinfo") => "snsapi_userinfo",
        _ => return text_page(StatusCode::BAD_REQUEST, "scope invalid (10005)"),
    };
    let code = s.mint_code(&appid, None, Some(format!("oUnion{}", random_text(22))), scope);
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let state = q.state.unwrap_or_default();
    let location = format!("{redirect}{sep}code={code}&state={}", query_escape(&state));
    Response::builder().status(StatusCode::FOUND).header("location", location).finish()
}

/// The lower-cased `host[:port]` of an http(s) URL, without the scheme's default port; `None`
/// for anything else (other schemes, credentials in the URL, no host).
fn authority_of(url: &str) -> Option<String> {
    let (rest, default_port) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, ":443")
    } else {
        (url.strip_prefix("http://")?, ":80")
    };
    let authority = rest.split(['/', '?', '#', '\\']).next()?.to_ascii_lowercase();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(authority.strip_suffix(default_port).map(str::to_owned).unwrap_or(authority))
}

/// Percent-encodes everything but unreserved characters.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn text_page(status: StatusCode, text: &str) -> Response {
    Response::builder().status(status).content_type("text/plain; charset=utf-8").body(text.to_owned())
}

#[derive(Deserialize)]
struct OauthTokenQuery {
    appid: Option<String>,
    secret: Option<String>,
    code: Option<String>,
    grant_type: Option<String>,
}

/// `GET /sns/oauth2/access_token`: an OAuth code for the user's web token and openid.
#[handler]
fn oauth_access_token(Data(s): Data<&State>, Query(q): Query<OauthTokenQuery>) -> Response {
    let appid = q.appid.unwrap_or_default();
    if let Some(err) = s.check_app(&appid, &q.secret.unwrap_or_default()) {
        return err;
    }
    if q.grant_type.as_deref() != Some("authorization_code") {
        return errcode(40002, "invalid grant_type");
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return errcode(41008, "missing code");
    };
    let c = match s.take_code(&appid, &code, 42003) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let token = random_text(88);
    let mut body = json!({
        "access_token": token,
        "expires_in": TOKEN_TTL_MS / 1000,
        "refresh_token": random_text(88),
        "openid": c.openid,
        "scope": c.scope,
    });
    if let Some(u) = &c.unionid {
        body["unionid"] = Value::String(u.clone());
    }
    let entry = WebToken {
        appid: c.appid,
        openid: c.openid,
        unionid: c.unionid,
        scope: c.scope,
        expires_ms: s.now() + TOKEN_TTL_MS,
    };
    s.web_tokens.lock().insert(token, entry);
    ok(body)
}

#[derive(Deserialize)]
struct UserinfoQuery {
    access_token: Option<String>,
    openid: Option<String>,
}

/// `GET /sns/userinfo`: the profile behind a `snsapi_userinfo` web token.
#[handler]
fn userinfo(Data(s): Data<&State>, Query(q): Query<UserinfoQuery>) -> Response {
    let tokens = s.web_tokens.lock();
    let Some(t) = q.access_token.as_deref().and_then(|a| tokens.get(a)) else {
        return errcode(40001, "invalid credential, access_token is invalid or not latest");
    };
    if t.expires_ms <= s.now() {
        return errcode(42001, "access_token expired");
    }
    if q.openid.as_deref() != Some(t.openid.as_str()) {
        return errcode(40003, "invalid openid");
    }
    if t.scope != "snsapi_userinfo" || t.appid != s.oa_appid {
        return errcode(48001, "api unauthorized");
    }
    let mut body = json!({
        "openid": t.openid, "nickname": "微信用户", "sex": 0, "province": "", "city": "",
        "country": "", "headimgurl": "", "privilege": [],
    });
    if let Some(u) = &t.unionid {
        body["unionid"] = Value::String(u.clone());
    }
    ok(body)
}

#[derive(Deserialize, Default)]
struct MintBody {
    openid: Option<String>,
    unionid: Option<String>,
    scope: Option<String>,
}

/// `POST /_test/mp/codes {"openid"?, "unionid"?}` → `{"code"}`: a login code of the portal's Mini Program.
#[handler]
fn mint_mp_code(Data(s): Data<&State>, body: poem::Result<Json<MintBody>>) -> Response {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let code = s.mint_code(&s.mp_appid, b.openid, b.unionid, "snsapi_base");
    ok(json!({"code": code}))
}

/// `POST /_test/oa/oauth-codes {"openid"?, "unionid"?, "scope"?}` → `{"code"}`: a web OAuth code
/// of the portal's Service Account (scope `snsapi_userinfo` unless `snsapi_base` is asked).
#[handler]
fn mint_oauth_code(Data(s): Data<&State>, body: poem::Result<Json<MintBody>>) -> Response {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let scope = if b.scope.as_deref() == Some("snsapi_base") { "snsapi_base" } else { "snsapi_userinfo" };
    let code = s.mint_code(&s.oa_appid, b.openid, b.unionid, scope);
    ok(json!({"code": code}))
}

#[derive(Deserialize, Default)]
struct PhoneMintBody {
    phone: Option<String>,
}

/// `POST /_test/mp/phone-codes {"phone"?}` → `{"code"}`: a phone-number code (a made-up
/// mainland number when absent).
#[handler]
fn mint_phone_code(Data(s): Data<&State>, body: poem::Result<Json<PhoneMintBody>>) -> Response {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let phone = b.phone.filter(|p| !p.is_empty()).unwrap_or_else(|| {
        let n: u32 = rand::thread_rng().gen_range(0..100_000_000);
        format!("139{n:08}")
    });
    let code = random_text(32);
    s.phone_codes.lock().insert(code.clone(), PhoneCode { phone, created_ms: s.now(), used: false });
    ok(json!({"code": code}))
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: i64,
}

/// The simulator's clock never runs further ahead than this (ten years): far beyond any
/// code's or token's life, and far from overflowing.
const MAX_CLOCK_OFFSET_MS: i64 = 10 * 366 * 24 * 3600 * 1000;

/// `POST /_test/clock/advance {"seconds"}`: moves the simulator's clock forward, so codes and
/// tokens expire without waiting. A negative step, or one that would take the clock more than
/// ten years ahead, is refused (400) and changes nothing.
#[handler]
fn advance_clock(Data(s): Data<&State>, Json(b): Json<AdvanceBody>) -> Response {
    let step = b.seconds.checked_mul(1000).filter(|ms| *ms >= 0);
    let moved = step.and_then(|step| {
        s.clock_offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                now.checked_add(step).filter(|total| *total <= MAX_CLOCK_OFFSET_MS)
            })
            .ok()
            .map(|before| before + step)
    });
    match moved {
        Some(total) => ok(json!({"offset_seconds": total / 1000})),
        None => Response::builder().status(StatusCode::BAD_REQUEST).content_type("application/json").body(
            json!({"errcode": 40097, "errmsg": "seconds must be 0 or more, and the clock at most ten years ahead"})
                .to_string(),
        ),
    }
}

#[derive(Deserialize)]
struct RevokeBody {
    appid: Option<String>,
}

/// `POST /_test/access-tokens/revoke {"appid"?}`: the app's (or every app's) access token stops
/// working at once (calls answer 40001), as when someone forces a refresh elsewhere.
#[handler]
fn revoke_access_tokens(Data(s): Data<&State>, body: poem::Result<Json<RevokeBody>>) -> Response {
    let appid = body.ok().and_then(|Json(b)| b.appid);
    let mut tokens = s.stable_tokens.lock();
    match appid {
        Some(a) => {
            tokens.remove(&a);
        }
        None => tokens.clear(),
    }
    ok(json!({"errcode": 0, "errmsg": "ok"}))
}
