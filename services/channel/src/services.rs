//! What the channel asks the other services, as a small trait ([`CityServices`]) so the callback
//! can be tested with a double, and its HTTP implementation ([`HttpCityServices`]) that talks to
//! them at `settings.services.*` (the portal itself when all-in-one).

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

/// Air quality at a point, as the air service reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AirNow {
    /// Station name.
    pub station: String,
    /// Distance from the point, metres.
    pub distance_m: f64,
    /// The index.
    pub aqi: i64,
    /// Category in words (e.g. 良).
    pub category: String,
    /// Health advice.
    pub advice: String,
}

/// A citizen's next appointment.
#[derive(Debug, Clone, PartialEq)]
pub struct Appointment {
    /// Hospital and department.
    pub place: String,
    /// When, Beijing time, as shown to people.
    pub when: String,
}

/// Something the citizen still has to pay.
#[derive(Debug, Clone, PartialEq)]
pub struct Bill {
    /// What it is for.
    pub description: String,
    /// Amount in fen.
    pub amount_fen: i64,
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
    /// The citizen's next appointment, if any.
    async fn next_appointment(&self, citizen_id: &str) -> Result<Option<Appointment>, ServiceError>;
    /// The citizen's unpaid bills and fines.
    async fn unpaid(&self, citizen_id: &str) -> Result<Vec<Bill>, ServiceError>;
}

/// [`CityServices`] over HTTP.
///
/// Identity, booking and payments do not yet offer a service-to-service way to look a citizen up
/// by Service Account openid, so [`HttpCityServices::citizen_for_openid`] asks identity's
/// proposed `GET /v1/internal/wechat/oa-followers/{openid}` and treats any answer but 200 as
/// "not signed in": followers then get an invitation, never an error.
pub struct HttpCityServices {
    http: reqwest::Client,
    air: String,
    identity: String,
    booking: String,
    payments: String,
}

impl HttpCityServices {
    /// Clients of the services at these base URLs.
    pub fn new(air: String, identity: String, booking: String, payments: String) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap_or_default();
        Self { http, air, identity, booking, payments }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: String) -> Result<Option<T>, ServiceError> {
        let resp = self.http.get(&url).send().await.map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        match resp.status().as_u16() {
            200 => resp.json().await.map(Some).map_err(|e| ServiceError::Unavailable(e.to_string())),
            404 => Ok(None),
            s => Err(ServiceError::Unavailable(format!("{url} answered {s}"))),
        }
    }
}

#[derive(Deserialize)]
struct NearestBody {
    station: NearestStation,
    aqi: i64,
    category: String,
    advice: String,
}

#[derive(Deserialize)]
struct NearestStation {
    name: String,
    distance_m: f64,
}

#[derive(Deserialize)]
struct FollowerBody {
    citizen_id: String,
}

#[derive(Deserialize)]
struct AppointmentBody {
    place: String,
    when: String,
}

#[derive(Deserialize)]
struct BillBody {
    description: String,
    amount_fen: i64,
}

#[async_trait]
impl CityServices for HttpCityServices {
    async fn air_near(&self, latitude: f64, longitude: f64) -> Result<Option<AirNow>, ServiceError> {
        let url = format!("{}/v1/air/nearest?lat={latitude}&lon={longitude}&coord=gcj02", self.air);
        Ok(self.get_json::<NearestBody>(url).await?.map(|b| AirNow {
            station: b.station.name,
            distance_m: b.station.distance_m,
            aqi: b.aqi,
            category: b.category,
            advice: b.advice,
        }))
    }

    async fn citizen_for_openid(&self, openid: &str) -> Result<Option<String>, ServiceError> {
        let url = format!("{}/v1/internal/wechat/oa-followers/{openid}", self.identity);
        // Until identity offers it, anything but a 200 means "not linked".
        Ok(self.get_json::<FollowerBody>(url).await.ok().flatten().map(|b| b.citizen_id))
    }

    async fn next_appointment(&self, citizen_id: &str) -> Result<Option<Appointment>, ServiceError> {
        let url = format!("{}/v1/internal/booking/citizens/{citizen_id}/next-appointment", self.booking);
        Ok(self.get_json::<AppointmentBody>(url).await?.map(|b| Appointment { place: b.place, when: b.when }))
    }

    async fn unpaid(&self, citizen_id: &str) -> Result<Vec<Bill>, ServiceError> {
        let url = format!("{}/v1/internal/payments/citizens/{citizen_id}/unpaid", self.payments);
        Ok(self
            .get_json::<Vec<BillBody>>(url)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|b| Bill { description: b.description, amount_fen: b.amount_fen })
            .collect())
    }
}

/// [`city_notify::Contacts`] over HTTP: identity's proposed
/// `GET /v1/internal/citizens/{citizen_id}/contacts` → `{"email"?, "oa_openid"?, "mp_openid"?}`.
/// A 404 (not offered yet, or no such citizen) means nothing to deliver to.
pub struct HttpContacts {
    http: reqwest::Client,
    identity: String,
}

impl HttpContacts {
    /// A client of identity at `identity`.
    pub fn new(identity: String) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Self { http, identity }
    }
}

#[derive(Deserialize)]
struct ContactBody {
    email: Option<String>,
    oa_openid: Option<String>,
    mp_openid: Option<String>,
}

#[async_trait]
impl city_notify::Contacts for HttpContacts {
    async fn contact(&self, citizen_id: &str) -> Result<city_notify::Contact, String> {
        let url = format!("{}/v1/internal/citizens/{citizen_id}/contacts", self.identity);
        let resp = self.http.get(&url).send().await.map_err(|e| e.to_string())?;
        match resp.status().as_u16() {
            200 => {
                let b: ContactBody = resp.json().await.map_err(|e| e.to_string())?;
                Ok(city_notify::Contact { email: b.email, oa_openid: b.oa_openid, mp_openid: b.mp_openid })
            }
            404 => Ok(city_notify::Contact::default()),
            s => Err(format!("identity answered {s}")),
        }
    }
}
