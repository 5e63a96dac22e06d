//! HTTP surface of the incidents service.

use std::sync::Arc;

use poem_openapi::{OpenApi, Tags};

use crate::IncidentsState;

#[derive(Tags)]
#[allow(dead_code)] // Used by the operations the service's issue adds.
enum IncidentsTags {
    /// Incident reports with a map pin, the clerks' workflow, and the public map.
    Incidents,
}

/// The incidents service's operations.
pub struct IncidentsApi {
    #[allow(dead_code)] // Read by the operations that the incidents issue adds.
    state: Arc<IncidentsState>,
}

impl IncidentsApi {
    /// The API over shared state.
    pub fn new(state: Arc<IncidentsState>) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "IncidentsTags::Incidents")]
impl IncidentsApi {}
