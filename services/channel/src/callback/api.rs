//! `/wechat/callback` (the city's account) and `/wechat/callback/{account}` (a departmental one,
//! issue #20) as poem-openapi operations (issue #16), so the portal's document
//! describes what WeChat calls and the contract check fuzzes it. The handlers hand the request
//! to [`super::verify`] and [`super::push`]; [`routes`] serves exactly these operations, from the
//! table poem-openapi builds, so the description cannot drift from the answers. Every answer
//! is WeChat's kind (plain text or XML), never a problem: WeChat reads no problem+json.

use std::sync::Arc;

use poem::web::Query;
use poem::{FromRequest, IntoResponse, Request, RequestBody, Response, Route};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, OpenApi, Tags};

use super::CallbackQuery;
use crate::state::ChannelState;

#[derive(Tags)]
enum CallbackTags {
    /// WeChat's server calls to the Service Account: URL verification and message pushes,
    /// signed with the account's token (plaintext) or encrypted (safe mode). For WeChat only.
    WechatCallback,
}

/// The callback's operations over the channel's state.
pub struct CallbackApi {
    pub(crate) state: Arc<ChannelState>,
}

/// The routes of [`CallbackApi`], full paths kept, for `nest_no_strip("/wechat/callback", ..)`:
/// poem-openapi serves the operations it describes.
pub fn routes(state: Arc<ChannelState>) -> Route {
    let served = || {
        let api = CallbackApi { state: state.clone() };
        poem::IntoEndpoint::into_endpoint(poem_openapi::OpenApiService::new(api, "WeChat callback", "1"))
    };
    Route::new().at("/wechat/callback", served()).at("/wechat/callback/:account", served())
}

const TEXT: &str = "text/plain";
const XML: &str = "application/xml";

/// An answer the callback rendered, documented as `OK` (its media types) plus the refusals;
/// `NAMED`: the account is in the path, so an unknown one is a 404.
pub struct Answer<const PUSH: bool, const NAMED: bool = false>(Response);

fn text_or_xml(xml: bool) -> Vec<MetaMediaType> {
    let mut content = vec![MetaMediaType { content_type: TEXT, schema: String::schema_ref() }];
    if xml {
        content.push(MetaMediaType { content_type: XML, schema: String::schema_ref() });
    }
    content
}

fn response(status: u16, description: &'static str, content: Vec<MetaMediaType>) -> MetaResponse {
    MetaResponse { description, status: Some(status), status_range: None, content, headers: vec![] }
}

impl<const PUSH: bool, const NAMED: bool> ApiResponse for Answer<PUSH, NAMED> {
    fn meta() -> MetaResponses {
        let ok = if PUSH {
            "The passive reply (XML, encrypted in safe mode), or `success` when the answer follows as a \
             customer-service message."
        } else {
            "The `echostr` sent, as WeChat expects."
        };
        let mut responses = vec![
            response(200, ok, text_or_xml(PUSH)),
            response(
                400,
                "A parameter is missing, or the body is not a push; the text says which.",
                text_or_xml(false),
            ),
            response(403, "The signature is wrong, the timestamp stale, or the mode refused.", text_or_xml(false)),
        ];
        if NAMED {
            responses.push(response(404, "No Service Account has this key.", text_or_xml(false)));
        }
        // The portal's edge answers before the callback does, with its problems: a body over
        // the portal's limit, too many requests.
        let problem = || MetaMediaType { content_type: "application/problem+json", schema: problem_schema() };
        if PUSH {
            let mut big = text_or_xml(false);
            big.push(problem());
            responses.push(response(413, "The push is larger than any WeChat sends.", big));
            responses.push(response(503, "Retries cannot be recognised now; WeChat retries.", text_or_xml(false)));
        }
        responses.push(response(429, "Too many requests.", vec![problem()]));
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        <poem_openapi::payload::Json<city_platform::Problem> as poem_openapi::payload::Payload>::register(registry);
    }
}

fn problem_schema() -> poem_openapi::registry::MetaSchemaRef {
    <poem_openapi::payload::Json<city_platform::Problem> as poem_openapi::payload::Payload>::schema_ref()
}

impl<const PUSH: bool, const NAMED: bool> IntoResponse for Answer<PUSH, NAMED> {
    fn into_response(self) -> Response {
        self.0
    }
}

/// A push's body, kept raw for [`super::push`] (it checks size, UTF-8, and the XML itself).
pub struct PushBody(poem::Body);

impl<'a> ApiExtractor<'a> for PushBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        let xml = |content_type| MetaMediaType { content_type, schema: String::schema_ref() };
        // The callback reads the bytes whatever the header says; octet-stream says so, and is
        // what a generated client can send (openapi-python-client leaves out an operation whose
        // bodies are all XML, which `.ci/contract` treats as a broken document).
        let raw = MetaMediaType {
            content_type: "application/octet-stream",
            schema: poem_openapi::types::Binary::<Vec<u8>>::schema_ref(),
        };
        Some(MetaRequest {
            description: Some("WeChat's XML push: plaintext, or an `<Encrypt>` envelope in safe mode."),
            content: vec![xml("text/xml"), xml("application/xml"), raw],
            required: true,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        Ok(Self(body.take().unwrap_or_default()))
    }
}

/// WeChat's query, read whole by the handlers (the documented parameters are for the reader).
async fn query(req: &Request) -> CallbackQuery {
    Query::<CallbackQuery>::from_request_without_body(req).await.map(|q| q.0).unwrap_or_default()
}

#[OpenApi(tag = "CallbackTags::WechatCallback")]
#[allow(clippy::too_many_arguments)]
impl CallbackApi {
    /// Verify the callback URL (WeChat)
    ///
    /// WeChat's check when the URL is set in its console: the `echostr` comes back when
    /// `signature` is SHA-1 of the sorted token, `timestamp` and `nonce`. All four are required.
    #[oai(path = "/wechat/callback", method = "get", operation_id = "verify_wechat_callback")]
    async fn verify(
        &self,
        req: &Request,
        /// SHA-1 hex of the sorted token, timestamp and nonce (required).
        signature: poem_openapi::param::Query<Option<String>>,
        /// Unix seconds (required).
        timestamp: poem_openapi::param::Query<Option<String>>,
        /// Random text (required).
        nonce: poem_openapi::param::Query<Option<String>>,
        /// Echoed back on success (required).
        echostr: poem_openapi::param::Query<Option<String>>,
    ) -> Answer<false> {
        let _ = (signature, timestamp, nonce, echostr);
        Answer(super::verify(query(req).await, self.state.accounts.city()).await)
    }

    /// Receive a message or event push (WeChat)
    ///
    /// Plaintext (`signature`) or safe mode (`encrypt_type=aes`, `msg_signature` over the
    /// envelope), as `wechat.oa_callback_mode` allows; `timestamp` within 300 seconds. A retry
    /// of the same push has no second effect.
    #[oai(path = "/wechat/callback", method = "post", operation_id = "receive_wechat_push")]
    async fn push(
        &self,
        req: &Request,
        /// Plaintext mode: SHA-1 hex of the sorted token, timestamp and nonce.
        signature: poem_openapi::param::Query<Option<String>>,
        /// Unix seconds (required).
        timestamp: poem_openapi::param::Query<Option<String>>,
        /// Random text (required).
        nonce: poem_openapi::param::Query<Option<String>>,
        /// `aes` in safe mode.
        encrypt_type: poem_openapi::param::Query<Option<String>>,
        /// Safe mode: SHA-1 hex over the token, timestamp, nonce and `Encrypt`.
        msg_signature: poem_openapi::param::Query<Option<String>>,
        /// The follower's openid, as WeChat adds it.
        openid: poem_openapi::param::Query<Option<String>>,
        body: PushBody,
    ) -> Answer<true> {
        let _ = (signature, timestamp, nonce, encrypt_type, msg_signature, openid);
        let city = self.state.accounts.city().clone();
        Answer(super::push(query(req).await, &self.state, city, body.0).await)
    }

    /// Verify a departmental account's callback URL (WeChat)
    ///
    /// As for the city's account, with the token of the account named by `account` (its key,
    /// e.g. `health`); 404 for an unknown key.
    #[oai(path = "/wechat/callback/:account", method = "get", operation_id = "verify_account_wechat_callback")]
    async fn verify_account(
        &self,
        req: &Request,
        /// The account's key (`channel.accounts[].key`).
        account: poem_openapi::param::Path<String>,
        /// SHA-1 hex of the sorted token, timestamp and nonce (required).
        signature: poem_openapi::param::Query<Option<String>>,
        /// Unix seconds (required).
        timestamp: poem_openapi::param::Query<Option<String>>,
        /// Random text (required).
        nonce: poem_openapi::param::Query<Option<String>>,
        /// Echoed back on success (required).
        echostr: poem_openapi::param::Query<Option<String>>,
    ) -> Answer<false, true> {
        let _ = (signature, timestamp, nonce, echostr);
        match self.departmental(&account.0) {
            Some(a) => Answer(super::verify(query(req).await, &a).await),
            None => Answer(unknown_account()),
        }
    }

    /// Receive a departmental account's push (WeChat)
    ///
    /// As for the city's account, checked with the token, EncodingAESKey and callback mode of
    /// the account named by `account`; its answers and agents' replies come from that account.
    /// 404 for an unknown key.
    #[oai(path = "/wechat/callback/:account", method = "post", operation_id = "receive_account_wechat_push")]
    async fn push_account(
        &self,
        req: &Request,
        /// The account's key (`channel.accounts[].key`).
        account: poem_openapi::param::Path<String>,
        /// Plaintext mode: SHA-1 hex of the sorted token, timestamp and nonce.
        signature: poem_openapi::param::Query<Option<String>>,
        /// Unix seconds (required).
        timestamp: poem_openapi::param::Query<Option<String>>,
        /// Random text (required).
        nonce: poem_openapi::param::Query<Option<String>>,
        /// `aes` in safe mode.
        encrypt_type: poem_openapi::param::Query<Option<String>>,
        /// Safe mode: SHA-1 hex over the token, timestamp, nonce and `Encrypt`.
        msg_signature: poem_openapi::param::Query<Option<String>>,
        /// The follower's openid, as WeChat adds it.
        openid: poem_openapi::param::Query<Option<String>>,
        body: PushBody,
    ) -> Answer<true, true> {
        let _ = (signature, timestamp, nonce, encrypt_type, msg_signature, openid);
        match self.departmental(&account.0) {
            Some(a) => Answer(super::push(query(req).await, &self.state, a, body.0).await),
            None => Answer(unknown_account()),
        }
    }
}

impl CallbackApi {
    /// A departmental account by key (the city's has its own path).
    fn departmental(&self, key: &str) -> Option<Arc<crate::accounts::Account>> {
        self.state.accounts.by_key(key).filter(|a| a.key != city_platform::config::CITY_ACCOUNT).cloned()
    }
}

fn unknown_account() -> Response {
    Response::builder()
        .status(poem::http::StatusCode::NOT_FOUND)
        .content_type("text/plain; charset=utf-8")
        .body("no such account")
}
