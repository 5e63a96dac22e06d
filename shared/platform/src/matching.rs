//! Strings held to a regular expression, for parameters and request fields.
//!
//! `#[oai(validator(pattern = "…"))]` documents the pattern and checks it, but poem-openapi 5.1
//! compiles the expression on every check: some 20-30 µs of a request in release, paid by every
//! map view or nearest-station lookup that names its datum. [`Matching`] documents the very same
//! schema (`type: string` and `pattern`, so the published document does not change) and checks
//! the value against an expression compiled once per process.
//!
//! ```ignore
//! city_platform::pattern!(
//!     /// A datum a client may declare.
//!     pub CrsName = "^(gcj02|wgs84|bd09)$"
//! );
//! async fn nearest(&self, coord: Query<Option<Matching<CrsName>>>) { let c = coord.0.as_deref(); }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type};
pub use regex::Regex;
use serde_json::Value;

/// A regular expression a [`Matching`] value must match (unanchored, as JSON Schema reads it:
/// write `^…$` for a whole-value match). Declare one with [`pattern!`](crate::pattern).
pub trait Pattern: 'static {
    /// The expression, as published in the document.
    const PATTERN: &'static str;
    /// The expression, compiled once.
    fn regex() -> &'static Regex;
}

/// Declares a [`Pattern`]: an uninhabited marker type whose expression is compiled at first use.
#[macro_export]
macro_rules! pattern {
    ($(#[$meta:meta])* $vis:vis $name:ident = $re:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {}

        impl $crate::matching::Pattern for $name {
            const PATTERN: &'static str = $re;

            fn regex() -> &'static $crate::matching::Regex {
                static COMPILED: ::std::sync::OnceLock<$crate::matching::Regex> = ::std::sync::OnceLock::new();
                COMPILED.get_or_init(|| $crate::matching::Regex::new($re).expect("the pattern is a valid expression"))
            }
        }
    };
}

/// A string that matched `P` when it was parsed.
pub struct Matching<P> {
    value: String,
    // A function pointer keeps the marker out of the auto traits: `Matching` is Send and Sync.
    pattern: PhantomData<fn() -> P>,
}

impl<P: Pattern> Matching<P> {
    /// Checks `value` against `P`.
    pub fn new(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if P::regex().is_match(&value) {
            Ok(Self { value, pattern: PhantomData })
        } else {
            Err(format!("must match the pattern {}", P::PATTERN))
        }
    }
}

impl<P> Matching<P> {
    /// The value.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The value, owned.
    pub fn into_string(self) -> String {
        self.value
    }
}

impl<P> Deref for Matching<P> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.value
    }
}

impl<P> AsRef<str> for Matching<P> {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl<P> Clone for Matching<P> {
    fn clone(&self) -> Self {
        Self { value: self.value.clone(), pattern: PhantomData }
    }
}

impl<P> PartialEq for Matching<P> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<P> Eq for Matching<P> {}

impl<P> PartialEq<str> for Matching<P> {
    fn eq(&self, other: &str) -> bool {
        self.value == other
    }
}

impl<P> PartialEq<&str> for Matching<P> {
    fn eq(&self, other: &&str) -> bool {
        self.value == *other
    }
}

impl<P> fmt::Debug for Matching<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.value, f)
    }
}

impl<P> fmt::Display for Matching<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<P: Pattern> Type for Matching<P> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some(P::PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

impl<P: Pattern> ParseFromParameter for Matching<P> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::new(value).map_err(ParseError::custom)
    }
}

impl<P: Pattern> ParseFromJSON for Matching<P> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => Self::new(s).map_err(ParseError::custom),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<P: Pattern> ToJSON for Matching<P> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.value.clone()))
    }
}

impl<P> serde::Serialize for Matching<P> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de, P: Pattern> serde::Deserialize<'de> for Matching<P> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::new(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::pattern!(Datum = "^(gcj02|wgs84|bd09)$");
    crate::pattern!(Day = r"^\d{4}-\d{2}-\d{2}$");

    #[test]
    fn only_matching_values_parse_from_a_parameter_or_json() {
        assert_eq!(Matching::<Datum>::parse_from_parameter("wgs84").unwrap().as_str(), "wgs84");
        for bad in ["", "WGS84", "wgs84 ", "gcj02|wgs84", "xgcj02"] {
            let err = Matching::<Datum>::parse_from_parameter(bad).unwrap_err().into_message();
            assert!(err.contains("^(gcj02|wgs84|bd09)$"), "{bad:?}: {err}");
        }
        assert_eq!(&*Matching::<Day>::parse_from_json(Some(Value::from("2026-12-05"))).unwrap(), "2026-12-05");
        assert!(Matching::<Day>::parse_from_json(Some(Value::from("2026-12-5"))).is_err());
        // A number is not a string here, unlike poem-openapi's String.
        assert!(Matching::<Day>::parse_from_json(Some(Value::from(20261205))).is_err());
        assert!(serde_json::from_str::<Matching<Datum>>("\"bd09\"").is_ok());
        assert!(serde_json::from_str::<Matching<Datum>>("\"bd\"").is_err());
    }

    #[test]
    fn the_schema_is_a_string_with_the_pattern() {
        let MetaSchemaRef::Inline(schema) = Matching::<Datum>::schema_ref() else { panic!("inline") };
        assert_eq!(schema.ty, "string");
        assert_eq!(schema.pattern.as_deref(), Some("^(gcj02|wgs84|bd09)$"));
        assert_eq!(
            serde_json::to_value(&*schema).unwrap(),
            serde_json::json!({"type": "string", "pattern": "^(gcj02|wgs84|bd09)$"})
        );
    }
}
