//! What the channel asks the other services, as a small trait ([`CityServices`]) so the callback
//! can be tested with a double, and its HTTP implementation ([`HttpCityServices`]) that talks to
//! them at `settings.services.*` (the portal itself when all-in-one), through their internal
//! endpoints (`/v1/internal/<service>/...`, `X-Internal-Token`).

use std::time::Duration;

use async_trait::async_trait;
use city_platform::auth::INTERNAL_TOKEN_HEADER;
use city_platform::peers::{trace_headers, Peer};
use serde::Deserialize;

/// Air quality at a point, as the air service reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AirNow {
    /// Station name.
    pub station: String,
    /// Distance from the point, metres.
    pub distance_m: f64,
    /// The index; `None` when the scheme withholds it for this hour.
    pub aqi: Option<i64>,
    /// Category in words, Chinese and English (e.g. `轻度污染 Lightly polluted`).
    pub category: String,
    /// Health advice, Chinese then English.
    pub advice: String,
}

/// A citizen's next appointment (booking's `next-appointment` answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Appointment {
    /// Booking's id of it.
    pub appointment_id: String,
    /// Hospital, department and doctor.
    pub place: String,
    /// When, Beijing time, as shown to people (`2026-12-02 09:00–09:30 (Beijing time)`).
    pub when: String,
    /// Who it is for, masked (`张*`).
    pub patient: String,
}

/// Something the citizen still has to pay (payments' `unpaid` answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Bill {
    /// `bill` (a utility bill) or `booking` (a booking fee).
    pub kind: String,
    /// Payments' id of it.
    pub id: String,
    /// What it is for.
    pub description: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// Last day to pay (`YYYY-MM-DD`, Beijing), if it has one.
    pub due_date: Option<String>,
}

/// One of a citizen's incident reports not yet closed (incidents' `open` answer).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenTicket {
    /// Incidents' id of the report.
    pub id: String,
    /// Its category code.
    pub category: String,
    /// Its state (`open`, `confirmed`, `in_progress`, ...).
    pub status: String,
    /// When it was filed (RFC 3339, UTC).
    pub created_at: String,
}

/// Why another service could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The service could not be reached or answered with an error.
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

/// The other services, as the channel needs them.
#[async_trait]
pub trait CityServices: Send + Sync + 'static {
    /// Air quality near a GCJ-02 point; `None` when no station nearby has a fresh reading.
    async fn air_near(&self, latitude: f64, longitude: f64) -> Result<Option<AirNow>, ServiceError>;
    /// The citizen whose WeChat identity is this Service Account openid; `None` when the follower
    /// never signed in.
    async fn citizen_for_openid(&self, openid: &str) -> Result<Option<String>, ServiceError>;
    /// The citizen with this WeChat unionid (signed in through any of our apps); `None` when
    /// nobody did. The default (doubles that do not care) knows none.
    async fn citizen_for_unionid(&self, _unionid: &str) -> Result<Option<String>, ServiceError> {
        Ok(None)
    }
    /// The citizen's next appointment, if any.
    async fn next_appointment(&self, citizen_id: &str) -> Result<Option<Appointment>, ServiceError>;
    /// The citizen's unpaid bills and fines.
    async fn unpaid(&self, citizen_id: &str) -> Result<Vec<Bill>, ServiceError>;
    /// The citizen's own incident reports not yet closed, newest first. The default (doubles
    /// that do not care) knows none.
    async fn open_tickets(&self, _citizen_id: &str) -> Result<Vec<OpenTicket>, ServiceError> {
        Ok(Vec::new())
    }
    /// The citizens with an appointment, not cancelled, at a hospital in `district` on one of
    /// the next `days` Beijing days (today included). The default knows none.
    async fn district_patients(&self, _district: &str, _days: u32) -> Result<Vec<String>, ServiceError> {
        Ok(Vec::new())
    }
    /// The citizens with an incident report still open in `district`. The default knows none.
    async fn district_reporters(&self, _district: &str) -> Result<Vec<String>, ServiceError> {
        Ok(Vec::new())
    }
}

/// Where the other services are (the portal itself when all-in-one; their replicas, in turn,
/// when apart).
pub struct ServiceBases {
    /// Air quality.
    pub air: Peer,
    /// Identity.
    pub identity: Peer,
    /// Booking.
    pub booking: Peer,
    /// Payments.
    pub payments: Peer,
    /// Incidents.
    pub incidents: Peer,
}

/// [`CityServices`] over HTTP: the public `GET /v1/air/nearest` and the internal
/// `/v1/internal/<service>/...` lookups, every call with the platform's `X-Internal-Token`
/// (which also exempts it from rate limits: the channel asks on behalf of many followers).
pub struct HttpCityServices {
    http: reqwest::Client,
    bases: ServiceBases,
}

fn client(timeout: Duration, internal_token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(mut value) = reqwest::header::HeaderValue::from_str(internal_token) {
        value.set_sensitive(true);
        headers.insert(INTERNAL_TOKEN_HEADER, value);
    }
    reqwest::Client::builder().timeout(timeout).default_headers(headers).build().unwrap_or_default()
}

/// A path segment as it may appear in a URL (openids and ids are URL-safe already; this keeps a
/// stray character from changing the path).
fn segment(raw: &str) -> String {
    city_wechat::client::percent_encode(raw)
}

impl HttpCityServices {
    /// Clients of the services at these base URLs, presenting `internal_token`.
    pub fn new(bases: ServiceBases, internal_token: &str) -> Self {
        Self { http: client(Duration::from_secs(3), internal_token), bases }
    }

    /// GETs `path` from one of `peer`'s replicas: 200 is the answer, 404 "none" (the services
    /// answer 404 for a follower never signed in, no upcoming appointment); anything else, or no
    /// answer, is an error the caller logs.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        peer: &Peer,
        path: String,
    ) -> Result<Option<T>, ServiceError> {
        let base = peer.base();
        let url = format!("{base}{path}");
        let mut req = self.http.get(&url);
        for (name, value) in trace_headers() {
            req = req.header(name, value);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                peer.failed(&base);
            }
            ServiceError::Unavailable(format!("{} at {base}: {}", peer.service(), e.without_url()))
        })?;
        match resp.status().as_u16() {
            200 => resp.json().await.map(Some).map_err(|e| ServiceError::Unavailable(e.to_string())),
            404 => {
                tracing::debug!(service = peer.service(), path = path_of(&url), "answered 404: nothing to show");
                Ok(None)
            }
            s => Err(ServiceError::Unavailable(format!("{} answered {s}", path_of(&url)))),
        }
    }
}

/// The path of a URL, for errors and logs (the query may carry a location).
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    path.split('?').next().unwrap_or(path)
}

/// The parts of air's `GET /v1/air/nearest` answer the reply uses.
#[derive(Deserialize)]
struct NearestBody {
    station: NearestStation,
    aqi: Option<i64>,
    category: Option<NearestCategory>,
    advice: Option<NearestAdvice>,
}

#[derive(Deserialize)]
struct NearestStation {
    name: String,
    distance_m: f64,
}

#[derive(Deserialize)]
struct NearestCategory {
    name_zh: String,
    name_en: String,
}

#[derive(Deserialize)]
struct NearestAdvice {
    zh: String,
    en: String,
}

impl From<NearestBody> for AirNow {
    fn from(b: NearestBody) -> Self {
        Self {
            station: b.station.name,
            distance_m: b.station.distance_m,
            aqi: b.aqi,
            category: b.category.map(|c| format!("{} {}", c.name_zh, c.name_en)).unwrap_or_default(),
            advice: b.advice.map(|a| format!("{}\n{}", a.zh, a.en)).unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
struct FollowerBody {
    citizen_id: String,
}

#[derive(Deserialize)]
struct AppointmentBody {
    appointment_id: String,
    place: String,
    when: String,
    patient: String,
}

#[derive(Deserialize)]
struct BillBody {
    kind: String,
    id: String,
    description: String,
    amount_fen: i64,
    due_date: Option<String>,
}

#[async_trait]
impl CityServices for HttpCityServices {
    async fn air_near(&self, latitude: f64, longitude: f64) -> Result<Option<AirNow>, ServiceError> {
        let path = format!("/v1/air/nearest?lat={latitude}&lon={longitude}&coord=gcj02");
        Ok(self.get_json::<NearestBody>(&self.bases.air, path).await?.map(AirNow::from))
    }

    async fn citizen_for_openid(&self, openid: &str) -> Result<Option<String>, ServiceError> {
        let path = format!("/v1/internal/identity/oa-followers/{}", segment(openid));
        Ok(self.get_json::<FollowerBody>(&self.bases.identity, path).await?.map(|b| b.citizen_id))
    }

    async fn citizen_for_unionid(&self, unionid: &str) -> Result<Option<String>, ServiceError> {
        let path = format!("/v1/internal/identity/unionids/{}", segment(unionid));
        Ok(self.get_json::<FollowerBody>(&self.bases.identity, path).await?.map(|b| b.citizen_id))
    }

    async fn next_appointment(&self, citizen_id: &str) -> Result<Option<Appointment>, ServiceError> {
        let path = format!("/v1/internal/booking/citizens/{}/next-appointment", segment(citizen_id));
        Ok(self.get_json::<AppointmentBody>(&self.bases.booking, path).await?.map(|b| Appointment {
            appointment_id: b.appointment_id,
            place: b.place,
            when: b.when,
            patient: b.patient,
        }))
    }

    async fn unpaid(&self, citizen_id: &str) -> Result<Vec<Bill>, ServiceError> {
        let path = format!("/v1/internal/payments/citizens/{}/unpaid", segment(citizen_id));
        // 404 would mean payments does not know the route (an older payments): nothing to show.
        Ok(self
            .get_json::<Vec<BillBody>>(&self.bases.payments, path)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|b| Bill {
                kind: b.kind,
                id: b.id,
                description: b.description,
                amount_fen: b.amount_fen,
                due_date: b.due_date,
            })
            .collect())
    }

    async fn open_tickets(&self, citizen_id: &str) -> Result<Vec<OpenTicket>, ServiceError> {
        let path = format!("/v1/internal/incidents/citizens/{}/open", segment(citizen_id));
        Ok(self
            .get_json::<Vec<TicketBody>>(&self.bases.incidents, path)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|t| OpenTicket { id: t.id, category: t.category, status: t.status, created_at: t.created_at })
            .collect())
    }

    async fn district_patients(&self, district: &str, days: u32) -> Result<Vec<String>, ServiceError> {
        let path = format!("/v1/internal/booking/districts/{}/citizens?days={days}", segment(district));
        self.citizens_of(&self.bases.booking, path).await
    }

    async fn district_reporters(&self, district: &str) -> Result<Vec<String>, ServiceError> {
        let path = format!("/v1/internal/incidents/districts/{}/citizens", segment(district));
        self.citizens_of(&self.bases.incidents, path).await
    }
}

impl HttpCityServices {
    /// A `{"citizen_ids": [...]}` answer. A 404 here is not "none": an urgent notice must not
    /// quietly reach nobody because a service lacks the route, so it is an error.
    async fn citizens_of(&self, peer: &Peer, path: String) -> Result<Vec<String>, ServiceError> {
        match self.get_json::<CitizensBody>(peer, path).await? {
            Some(b) => Ok(b.citizen_ids),
            None => Err(ServiceError::Unavailable(format!("{} does not list a district's citizens", peer.service()))),
        }
    }
}

#[derive(Deserialize)]
struct TicketBody {
    id: String,
    category: String,
    status: String,
    created_at: String,
}

#[derive(Deserialize)]
struct CitizensBody {
    citizen_ids: Vec<String>,
}

/// [`city_notify::Contacts`] over HTTP: identity's
/// `GET /v1/internal/identity/citizens/{citizen_id}/contacts` →
/// `{"email": str|null, "oa_openid": str|null, "mp_openid": str|null}`; 404 (no such citizen)
/// means nothing to deliver to.
pub struct HttpContacts {
    http: reqwest::Client,
    identity: Peer,
}

impl HttpContacts {
    /// A client of identity's replicas, presenting `internal_token`.
    pub fn new(identity: Peer, internal_token: &str) -> Self {
        Self { http: client(Duration::from_secs(5), internal_token), identity }
    }
}

#[derive(Deserialize)]
struct ContactBody {
    email: Option<String>,
    oa_openid: Option<String>,
    mp_openid: Option<String>,
    #[serde(default)]
    preferences: std::collections::BTreeMap<String, Vec<String>>,
    unsubscribe_token: Option<String>,
}

#[async_trait]
impl city_notify::Contacts for HttpContacts {
    async fn contact(&self, citizen_id: &str) -> Result<city_notify::Contact, String> {
        let base = self.identity.base();
        let url = format!("{base}/v1/internal/identity/citizens/{}/contacts", segment(citizen_id));
        let mut req = self.http.get(&url);
        for (name, value) in trace_headers() {
            req = req.header(name, value);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                self.identity.failed(&base);
            }
            e.without_url().to_string()
        })?;
        match resp.status().as_u16() {
            200 => {
                let b: ContactBody = resp.json().await.map_err(|e| e.to_string())?;
                Ok(city_notify::Contact {
                    email: b.email,
                    oa_openid: b.oa_openid,
                    mp_openid: b.mp_openid,
                    preferences: b.preferences,
                    unsubscribe_token: b.unsubscribe_token,
                })
            }
            404 => Ok(city_notify::Contact::default()),
            s => Err(format!("identity answered {s} for a citizen's contacts")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_air_services_nearest_answer_reads_into_the_reply_fields() {
        let body = serde_json::json!({
            "scheme": "cn-2026",
            "station": {"code": "1437A", "name": "人民公园 People's Park", "district_code": "510105", "distance_m": 212.5},
            "aqi": 119, "level": 3,
            "category": {"level": 3, "level_zh": "三级", "name_zh": "轻度污染", "name_en": "Lightly polluted"},
            "colour": {"hex": "#FF7E00"}, "primary_pollutants": [],
            "advice": {"zh": "减少户外运动", "en": "Reduce outdoor exercise", "health_effect_zh": "", "health_effect_en": ""},
            "observed_at": "2026-12-01T12:00:00+08:00", "fell_back": false, "skipped": []
        });
        let air = AirNow::from(serde_json::from_value::<NearestBody>(body).unwrap());
        assert_eq!(air.aqi, Some(119));
        assert_eq!(air.category, "轻度污染 Lightly polluted");
        assert_eq!(air.advice, "减少户外运动\nReduce outdoor exercise");
        let withheld = serde_json::json!({"station": {"name": "x", "distance_m": 1.0}, "aqi": null});
        assert_eq!(AirNow::from(serde_json::from_value::<NearestBody>(withheld).unwrap()).aqi, None);
    }

    #[test]
    fn errors_name_the_path_without_the_query() {
        assert_eq!(path_of("http://127.0.0.1:8080/v1/air/nearest?lat=30.6&lon=104.0"), "/v1/air/nearest");
        assert_eq!(path_of("http://h"), "");
    }
}
