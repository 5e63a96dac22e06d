//! HTTP surface of the air service.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

use crate::domain::Scheme;
use crate::AirState;

#[derive(Tags)]
enum AirTags {
    /// Air quality: stations, readings, AQI near you and per district, alerts.
    Air,
}

/// The air service's operations.
pub struct AirApi {
    #[allow(dead_code)] // Read by the operations that the air-quality issue adds.
    state: Arc<AirState>,
}

impl AirApi {
    /// The API over shared state.
    pub fn new(state: Arc<AirState>) -> Self {
        Self { state }
    }
}

/// An AQI scheme the service can compute.
#[derive(Debug, Object)]
pub struct SchemeView {
    /// Stable id used in `?scheme=`.
    pub id: String,
    /// The standard it implements, e.g. `HJ 633-2026`.
    pub standard: String,
    /// Its name in English.
    pub name_en: String,
    /// Its name in Chinese.
    pub name_zh: String,
    /// Whether citizens see this one unless they ask for another.
    pub default: bool,
}

#[OpenApi(prefix_path = "/v1/air", tag = "AirTags::Air")]
impl AirApi {
    /// List the AQI schemes
    ///
    /// The schemes every air-quality answer can be computed in; each answer names its scheme.
    #[oai(path = "/schemes", method = "get", operation_id = "list_aqi_schemes")]
    async fn list_schemes(&self) -> Json<Vec<SchemeView>> {
        Json(
            Scheme::ALL
                .iter()
                .map(|s| SchemeView {
                    id: s.id().into(),
                    standard: s.standard().into(),
                    name_en: s.name_en().into(),
                    name_zh: s.name_zh().into(),
                    default: *s == Scheme::default(),
                })
                .collect(),
        )
    }
}
