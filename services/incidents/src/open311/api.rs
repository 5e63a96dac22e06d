//! Open311 as poem-openapi operations (issue #16): each resource and format is its own tagged
//! operation, so the portal's document describes what integrators call and schemathesis fuzzes
//! it. The handlers are thin: they hand the request to the one dispatcher of `open311.rs`, and
//! [`super::routes`] serves exactly these operations, so the description cannot drift from the
//! answers. poem-openapi cannot put a parameter inside a segment (`/services/{code}.json`), so
//! the fixed paths are one operation per format and the per-item paths take the whole last
//! segment (`pothole.json`) as one parameter; a segment without `.json` or `.xml` is Open311's
//! 404, as before, rather than a pattern's 400 problem.
//!
//! The JSON schemas follow the Spark convention (lists are bare arrays) and the portal's rule:
//! a field without a value is left out, never `null`. XML bodies are strings to the document.

use std::marker::PhantomData;
use std::sync::Arc;

use poem::{IntoResponse, Request, RequestBody, Response};
use poem_openapi::param::{Path, Query};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi, Tags};

use super::{dispatch, Kind};
use crate::IncidentsState;

#[derive(Tags)]
enum Open311Tags {
    /// Open311 GeoReport v2 for other systems: discovery, services, service requests; `.json`
    /// and `.xml` (text/xml, no namespace); errors are Open311's own lists, not problems.
    Open311,
}

/// The Open311 operations over the incidents state.
pub struct Open311Api {
    pub(super) state: Arc<IncidentsState>,
}

/// One endpoint of Open311's discovery answer.
#[derive(Debug, Object)]
#[oai(rename = "Open311Endpoint")]
pub struct EndpointDoc {
    /// `http://wiki.open311.org/GeoReport_v2`.
    pub specification: String,
    /// The base URL of this endpoint.
    pub url: String,
    /// Changes when services or their definitions change.
    pub changeset: String,
    /// `production` or `test`.
    #[oai(rename = "type")]
    pub kind: String,
    /// MIME types offered: `text/xml`, `application/json`.
    pub formats: Vec<String>,
}

/// Open311 service discovery.
#[derive(Debug, Object)]
#[oai(rename = "Open311Discovery")]
pub struct DiscoveryDoc {
    /// Changes when services or their definitions change.
    pub changeset: String,
    /// Whom to ask.
    pub contact: String,
    /// How to get an API key.
    pub key_service: String,
    /// The endpoints.
    pub endpoints: Vec<EndpointDoc>,
}

/// One Open311 service (a report category).
#[derive(Debug, Object)]
#[oai(rename = "Open311Service")]
pub struct ServiceDoc {
    /// The category's code.
    pub service_code: String,
    /// Its name.
    pub service_name: String,
    /// What it is for.
    pub description: String,
    /// Whether it has questions (fetch its definition).
    pub metadata: bool,
    /// `realtime` (an id at once) or `batch` (a token first).
    #[oai(rename = "type", validator(pattern = "^(realtime|batch)$"))]
    pub kind: String,
    /// Comma-separated synonyms.
    pub keywords: String,
    /// The group it is listed under.
    pub group: String,
}

/// One option of a list attribute.
#[derive(Debug, Object)]
#[oai(rename = "Open311AttributeValue")]
pub struct ValueDoc {
    /// The value sent back.
    pub key: String,
    /// Its label.
    pub name: String,
}

/// One question of a service.
#[derive(Debug, Object)]
#[oai(rename = "Open311Attribute")]
pub struct AttributeDoc {
    /// Whether it takes input (false: text shown only).
    pub variable: bool,
    /// The attribute's code, sent as `attribute[code]`.
    pub code: String,
    /// `string`, `number`, `datetime`, `text`, `singlevaluelist` or `multivaluelist`.
    #[oai(validator(pattern = "^(string|number|datetime|text|singlevaluelist|multivaluelist)$"))]
    pub datatype: String,
    /// Whether an answer is required.
    pub required: bool,
    /// A hint for the input.
    pub datatype_description: String,
    /// Position in the form, from 1.
    pub order: i64,
    /// The question.
    pub description: String,
    /// The options of a list attribute.
    pub values: Vec<ValueDoc>,
}

/// A service's questions.
#[derive(Debug, Object)]
#[oai(rename = "Open311ServiceDefinition")]
pub struct DefinitionDoc {
    /// The category's code.
    pub service_code: String,
    /// Its questions.
    pub attributes: Vec<AttributeDoc>,
}

/// A service request as the public sees it: no reporter, no contact, no held text.
#[derive(Debug, Object)]
#[oai(rename = "Open311ServiceRequest")]
pub struct RequestDoc {
    /// The ticket number.
    pub service_request_id: String,
    /// `open` or `closed`.
    #[oai(validator(pattern = "^(open|closed)$"))]
    pub status: String,
    /// The latest public reply (one request only).
    pub status_notes: Option<String>,
    /// The category's name.
    pub service_name: String,
    /// The category's code.
    pub service_code: String,
    /// The description, unless held by the content-safety check.
    pub description: Option<String>,
    /// The agency handling it.
    pub agency_responsible: String,
    /// When it was filed (RFC 3339, UTC).
    pub requested_datetime: String,
    /// When it last changed.
    pub updated_datetime: String,
    /// When it is due.
    pub expected_datetime: String,
    /// The address, unless held.
    pub address: Option<String>,
    /// Latitude (WGS-84).
    pub lat: f64,
    /// Longitude (WGS-84).
    pub long: f64,
    /// The first photo, or the integrator's `media_url`.
    pub media_url: Option<String>,
    /// Extension, with `extensions=true` (one request only).
    pub extended_attributes: Option<ExtendedDoc>,
}

/// What `extensions=true` adds to a request (the convention of Chicago's and Boston's servers).
#[derive(Debug, Object)]
#[oai(rename = "Open311ExtendedAttributes")]
pub struct ExtendedDoc {
    /// The photo that came with the update quoted in `status_notes` (the crew's "fixed" photo).
    pub status_notes_media_url: Option<String>,
}

/// What `POST /requests` answers: an id (`realtime` services) or a token (`batch`).
#[derive(Debug, Object)]
#[oai(rename = "Open311Created")]
pub struct CreatedDoc {
    /// The new request's id (`realtime`).
    pub service_request_id: Option<String>,
    /// A token to resolve later (`batch`).
    pub token: Option<String>,
    /// Where it was sent.
    pub service_notice: String,
}

/// What a token resolves to.
#[derive(Debug, Object)]
#[oai(rename = "Open311TokenAnswer")]
pub struct TokenDoc {
    /// The request the token stands for.
    pub service_request_id: String,
    /// The token.
    pub token: String,
}

/// One entry of an Open311 error answer.
#[derive(Debug, Object)]
#[oai(rename = "Open311Error")]
pub struct ErrorDoc {
    /// The HTTP status as text, or the portal's error kind.
    pub code: String,
    /// What went wrong.
    pub description: String,
}

/// A new service request, form-encoded (or multipart with `media`/`photoN` files).
#[derive(Debug, Object)]
#[oai(rename = "Open311NewRequest")]
pub struct NewRequestDoc {
    /// An API key with the scope `open311` (here or in the query).
    pub api_key: Option<String>,
    /// Ignored: this endpoint serves one city.
    pub jurisdiction_id: Option<String>,
    /// The category (`GET /services.json`).
    pub service_code: String,
    /// Latitude (WGS-84); required with `long`: reports are routed by position.
    pub lat: String,
    /// Longitude (WGS-84).
    pub long: String,
    /// The address as a person wrote it.
    pub address_string: Option<String>,
    /// The problem; the category's name when left out.
    pub description: Option<String>,
    /// The reporter's email (kept private).
    pub email: Option<String>,
    /// The reporting device (kept private; counts repeats per person).
    pub device_id: Option<String>,
    /// The reporter's account (kept private).
    pub account_id: Option<String>,
    /// Kept private.
    pub first_name: Option<String>,
    /// Kept private.
    pub last_name: Option<String>,
    /// Kept private.
    pub phone: Option<String>,
    /// A photo's URL, shown when no photo is uploaded.
    pub media_url: Option<String>,
}

/// What a format's answers look like in the document.
pub trait Format {
    /// The media types and schemas of a success of `T`.
    fn answer<T: Type>() -> Vec<MetaMediaType>;
    /// Those of an error list.
    fn errors() -> Vec<MetaMediaType>;
}

/// `.json`: the Spark mapping of the XML.
pub struct AsJson;
/// `.xml`: UTF-8, no namespace; a string to the document.
pub struct AsXml;
/// Either, by the suffix of the path's last segment.
pub struct AsSuffix;

const JSON: &str = "application/json";
const XML: &str = "text/xml";

impl Format for AsJson {
    fn answer<T: Type>() -> Vec<MetaMediaType> {
        vec![MetaMediaType { content_type: JSON, schema: T::schema_ref() }]
    }
    fn errors() -> Vec<MetaMediaType> {
        vec![MetaMediaType { content_type: JSON, schema: Vec::<ErrorDoc>::schema_ref() }]
    }
}

impl Format for AsXml {
    fn answer<T: Type>() -> Vec<MetaMediaType> {
        vec![MetaMediaType { content_type: XML, schema: String::schema_ref() }]
    }
    fn errors() -> Vec<MetaMediaType> {
        Self::answer::<String>()
    }
}

impl Format for AsSuffix {
    fn answer<T: Type>() -> Vec<MetaMediaType> {
        AsJson::answer::<T>().into_iter().chain(AsXml::answer::<T>()).collect()
    }
    fn errors() -> Vec<MetaMediaType> {
        AsJson::errors().into_iter().chain(AsXml::errors()).collect()
    }
}

/// An answer of `T` in format `F`, with Open311's error statuses `errs`; the body is rendered
/// by the dispatcher. The statuses each operation can give are in [`Statuses`].
pub struct Answer<T, F, S>(Response, PhantomData<Described<T, F, S>>);

/// What an [`Answer`] is documented as; never built.
type Described<T, F, S> = fn() -> (T, F, S);

/// The error statuses an operation documents.
pub trait Statuses {
    /// `(status, when)`.
    const ERRORS: &'static [(u16, &'static str)];
}
/// A read whose only failure is a store hiccup or a bad parameter.
pub struct Reads;
/// A read of one item: unknown is 404.
pub struct ReadsOne;
/// Filing: no or a wrong key is 403, an unknown service 404.
pub struct Files;

const BAD: (u16, &str) = (400, "A parameter is wrong, or the service could not answer; `description` says which.");
const MISSING: (u16, &str) = (404, "No such service, request or token, or no such format suffix.");
const KEY: (u16, &str) = (403, "`api_key` is missing, unknown, revoked, or lacks the scope `open311`.");

impl Statuses for Reads {
    const ERRORS: &'static [(u16, &'static str)] = &[BAD];
}
impl Statuses for ReadsOne {
    const ERRORS: &'static [(u16, &'static str)] = &[BAD, MISSING];
}
impl Statuses for Files {
    const ERRORS: &'static [(u16, &'static str)] = &[BAD, KEY, MISSING];
}

impl<T: Type, F: Format, S: Statuses> ApiResponse for Answer<T, F, S> {
    fn meta() -> MetaResponses {
        let mut responses = vec![MetaResponse {
            description: "The answer, in the format of the path's suffix.",
            status: Some(200),
            status_range: None,
            content: F::answer::<T>(),
            headers: vec![],
        }];
        for (status, when) in S::ERRORS {
            responses.push(MetaResponse {
                description: when,
                status: Some(*status),
                status_range: None,
                content: F::errors(),
                headers: vec![],
            });
        }
        // The portal's edge answers before Open311 does: too many requests, and a body over the
        // limit on a POST, as the problems of every other operation.
        let edge = if S::ERRORS.contains(&KEY) { &[413u16, 429][..] } else { &[429][..] };
        for status in edge {
            responses.push(MetaResponse {
                description: if *status == 413 { "The body is over the portal's limit." } else { "Too many requests." },
                status: Some(*status),
                status_range: None,
                content: vec![MetaMediaType { content_type: "application/problem+json", schema: problem_schema() }],
                headers: vec![],
            });
        }
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
        Vec::<ErrorDoc>::register(registry);
        <poem_openapi::payload::Json<city_platform::Problem> as poem_openapi::payload::Payload>::register(registry);
    }
}

fn problem_schema() -> poem_openapi::registry::MetaSchemaRef {
    <poem_openapi::payload::Json<city_platform::Problem> as poem_openapi::payload::Payload>::schema_ref()
}

impl<T: Send, F: Send, S: Send> IntoResponse for Answer<T, F, S> {
    fn into_response(self) -> Response {
        self.0
    }
}

/// The body of `POST /requests`, kept raw for the dispatcher (form or multipart, with the key
/// possibly inside) and described as [`NewRequestDoc`].
pub struct NewRequestBody(poem::Body);

impl<'a> ApiExtractor<'a> for NewRequestBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        NewRequestDoc::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        let schema = NewRequestDoc::schema_ref();
        Some(MetaRequest {
            description: Some("Form-encoded; multipart/form-data adds `media` or `photo1`… files."),
            content: vec![
                MetaMediaType { content_type: "application/x-www-form-urlencoded", schema: schema.clone() },
                MetaMediaType { content_type: "multipart/form-data", schema },
            ],
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

type Json<T, S> = Answer<T, AsJson, S>;
type Xml<T, S> = Answer<T, AsXml, S>;
type EitherFormat<T, S> = Answer<T, AsSuffix, S>;

impl Open311Api {
    async fn run<T, F, S>(&self, kind: Kind, req: &Request, body: Option<poem::Body>) -> Answer<T, F, S> {
        let mut body = RequestBody::new(body.unwrap_or_default());
        Answer(dispatch(&self.state, kind, req, &mut body).await, PhantomData)
    }
}

#[OpenApi(prefix_path = "/open311/v2", tag = "Open311Tags::Open311")]
#[allow(clippy::too_many_arguments)]
impl Open311Api {
    /// Open311 discovery (JSON)
    #[oai(path = "/discovery.json", method = "get", operation_id = "open311_discovery_json")]
    async fn discovery_json(&self, req: &Request) -> Json<DiscoveryDoc, Reads> {
        self.run(Kind::Top, req, None).await
    }

    /// Open311 discovery (XML)
    #[oai(path = "/discovery.xml", method = "get", operation_id = "open311_discovery_xml")]
    async fn discovery_xml(&self, req: &Request) -> Xml<DiscoveryDoc, Reads> {
        self.run(Kind::Top, req, None).await
    }

    /// List the Open311 services (JSON)
    #[oai(path = "/services.json", method = "get", operation_id = "open311_services_json")]
    async fn services_json(
        &self,
        req: &Request,
        /// Ignored: this endpoint serves one city.
        jurisdiction_id: Query<Option<String>>,
    ) -> Json<Vec<ServiceDoc>, Reads> {
        let _ = jurisdiction_id;
        self.run(Kind::Top, req, None).await
    }

    /// List the Open311 services (XML)
    #[oai(path = "/services.xml", method = "get", operation_id = "open311_services_xml")]
    async fn services_xml(
        &self,
        req: &Request,
        /// Ignored: this endpoint serves one city.
        jurisdiction_id: Query<Option<String>>,
    ) -> Xml<Vec<ServiceDoc>, Reads> {
        let _ = jurisdiction_id;
        self.run(Kind::Top, req, None).await
    }

    /// Get an Open311 service definition
    ///
    /// `file` is the service code and the format: `pothole.json` or `pothole.xml`.
    #[oai(path = "/services/:file", method = "get", operation_id = "open311_service_definition")]
    async fn definition(
        &self,
        req: &Request,
        /// `{service_code}.json` or `{service_code}.xml`.
        file: Path<String>,
        /// Ignored: this endpoint serves one city.
        jurisdiction_id: Query<Option<String>>,
    ) -> EitherFormat<DefinitionDoc, ReadsOne> {
        let _ = (file, jurisdiction_id);
        self.run(Kind::Definition, req, None).await
    }

    /// Search Open311 service requests (JSON)
    ///
    /// The last 90 days by default; at most 90 days at once; 1,000 per page.
    #[oai(path = "/requests.json", method = "get", operation_id = "open311_search_json")]
    async fn search_json(
        &self,
        req: &Request,
        /// Ignored: this endpoint serves one city.
        jurisdiction_id: Query<Option<String>>,
        /// Ticket numbers, comma-separated; other filters are then ignored.
        service_request_id: Query<Option<String>>,
        /// Service codes, comma-separated.
        service_code: Query<Option<String>>,
        /// W3C date-time with a time zone (`2026-01-01T00:00:00Z`); default 90 days before `end_date`.
        start_date: Query<Option<String>>,
        /// W3C date-time with a time zone; default now.
        end_date: Query<Option<String>>,
        /// `open`, `closed`, or both comma-separated.
        status: Query<Option<String>>,
        /// Only requests changed after this W3C date-time.
        updated_after: Query<Option<String>>,
        /// Only requests changed before this W3C date-time.
        updated_before: Query<Option<String>>,
        /// Page number, from 1.
        page: Query<Option<String>>,
        /// 1 to 1,000 (default 1,000).
        page_size: Query<Option<String>>,
    ) -> Json<Vec<RequestDoc>, Reads> {
        // The dispatcher reads the raw query (Open311: a parameter sent empty is absent).
        let _ = (jurisdiction_id, service_request_id, service_code, start_date, end_date);
        let _ = (status, updated_after, updated_before, page, page_size);
        self.run(Kind::Top, req, None).await
    }

    /// Search Open311 service requests (XML)
    #[oai(path = "/requests.xml", method = "get", operation_id = "open311_search_xml")]
    async fn search_xml(
        &self,
        req: &Request,
        /// Ignored: this endpoint serves one city.
        jurisdiction_id: Query<Option<String>>,
        /// Ticket numbers, comma-separated; other filters are then ignored.
        service_request_id: Query<Option<String>>,
        /// Service codes, comma-separated.
        service_code: Query<Option<String>>,
        /// W3C date-time with a time zone (`2026-01-01T00:00:00Z`); default 90 days before `end_date`.
        start_date: Query<Option<String>>,
        /// W3C date-time with a time zone; default now.
        end_date: Query<Option<String>>,
        /// `open`, `closed`, or both comma-separated.
        status: Query<Option<String>>,
        /// Only requests changed after this W3C date-time.
        updated_after: Query<Option<String>>,
        /// Only requests changed before this W3C date-time.
        updated_before: Query<Option<String>>,
        /// Page number, from 1.
        page: Query<Option<String>>,
        /// 1 to 1,000 (default 1,000).
        page_size: Query<Option<String>>,
    ) -> Xml<Vec<RequestDoc>, Reads> {
        // The dispatcher reads the raw query (Open311: a parameter sent empty is absent).
        let _ = (jurisdiction_id, service_request_id, service_code, start_date, end_date);
        let _ = (status, updated_after, updated_before, page, page_size);
        self.run(Kind::Top, req, None).await
    }

    /// File an Open311 service request (JSON)
    ///
    /// Needs an API key with the scope `open311`, as `api_key` in the query or the form.
    #[oai(path = "/requests.json", method = "post", operation_id = "open311_create_json")]
    async fn create_json(
        &self,
        req: &Request,
        /// An API key with the scope `open311` (or in the form).
        api_key: Query<Option<String>>,
        body: NewRequestBody,
    ) -> Json<Vec<CreatedDoc>, Files> {
        let _ = api_key;
        self.run(Kind::Top, req, Some(body.0)).await
    }

    /// File an Open311 service request (XML)
    #[oai(path = "/requests.xml", method = "post", operation_id = "open311_create_xml")]
    async fn create_xml(
        &self,
        req: &Request,
        /// An API key with the scope `open311` (or in the form).
        api_key: Query<Option<String>>,
        body: NewRequestBody,
    ) -> Xml<Vec<CreatedDoc>, Files> {
        let _ = api_key;
        self.run(Kind::Top, req, Some(body.0)).await
    }

    /// Get one Open311 service request
    ///
    /// `file` is the ticket number and the format: `R-20260101-0001.json`. The JSON is a list
    /// of one.
    #[oai(path = "/requests/:file", method = "get", operation_id = "open311_request")]
    async fn one(
        &self,
        req: &Request,
        /// `{service_request_id}.json` or `.xml`.
        file: Path<String>,
        /// `true` adds `extended_attributes` (the photo of the latest public update).
        extensions: Query<Option<String>>,
    ) -> EitherFormat<Vec<RequestDoc>, ReadsOne> {
        let _ = (file, extensions);
        self.run(Kind::Request, req, None).await
    }

    /// Resolve an Open311 token
    ///
    /// `file` is the token a `batch` service gave and the format.
    #[oai(path = "/tokens/:file", method = "get", operation_id = "open311_token")]
    async fn token(
        &self,
        req: &Request,
        /// `{token}.json` or `{token}.xml`.
        file: Path<String>,
    ) -> EitherFormat<Vec<TokenDoc>, ReadsOne> {
        let _ = file;
        self.run(Kind::Token, req, None).await
    }
}
