//! HTTP surface of the air service.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

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
    /// The standard it implements.
    pub standard: String,
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
        let scheme =
            |id: &str, standard: &str, default| SchemeView { id: id.into(), standard: standard.into(), default };
        Json(vec![
            scheme(
                "cn-2026",
                "HJ 633-2026 Technical Regulation on Ambient Air Quality Index (in force since 2026-03-01)",
                true,
            ),
            scheme("cn-2012", "HJ 633-2012 Technical Regulation on Ambient Air Quality Index (on trial)", false),
            scheme("us", "US EPA AQI, Technical Assistance Document (May 2024)", false),
        ])
    }
}
