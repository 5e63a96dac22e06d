//! The catalogue: hospitals and their rules, departments' rules, doctors, their sessions and
//! the day's slots (served from a cache every booking invalidates).

use std::sync::Arc;

use city_platform::auth::StaffAuth;
use city_platform::coords::{Crs, CrsName, LatLon};
use city_platform::time::{city_date, from_ms, rfc3339};
use city_platform::{Failure, JsonBody, Matching, Problem};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::OpenApi;

use super::params::{parse_crs, point, RawJson};
use super::problems::{
    DepartmentRulesErrors, DoctorErrors, HospitalErrors, HospitalRulesErrors, SearchErrors, SlotListErrors,
};
use super::views::*;
use super::{slot_generation_key, BookingTags, SLOT_CACHE_TTL};
use crate::domain::{DoctorTitle, ReleaseRules};
use crate::state::BookingState;
use crate::store::{self, DoctorFilter, HospitalRow, RuleOverrides};
use crate::usecases::parse_date;
use crate::usecases::{BookingError, HospitalRulesChange, Unknown};

city_platform::pattern!(
    /// A calendar day as `YYYY-MM-DD` (its validity is checked by `parse_date`).
    pub IsoDay = r"^\d{4}-\d{2}-\d{2}$"
);
/// Hospitals, departments, doctors, sessions and slots.
pub struct CatalogueApi {
    pub(super) state: Arc<BookingState>,
}

#[OpenApi(prefix_path = "/v1/booking", tag = "BookingTags::Booking")]
impl CatalogueApi {
    /// Find hospitals
    ///
    /// By name or address (`q`), district code, and distance from a point (`lat`, `lon` in
    /// `coord`: `gcj02` as WeChat reports it, `wgs84`, `bd09`), nearest first when a point is given.
    #[oai(path = "/hospitals", method = "get", operation_id = "list_hospitals")]
    #[allow(clippy::too_many_arguments)]
    async fn list_hospitals(
        &self,
        q: Query<Option<String>>,
        district: Query<Option<String>>,
        lat: Query<Option<f64>>,
        lon: Query<Option<f64>>,
        coord: Query<Option<Matching<CrsName>>>,
        radius_m: Query<Option<f64>>,
    ) -> Result<Json<Vec<HospitalView>>, Failure<SearchErrors>> {
        let (crs, origin) = point(lat.0, lon.0, coord.0.as_deref())?;
        let rows =
            store::list_hospitals(&self.state.db, q.0.as_deref().filter(|s| !s.is_empty()), district.0.as_deref())
                .await?;
        let mut out: Vec<HospitalView> = rows
            .iter()
            .map(|h| hospital_view(&self.state, h, crs, origin))
            .filter(|h| match (radius_m.0, h.distance_m) {
                (Some(r), Some(d)) => (d as f64) <= r,
                _ => true,
            })
            .collect();
        if origin.is_some() {
            out.sort_by_key(|h| h.distance_m.unwrap_or(i64::MAX));
        }
        Ok(Json(out))
    }

    /// Get a hospital
    ///
    /// The hospital, its booking rules and its departments.
    #[oai(path = "/hospitals/:hospital_id", method = "get", operation_id = "get_hospital")]
    async fn get_hospital(
        &self,
        hospital_id: Path<String>,
        coord: Query<Option<Matching<CrsName>>>,
    ) -> Result<Json<HospitalDetail>, Failure<HospitalErrors>> {
        let crs = parse_crs(coord.0.as_deref())?;
        let Some(h) = store::get_hospital(&self.state.db, &hospital_id.0).await? else {
            return Err(BookingError::Unknown { what: Unknown::Hospital, in_body: false }.into());
        };
        let departments = store::list_departments(&self.state.db, &h.id)
            .await?
            .into_iter()
            .map(|d| DepartmentView { id: d.id, name_zh: d.name_zh, name_en: d.name_en })
            .collect();
        Ok(Json(HospitalDetail { hospital: hospital_view(&self.state, &h, crs, None), departments }))
    }

    /// Change a hospital's booking rules
    ///
    /// Release horizon and time, booking cut-off, cancellation deadline, online fee, hold and
    /// offer lengths. Schedulers of that hospital; audited.
    #[oai(path = "/hospitals/:hospital_id/rules", method = "put", operation_id = "update_hospital_rules")]
    async fn update_hospital_rules(
        &self,
        auth: StaffAuth,
        hospital_id: Path<String>,
        body: JsonBody<BookingRulesView>,
    ) -> Result<Json<BookingRulesView>, Failure<HospitalRulesErrors>> {
        let b = body.0;
        let rules = ReleaseRules {
            release_days_ahead: b.release_days_ahead,
            release_minute_of_day: parse_hhmm("release_time", &b.release_time)?,
            cutoff_minutes_before: b.cutoff_minutes_before,
            cancel_days_before: b.cancel_days_before,
            cancel_minute_of_day: parse_hhmm("cancel_time", &b.cancel_time)?,
        };
        let change = HospitalRulesChange {
            rules,
            charges_online: b.charges_online,
            hold_minutes: b.hold_minutes,
            waitlist_accept_minutes: b.waitlist_accept_minutes,
        };
        let h = self.state.update_hospital_rules(&auth.0, &hospital_id.0, change).await?;
        Ok(Json(rules_view(&h)))
    }

    /// Override a department's booking rules
    ///
    /// Any of release horizon, release time, cut-off and cancellation deadline; a field left
    /// out (or null) inherits the hospital's. Schedulers of that hospital; audited.
    #[oai(path = "/departments/:department_id/rules", method = "put", operation_id = "update_department_rules")]
    async fn update_department_rules(
        &self,
        auth: StaffAuth,
        department_id: Path<String>,
        body: JsonBody<DepartmentRulesView>,
    ) -> Result<Json<DepartmentRulesView>, Failure<DepartmentRulesErrors>> {
        let b = body.0;
        let release = b.release_time.as_deref().map(|t| parse_hhmm("release_time", t)).transpose()?;
        let cancel = b.cancel_time.as_deref().map(|t| parse_hhmm("cancel_time", t)).transpose()?;
        let overrides = RuleOverrides {
            release_days_ahead: b.release_days_ahead,
            release_minute_of_day: release,
            cutoff_minutes_before: b.cutoff_minutes_before,
            cancel_days_before: b.cancel_days_before,
            cancel_minute_of_day: cancel,
        };
        self.state.update_department_rules(&auth.0, &department_id.0, &overrides).await?;
        Ok(Json(b))
    }

    /// Find doctors
    ///
    /// By name, specialty, department, hospital or district (`q` matches all of those), title,
    /// and distance from a point, nearest first when a point is given.
    #[oai(path = "/doctors", method = "get", operation_id = "list_doctors")]
    #[allow(clippy::too_many_arguments)]
    async fn list_doctors(
        &self,
        q: Query<Option<String>>,
        department: Query<Option<String>>,
        hospital_id: Query<Option<String>>,
        district: Query<Option<String>>,
        title: Query<Option<String>>,
        lat: Query<Option<f64>>,
        lon: Query<Option<f64>>,
        coord: Query<Option<Matching<CrsName>>>,
        radius_m: Query<Option<f64>>,
        limit: Query<Option<u32>>,
    ) -> Result<Json<Vec<DoctorView>>, Failure<SearchErrors>> {
        let (_, origin) = point(lat.0, lon.0, coord.0.as_deref())?;
        if let Some(t) = title.0.as_deref() {
            if DoctorTitle::parse(t).is_none() {
                return Err(Problem::invalid(
                    "title",
                    "one of chief_physician, associate_chief_physician, attending_physician, resident_physician",
                )
                .into());
            }
        }
        let filter = DoctorFilter {
            q: q.0.filter(|s| !s.is_empty()),
            department: department.0.filter(|s| !s.is_empty()),
            hospital_id: hospital_id.0,
            district: district.0,
            title: title.0,
        };
        let rows = store::list_doctors(&self.state.db, &filter).await?;
        let mut out: Vec<DoctorView> = rows
            .into_iter()
            .map(|d| {
                let distance = origin.and_then(|o| LatLon::new(d.lat, d.lon).map(|at| o.distance_m(at).round() as i64));
                doctor_view(d, distance)
            })
            .filter(|d| match (radius_m.0, d.distance_m) {
                (Some(r), Some(m)) => (m as f64) <= r,
                _ => true,
            })
            .collect();
        if origin.is_some() {
            out.sort_by_key(|d| d.distance_m.unwrap_or(i64::MAX));
        }
        out.truncate(limit.0.unwrap_or(50).clamp(1, 200) as usize);
        Ok(Json(out))
    }

    /// Get a doctor
    #[oai(path = "/doctors/:doctor_id", method = "get", operation_id = "get_doctor")]
    async fn get_doctor(&self, doctor_id: Path<String>) -> Result<Json<DoctorView>, Failure<DoctorErrors>> {
        let Some(d) = store::get_doctor(&self.state.db, &doctor_id.0).await? else {
            return Err(BookingError::Unknown { what: Unknown::Doctor, in_body: false }.into());
        };
        Ok(Json(doctor_view(d, None)))
    }

    /// List a doctor's sessions
    ///
    /// Half-days from `from` (default today, Beijing) for `days` days (default 14).
    #[oai(path = "/doctors/:doctor_id/sessions", method = "get", operation_id = "list_doctor_sessions")]
    async fn list_sessions(
        &self,
        doctor_id: Path<String>,
        from: Query<Option<Matching<IsoDay>>>,
        days: Query<Option<u32>>,
    ) -> Result<Json<Vec<ClinicSessionView>>, Failure<DoctorErrors>> {
        let today = city_date(from_ms(self.state.options.clock.now_ms()));
        let from = match from.0 {
            Some(s) => parse_date("from", &s)?,
            None => today,
        };
        let to = from + chrono::Duration::days(i64::from(days.0.unwrap_or(14).clamp(1, 90)) - 1);
        if store::get_doctor(&self.state.db, &doctor_id.0).await?.is_none() {
            return Err(BookingError::Unknown { what: Unknown::Doctor, in_body: false }.into());
        }
        let rows = store::list_sessions(&self.state.db, &doctor_id.0, &from.to_string(), &to.to_string()).await?;
        Ok(Json(rows.into_iter().map(session_view).collect()))
    }

    /// List a doctor's slots on a day
    ///
    /// Every numbered slot of the doctor's sessions on `date` (Beijing), with its suggested
    /// window and whether it is free. Served from a cache that every booking invalidates.
    #[oai(path = "/doctors/:doctor_id/slots", method = "get", operation_id = "list_slots")]
    async fn list_slots(
        &self,
        doctor_id: Path<String>,
        date: Query<Matching<IsoDay>>,
    ) -> Result<RawJson<SlotsView>, Failure<SlotListErrors>> {
        let day = parse_date("date", &date.0)?;
        let now = self.state.options.clock.now_ms();
        if day < city_date(from_ms(now)) {
            return Err(BookingError::PastDate { field: "date" }.into());
        }
        let cache = &self.state.platform.cache;
        let gen_key = slot_generation_key(&doctor_id.0, &date.0);
        // Without the generation nothing cached can be trusted: answer from the store.
        let generation = self.state.slot_generation(&gen_key).await;
        let memo_key = format!("{}:{}", doctor_id.0, date.0);
        if let Some(bytes) = generation.as_ref().and_then(|g| self.state.memo_get(&memo_key, g)) {
            return Ok(RawJson::new(bytes));
        }
        let key = generation.as_ref().map(|g| format!("booking:slots:{}:{}:{g}", doctor_id.0, date.0));
        if let (Some(key), Some(generation)) = (&key, &generation) {
            if let Ok(Some(bytes)) = cache.get(key).await {
                self.state.memo_put(memo_key, generation.clone(), bytes.clone());
                return Ok(RawJson::new(bytes));
            }
        }
        let Some(doctor) = store::get_doctor(&self.state.db, &doctor_id.0).await? else {
            return Err(BookingError::Unknown { what: Unknown::Doctor, in_body: false }.into());
        };
        let rules =
            store::department_rules(&self.state.db, &doctor.department_id).await?.map(|(_, r)| r).unwrap_or_default();
        let slots = store::list_slots(&self.state.db, &doctor.id, &date.0).await?;
        let view = SlotsView {
            doctor_id: doctor.id,
            date: date.0.as_str().to_owned(),
            opens_at: rfc3339(from_ms(rules.opens_at(day))),
            n_free: slots.iter().filter(|s| s.free).count() as i64,
            slots: slots
                .into_iter()
                .map(|s| SlotView {
                    id: s.id,
                    session_id: s.session_id,
                    period: s.period,
                    number: s.number,
                    window_start: rfc3339(from_ms(s.starts_at)),
                    window_end: rfc3339(from_ms(s.ends_at)),
                    free: s.free,
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&view.to_json()).unwrap_or_default();
        let (Some(key), Some(generation)) = (key, generation) else { return Ok(RawJson::new(bytes)) };
        if let Err(err) = cache.set(&key, &bytes, SLOT_CACHE_TTL).await {
            tracing::warn!(error = %err, "could not cache a slot list");
        }
        self.state.memo_put(memo_key, generation, bytes.clone());
        Ok(RawJson::new(bytes))
    }
}

fn hospital_view(state: &BookingState, h: &HospitalRow, crs: Crs, origin: Option<LatLon>) -> HospitalView {
    let at = LatLon::new(h.lat, h.lon);
    let (lat, lon) = at.map(|p| p.to_crs(crs)).unwrap_or((h.lat, h.lon));
    HospitalView {
        id: h.id.clone(),
        name_zh: h.name_zh.clone(),
        name_en: h.name_en.clone(),
        district_code: h.district_code.clone(),
        district_name_zh: state.platform.districts.get(&h.district_code).map(|d| d.name_zh.clone()),
        level: h.level.clone(),
        address: h.address.clone(),
        phone: h.phone.clone(),
        location: HospitalLocation { lat, lon, coord: crs.code().into() },
        distance_m: origin.zip(at).map(|(o, p)| o.distance_m(p).round() as i64),
        rules: rules_view(h),
    }
}
