//! Internal endpoints (`/v1/internal/incidents/...`): what other City Services services ask
//! about reports on a citizen's behalf (the channel's conversation context, its urgent notices).
//! Every call carries the platform's `X-Internal-Token`; the gateway never forwards
//! `/v1/internal` from outside, so citizens, staff and integrators never reach these.

use std::sync::Arc;

use city_platform::auth::InternalAuth;
use city_platform::problem::kind;
use city_platform::time::{from_ms, rfc3339};
use city_platform::{Failure, Problem};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::IncidentsTags;
use crate::store::internal as sql;
use crate::IncidentsState;

city_platform::error_set!(
    /// Asking about reports by district: the code is not one of the city's.
    pub DistrictErrors = [kind::VALIDATION]
);
city_platform::error_set!(
    /// Asking about a citizen's reports (nothing but the store can fail).
    pub CitizenErrors = []
);

/// The most open reports one answer lists (a citizen with more is a reporter of an unusual kind;
/// the channel shows a few).
const OPEN_LIMIT: i64 = 50;

/// The internal operations.
pub struct InternalApi {
    pub(super) state: Arc<IncidentsState>,
}

/// One of a citizen's reports not yet closed.
#[derive(Debug, Object)]
#[oai(rename = "IncidentsOpenTicket")]
pub struct OpenTicket {
    /// The report's id.
    pub id: String,
    /// Its category code.
    pub category: String,
    /// Its state (`open`, `confirmed`, `in_progress`, ...).
    pub status: String,
    /// When it was filed (RFC 3339, UTC).
    pub created_at: String,
}

/// The citizens with a report still open in a district.
#[derive(Debug, Object)]
#[oai(rename = "IncidentsDistrictCitizens")]
pub struct DistrictCitizens {
    /// The district code asked about.
    pub district: String,
    /// Their citizen ids, each once.
    pub citizen_ids: Vec<String>,
}

#[OpenApi(prefix_path = "/v1/internal/incidents", tag = "IncidentsTags::Incidents")]
impl InternalApi {
    /// Internal: a citizen's open reports
    ///
    /// The citizen's own reports that are not closed (fixed, closed, duplicate, ...), newest
    /// first, at most 50; an empty list when there are none. Service-to-service only
    /// (`X-Internal-Token`).
    #[oai(path = "/citizens/:citizen_id/open", method = "get", operation_id = "get_internal_open_incidents")]
    async fn open_tickets(
        &self,
        _auth: InternalAuth,
        citizen_id: Path<String>,
    ) -> Result<Json<Vec<OpenTicket>>, Failure<CitizenErrors>> {
        let rows = sql::open_tickets(&self.state.db.pool, &citizen_id.0, OPEN_LIMIT).await?;
        Ok(Json(
            rows.into_iter()
                .map(|t| OpenTicket {
                    id: t.id,
                    category: t.category,
                    status: t.state,
                    created_at: rfc3339(from_ms(t.created_at)),
                })
                .collect(),
        ))
    }

    /// Internal: citizens with an open report in a district
    ///
    /// Each citizen who filed a report in the district that is not closed yet, once (anonymous
    /// reports included: the answer goes to a service, never to the public). Used by the channel
    /// to send urgent notices to those concerned. Service-to-service only (`X-Internal-Token`).
    #[oai(path = "/districts/:code/citizens", method = "get", operation_id = "get_internal_incident_district_citizens")]
    async fn district_citizens(
        &self,
        _auth: InternalAuth,
        code: Path<String>,
    ) -> Result<Json<DistrictCitizens>, Failure<DistrictErrors>> {
        if self.state.platform.districts.get(&code.0).is_none() {
            return Err(Problem::invalid("code", "not a district code of this city").into());
        }
        let citizen_ids = sql::district_citizens(&self.state.db.pool, &code.0).await?;
        Ok(Json(DistrictCitizens { district: code.0, citizen_ids }))
    }
}
