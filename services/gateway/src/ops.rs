//! The gateway's own routes: the City Services catalogue, the districts, and the operational
//! endpoints (`/healthz`, `/readyz`, `/metrics`).

use std::sync::Arc;

use city_platform::bus::EventBus;
use city_platform::cache::Cache;
use city_platform::coords::LatLon;
use city_platform::districts::Districts;
use city_platform::problem::kind;
use city_platform::{CachedJson, Db, Failure, JsonBody, Problem};
use poem_openapi::param::Query;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use serde::Deserialize;

/// The catalogue seed, compiled in.
const SERVICES_JSON: &str = include_str!("../../../seeds/services.json");

#[derive(Tags)]
enum GatewayTags {
    /// The City Services home: the catalogue of services and the city's districts.
    Catalogue,
    /// Liveness, readiness and metrics for operators.
    Operations,
}

/// Whether a service in the catalogue can be used now.
#[derive(Debug, Clone, Copy, Enum, Deserialize, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    /// Open to citizens.
    Available,
    /// Temporarily closed for maintenance.
    Maintenance,
    /// Announced, not yet open.
    ComingSoon,
}

/// Who runs a service in the catalogue.
#[derive(Debug, Clone, Copy, Enum, Deserialize, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// This portal, through its API.
    City,
    /// Another organisation; the portal links to it.
    External,
}

/// One entry of the City Services home.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct CatalogueEntry {
    /// Stable id, e.g. `booking`.
    pub id: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// What it does, in Chinese.
    pub description_zh: String,
    /// What it does, in English.
    pub description_en: String,
    /// Icon path, relative to the portal's static assets.
    pub icon: String,
    /// Grouping on the home page: `health`, `payments`, `city`, `environment`, `transport`.
    pub category: String,
    /// Whether it can be used now.
    pub status: ServiceStatus,
    /// Who runs it.
    pub provider: Provider,
    /// The Mini Program page that opens it, for `wx.navigateTo`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default)]
    pub miniprogram_path: Option<String>,
    /// The Service Account menu key that answers from it.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default)]
    pub oa_menu_key: Option<String>,
    /// The tag of its operations in the OpenAPI document.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default)]
    pub openapi_tag: Option<String>,
    /// Where an external service lives.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Deserialize)]
struct CatalogueSeed {
    services: Vec<CatalogueEntry>,
}

/// The catalogue, parsed once at start.
pub fn load_catalogue() -> Result<Vec<CatalogueEntry>, serde_json::Error> {
    serde_json::from_str::<CatalogueSeed>(SERVICES_JSON).map(|s| s.services)
}

/// Everything `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    /// Every service store this process opened.
    pub dbs: Vec<Db>,
    /// The cache.
    pub cache: Arc<dyn Cache>,
    /// The bus.
    pub bus: Arc<dyn EventBus>,
    /// The gateway's services and their replicas (empty unless `--gateway`): reported, not
    /// required, so one failing service never takes every gateway out of rotation.
    pub upstreams: Vec<city_platform::peers::Peer>,
}

/// Catalogue and districts.
pub struct CatalogueApi {
    /// The catalogue response, serialised once.
    catalogue: CachedJson<CatalogueView>,
    /// The districts.
    districts: Arc<Districts>,
}

impl CatalogueApi {
    /// The catalogue of `entries` for the city of `districts`.
    pub fn new(entries: &[CatalogueEntry], districts: Arc<Districts>) -> Self {
        let view = CatalogueView { city: districts.city.clone(), services: entries.to_vec() };
        Self { catalogue: CachedJson::new(&view), districts }
    }
}

/// Liveness, readiness and metrics.
pub struct OpsApi {
    /// What `/readyz` checks.
    pub readiness: Readiness,
}

/// The catalogue response.
#[derive(Debug, Object)]
pub struct CatalogueView {
    /// The city the portal serves.
    pub city: String,
    /// The services, this portal's and linked ones.
    pub services: Vec<CatalogueEntry>,
}

/// A district, without its boundary.
#[derive(Debug, Object)]
pub struct DistrictView {
    /// Administrative division code.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// Coordinate system of a point sent by a client.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq, Default, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum CoordSystem {
    /// GPS / WGS-84.
    #[default]
    Wgs84,
    /// China's GCJ-02, as WeChat's map and `wx.getLocation({type: 'gcj02'})` give it.
    Gcj02,
}

/// Points to place in districts.
#[derive(Debug, Object, Deserialize)]
pub struct LocateRequest {
    /// Coordinate system of every point (default `wgs84`).
    pub coord: Option<CoordSystem>,
    /// The points, at most 1,000.
    #[oai(validator(max_items = 1000))]
    pub points: Vec<PointDto>,
}

/// A point as a client sends it.
#[derive(Debug, Object, Deserialize)]
pub struct PointDto {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
}

/// Where each point fell, in request order.
#[derive(Debug, Object)]
pub struct LocateResult {
    /// One entry per point, in the order sent.
    pub districts: Vec<LocatedPoint>,
}

/// Where one point fell. An object rather than a bare district so a point outside the city is
/// `{"inside": false}`: the portal leaves fields out, never sends `null` (README, "Absent,
/// never null"), and an array item cannot be left out without shifting the order.
#[derive(Debug, Object)]
pub struct LocatedPoint {
    /// Whether the point lies inside one of the city's districts.
    pub inside: bool,
    /// The district containing it; absent when `inside` is false.
    #[oai(skip_serializing_if_is_none)]
    pub district: Option<DistrictView>,
}

#[derive(ApiResponse)]
enum DistrictsResponse {
    /// The districts as an RFC 7946 FeatureCollection (WGS-84).
    #[oai(status = 200, content_type = "application/geo+json")]
    Ok(Json<serde_json::Value>),
}

/// One readiness check.
#[derive(Debug, Object)]
pub struct Check {
    /// What was checked: `db:booking`, `cache:redis`, `bus:redis`.
    pub name: String,
    /// Whether it answered.
    pub ok: bool,
    /// Why not, when it did not.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

/// The readiness report.
#[derive(Debug, Object)]
pub struct ReadinessView {
    /// `ready` or `not_ready`.
    pub status: String,
    /// Each dependency.
    pub checks: Vec<Check>,
    /// The gateway only: each service replica it forwards to and whether it answers. For
    /// information: they do not decide the gateway's own readiness.
    #[oai(default, skip_serializing_if_is_empty)]
    pub upstreams: Vec<UpstreamCheck>,
}

/// One replica behind the gateway.
#[derive(Debug, Object)]
pub struct UpstreamCheck {
    /// The service (`booking`).
    pub service: String,
    /// The replica's base URL.
    pub url: String,
    /// Whether its `/healthz` answered just now (a replica that does not is set aside).
    pub ok: bool,
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// Every dependency answers.
    #[oai(status = 200)]
    Ready(Json<ReadinessView>),
    /// Some dependency does not; `checks` says which.
    #[oai(status = 503)]
    NotReady(Json<ReadinessView>),
}

/// Liveness.
#[derive(Debug, Object)]
pub struct Health {
    /// Always `ok` while the process serves.
    pub status: String,
}

#[OpenApi(tag = "GatewayTags::Catalogue")]
impl CatalogueApi {
    /// List the City Services
    ///
    /// The catalogue behind the City Services home: this portal's services and the outside ones
    /// it links to, with names in Chinese and English, the Mini Program page and the Service
    /// Account menu key of each.
    #[oai(path = "/v1/services", method = "get", operation_id = "list_services")]
    async fn list_services(&self) -> CachedJson<CatalogueView> {
        self.catalogue.clone()
    }

    /// Get the city's districts as GeoJSON
    #[oai(path = "/v1/districts", method = "get", operation_id = "list_districts")]
    ///
    /// In WGS-84 (RFC 7946) by default; `coord=gcj02` gives the outlines in GCJ-02, to draw over
    /// the street tiles of Chinese map providers (with a `coordinate_system` member saying so).
    async fn list_districts(
        &self,
        /// Coordinate system of the answer (default `wgs84`).
        coord: Query<Option<CoordSystem>>,
    ) -> Result<DistrictsResponse, Failure<DistrictsErrors>> {
        // The Result states the edge's answers (a `coord` that is neither value is a 400 from
        // the parameter parser); the handler itself cannot fail.
        Ok(match coord.0.unwrap_or_default() {
            CoordSystem::Wgs84 => DistrictsResponse::Ok(Json(self.districts.geojson.clone())),
            CoordSystem::Gcj02 => {
                let mut geojson = self.districts.geojson.clone();
                to_gcj02(&mut geojson);
                geojson["coordinate_system"] = serde_json::json!("gcj02");
                DistrictsResponse::Ok(Json(geojson))
            }
        })
    }

    /// Find the district that contains a point
    ///
    /// `coord` says which coordinate system `lat`/`lon` are in (WeChat's map gives GCJ-02).
    /// A point outside every district is a 404.
    #[oai(path = "/v1/districts/locate", method = "get", operation_id = "locate_district")]
    async fn locate_district(
        &self,
        /// Latitude in degrees.
        lat: Query<f64>,
        /// Longitude in degrees.
        lon: Query<f64>,
        /// Coordinate system of the point (default `wgs84`).
        coord: Query<Option<CoordSystem>>,
    ) -> Result<Json<DistrictView>, Failure<LocateErrors>> {
        let at = parse_point(lat.0, lon.0, coord.0.unwrap_or_default())?;
        let d = self.districts.locate(at).ok_or_else(|| {
            Problem::not_found("district").with_detail("the point lies outside every district of the city")
        })?;
        Ok(Json(view(d)))
    }

    /// Find the districts of many points
    ///
    /// For integrators placing a batch of addresses (an import of incident reports, say).
    /// Points outside the city come back as `{"inside": false}`; a point that is not a coordinate at all
    /// is a 422 naming it (`points[3].lat`).
    #[oai(path = "/v1/districts/locate", method = "post", operation_id = "locate_districts")]
    async fn locate_districts(
        &self,
        body: JsonBody<LocateRequest>,
    ) -> Result<Json<LocateResult>, Failure<PointErrors>> {
        let coord = body.0.coord.unwrap_or_default();
        let mut districts = Vec::with_capacity(body.0.points.len());
        for (i, p) in body.0.points.iter().enumerate() {
            let at = parse_point(p.lat, p.lon, coord).map_err(|mut problem| {
                for e in &mut problem.errors {
                    e.field = format!("points[{i}].{}", e.field);
                }
                problem
            })?;
            let district = self.districts.locate(at).map(view);
            districts.push(LocatedPoint { inside: district.is_some(), district });
        }
        Ok(Json(LocateResult { districts }))
    }
}

city_platform::error_set!(
    /// Only the edge's answers (a malformed `coord` is its 400).
    pub DistrictsErrors = []
);
city_platform::error_set!(
    /// A point that is not a coordinate.
    pub PointErrors = [kind::VALIDATION]
);
city_platform::error_set!(
    /// A point that is not a coordinate, or lies outside every district.
    pub LocateErrors = [kind::NOT_FOUND] + PointErrors
);

fn view(d: &city_platform::districts::District) -> DistrictView {
    DistrictView { code: d.code.clone(), name_zh: d.name_zh.clone(), name_en: d.name_en.clone() }
}

/// A client's point in WGS-84, or a 422 naming the bad field.
pub fn parse_point(lat: f64, lon: f64, coord: CoordSystem) -> Result<LatLon, Problem> {
    if !(-90.0..=90.0).contains(&lat) || !lat.is_finite() {
        return Err(Problem::invalid("lat", "must be between -90 and 90"));
    }
    if !(-180.0..=180.0).contains(&lon) || !lon.is_finite() {
        return Err(Problem::invalid("lon", "must be between -180 and 180"));
    }
    let point = LatLon::new(lat, lon).ok_or_else(|| Problem::invalid("lat", "not a valid point"))?;
    Ok(match coord {
        CoordSystem::Wgs84 => point,
        CoordSystem::Gcj02 => city_platform::coords::gcj02_to_wgs84(point),
    })
}

#[OpenApi(tag = "GatewayTags::Operations")]
impl OpsApi {
    /// Liveness probe
    #[oai(path = "/healthz", method = "get", operation_id = "get_health")]
    async fn healthz(&self) -> Json<Health> {
        Json(Health { status: "ok".into() })
    }

    /// Readiness probe
    ///
    /// Checks every database this process uses, the cache and the event bus.
    #[oai(path = "/readyz", method = "get", operation_id = "get_readiness")]
    async fn readyz(&self) -> ReadyResponse {
        let r = &self.readiness;
        let mut checks = Vec::new();
        for db in &r.dbs {
            let res = tokio::time::timeout(std::time::Duration::from_secs(2), db.ping()).await;
            checks.push(check(
                format!("db:{}", db.service),
                res.map_err(|_| "timed out".to_owned()).and_then(|r| r.map_err(|e| e.to_string())),
            ));
        }
        let cache = tokio::time::timeout(std::time::Duration::from_secs(2), r.cache.ping()).await;
        checks.push(check(
            format!("cache:{}", r.cache.kind()),
            cache.map_err(|_| "timed out".to_owned()).and_then(|r| r.map_err(|e| e.to_string())),
        ));
        let bus = tokio::time::timeout(std::time::Duration::from_secs(2), r.bus.ping()).await;
        checks.push(check(
            "bus".into(),
            bus.map_err(|_| "timed out".to_owned()).and_then(|r| r.map_err(|e| e.to_string())),
        ));
        let ready = checks.iter().all(|c| c.ok);
        let upstreams = probe_upstreams(&r.upstreams).await;
        let view = ReadinessView { status: if ready { "ready" } else { "not_ready" }.into(), checks, upstreams };
        if ready {
            ReadyResponse::Ready(Json(view))
        } else {
            ReadyResponse::NotReady(Json(view))
        }
    }

    /// Prometheus metrics
    ///
    /// Request counts and latency histograms by route template and status.
    #[oai(path = "/metrics", method = "get", operation_id = "get_metrics")]
    async fn metrics(&self) -> PlainText<String> {
        city_platform::peers::record_states(&self.readiness.upstreams);
        PlainText(city_platform::telemetry::render_metrics())
    }
}

/// Every `[lon, lat]` position in a GeoJSON value, moved from WGS-84 to GCJ-02.
fn to_gcj02(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Array(items) => {
            if let [serde_json::Value::Number(lon), serde_json::Value::Number(lat), ..] = items.as_slice() {
                if let (Some(lon), Some(lat)) = (lon.as_f64(), lat.as_f64()) {
                    if let Some(p) = LatLon::new(lat, lon) {
                        let g = p.to_gcj02();
                        items[0] = serde_json::json!((g.lon() * 1e6).round() / 1e6);
                        items[1] = serde_json::json!((g.lat() * 1e6).round() / 1e6);
                    }
                    return;
                }
            }
            items.iter_mut().for_each(to_gcj02);
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                if k == "coordinates" || k == "geometry" || k == "features" || k == "geometries" {
                    to_gcj02(item);
                }
            }
        }
        _ => {}
    }
}

/// Asks every replica's `/healthz` at once (one second each); one that does not answer is set
/// aside as a failed request would set it.
async fn probe_upstreams(peers: &[city_platform::peers::Peer]) -> Vec<UpstreamCheck> {
    if peers.is_empty() {
        return Vec::new();
    }
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(1)).build().unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    let probes = peers
        .iter()
        .filter(|p| seen.insert(p.service().to_owned()))
        .flat_map(|peer| peer.states().into_iter().map(move |r| (peer.clone(), r.url)))
        .map(|(peer, url)| {
            let http = http.clone();
            async move {
                let ok = http.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status().is_success());
                if !ok {
                    peer.failed(&url);
                }
                UpstreamCheck { service: peer.service().to_owned(), url, ok }
            }
        });
    futures::future::join_all(probes).await
}

fn check(name: String, res: Result<(), String>) -> Check {
    match res {
        Ok(()) => Check { name, ok: true, error: None },
        Err(e) => Check { name, ok: false, error: Some(e) },
    }
}
