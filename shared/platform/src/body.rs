//! `JsonBody<T>`: a JSON request body whose errors name the field (`points[1].lat`).
//!
//! poem-openapi's own `Json<T>` reports which *type* failed, not which field; clients need the
//! field. This payload documents `T` exactly as `Json<T>` does, parses with serde (tracking the
//! path), then lets poem-openapi check the declared validators. DTOs derive both `Object` and
//! `serde::Deserialize` with the same field names.

use poem::{FromRequest, Request, RequestBody, Result};
use poem_openapi::impl_apirequest_for_payload;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON request body; see the module doc.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        matches!(content_type.parse::<mime::Mime>(), Ok(ct) if ct.type_() == "application"
            && (ct.subtype() == "json" || ct.suffix().is_some_and(|s| s == "json")))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + ParseFromJSON + DeserializeOwned> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        Ok(Self(parse_json(&data)?))
    }
}

impl_apirequest_for_payload!(JsonBody<T>, T: Type + ParseFromJSON + DeserializeOwned);

/// Parses `data` as `T`, or a problem naming the field: 400 when it cannot be read as `T`,
/// 422 when it breaks a declared rule (a length, a range).
pub fn parse_json<T: ParseFromJSON + DeserializeOwned>(data: &[u8]) -> Result<T, Problem> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::malformed(Some("body"), "a JSON body is required"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| Problem::malformed(Some("body"), format!("not JSON: {e}")))?;
    let parsed: T = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let message = e.inner().to_string();
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            missing_field(&message).unwrap_or_else(|| "body".into())
        } else {
            // A missing field inside a nested object: name it under its parent.
            match missing_field(&message) {
                Some(inner) => format!("{path}.{inner}"),
                None => path,
            }
        };
        Problem::malformed(Some(&field), message)
    })?;
    // The declared validators (lengths, ranges, patterns) are poem-openapi's to check.
    if let Err(err) = T::parse_from_json(Some(value)) {
        let message = err.into_message();
        // serde reads a struct from an array too; the document says object, so that is unreadable.
        if message.starts_with("Expected input type") {
            return Err(Problem::malformed(Some("body"), message));
        }
        let field = crate::problem::field_in_reason(&message).unwrap_or_else(|| "body".into());
        return Err(Problem::invalid(field, message));
    }
    Ok(parsed)
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// A JSON response serialised once and served as bytes: for reference data that changes only
/// with a deploy (the catalogue, the districts), or answers a hot path assembles from parts it
/// rendered ahead ([`CachedJson::from_rendered`]). Documented in OpenAPI exactly as `Json<T>`.
pub struct CachedJson<T> {
    bytes: bytes::Bytes,
    _doc: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for CachedJson<T> {
    fn clone(&self) -> Self {
        Self { bytes: self.bytes.clone(), _doc: std::marker::PhantomData }
    }
}

impl<T: poem_openapi::types::ToJSON> CachedJson<T> {
    /// Serialises `value` now.
    pub fn new(value: &T) -> Self {
        let bytes = serde_json::to_vec(&value.to_json()).unwrap_or_default().into();
        Self { bytes, _doc: std::marker::PhantomData }
    }
}

impl<T: Type> Payload for CachedJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        JsonBody::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> poem::IntoResponse for CachedJson<T> {
    fn into_response(self) -> poem::Response {
        poem::Response::builder().content_type(Self::CONTENT_TYPE_STR).body(self.bytes)
    }
}

impl<T> CachedJson<T> {
    /// Bytes the caller already rendered as `T`'s JSON (a test should hold them equal to
    /// poem-openapi's own rendering of `T`).
    pub fn from_rendered(bytes: impl Into<bytes::Bytes>) -> Self {
        Self { bytes: bytes.into(), _doc: std::marker::PhantomData }
    }

    const CONTENT_TYPE_STR: &'static str = "application/json; charset=utf-8";
}

impl<T: Type + Send> poem_openapi::ApiResponse for CachedJson<T> {
    fn meta() -> poem_openapi::registry::MetaResponses {
        poem_openapi::registry::MetaResponses {
            responses: vec![poem_openapi::registry::MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![poem_openapi::registry::MetaMediaType {
                    content_type: Self::CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::Object;
    use serde::Deserialize;

    #[derive(Debug, Object, Deserialize)]
    struct Point {
        lat: f64,
        lon: f64,
    }

    #[derive(Debug, Object, Deserialize)]
    struct Batch {
        #[oai(validator(max_items = 2))]
        points: Vec<Point>,
    }

    fn field(data: &str) -> (u16, String) {
        let p = parse_json::<Batch>(data.as_bytes()).unwrap_err();
        (p.status, p.errors[0].field.clone())
    }

    #[test]
    fn errors_name_the_field_that_failed() {
        assert_eq!(field("{}"), (400, "points".into()));
        assert_eq!(
            field(r#"{"points": [{"lat": 1, "lon": 2}, {"lat": "x", "lon": 2}]}"#),
            (400, "points[1].lat".into())
        );
        assert_eq!(field(r#"{"points": [{"lat": 1}]}"#), (400, "points[0].lon".into()));
        assert_eq!(field("{\"points\": ["), (400, "body".into()));
        // A struct is an object, even though serde would read one from an array.
        assert_eq!(field(r#"[[{"lat": 1, "lon": 2}]]"#), (400, "body".into()));
        assert_eq!(field(""), (400, "body".into()));
    }

    #[test]
    fn declared_validators_still_apply() {
        let three = r#"{"points": [{"lat": 1, "lon": 2}, {"lat": 1, "lon": 2}, {"lat": 1, "lon": 2}]}"#;
        assert_eq!(field(three), (422, "points".into()));
    }
}
