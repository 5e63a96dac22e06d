//! Schedulers publish a doctor's half-day, list who is booked on it, and stop it (停诊).

use chrono::NaiveDate;
use city_platform::auth::Staff;
use city_platform::time::{city_date, from_ms};
use serde_json::Value;

use super::{scheduler_at, BookingError, Unknown};
use crate::domain::{Period, SessionId};
use crate::state::BookingState;
use crate::store::{self, AppointmentRow, NewSession, SessionRow};

/// A session to publish, as parsed from the request.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    /// The doctor.
    pub doctor_id: String,
    /// The Beijing day, `YYYY-MM-DD`.
    pub date: String,
    /// The half-day, `morning` | `afternoon`.
    pub period: String,
    /// Numbers.
    pub capacity: i64,
    /// Window length in minutes.
    pub slot_minutes: i64,
}

/// What a stop did.
pub struct Stopped {
    /// The session, as it was.
    pub session: SessionRow,
    /// The appointments it cancelled.
    pub cancelled: Vec<AppointmentRow>,
    /// The same-grade alternatives offered.
    pub alternatives: Vec<Value>,
}

impl BookingState {
    /// A session in the scheduler's scope.
    async fn staff_session(&self, staff: &Staff, id: &SessionId) -> Result<SessionRow, BookingError> {
        let Some(s) = store::get_session(&self.db, id.as_str()).await? else {
            return Err(BookingError::Unknown { what: Unknown::Session, in_body: false });
        };
        scheduler_at(staff, &s.hospital_id)?;
        Ok(s)
    }

    /// Publishes a doctor's half-day with its numbered slots (audited).
    #[tracing::instrument(skip_all, fields(doctor_id = %req.doctor_id, session_id = tracing::field::Empty))]
    pub async fn publish_session(&self, staff: &Staff, req: SessionRequest) -> Result<SessionRow, BookingError> {
        let Some(doctor) = store::get_doctor(&self.db, &req.doctor_id).await? else {
            return Err(BookingError::Unknown { what: Unknown::Doctor, in_body: true });
        };
        scheduler_at(staff, &doctor.hospital_id)?;
        let day = parse_date("date", &req.date)?;
        let now = self.options.clock.now_ms();
        if day < city_date(from_ms(now)) {
            return Err(BookingError::PastDate { field: "date" });
        }
        let Some(period) = Period::parse(&req.period) else {
            return Err(BookingError::Invalid { field: "period".into(), message: "morning or afternoon".into() });
        };
        let new = NewSession {
            doctor: doctor.clone(),
            visit_date: day,
            period,
            capacity: req.capacity,
            slot_minutes: req.slot_minutes,
        };
        let Some(id) = store::publish_session(&self.db, Some(staff), &new, now).await? else {
            return Err(BookingError::SessionExists);
        };
        tracing::Span::current().record("session_id", id.as_str());
        self.slots_changed(&doctor.id, &req.date).await;
        store::get_session(&self.db, &id).await?.ok_or(BookingError::Unknown { what: Unknown::Session, in_body: false })
    }

    /// Who is booked on a session, for its hospital's schedulers.
    #[tracing::instrument(skip_all, fields(session_id = %id))]
    pub async fn session_appointments(
        &self,
        staff: &Staff,
        id: &SessionId,
    ) -> Result<Vec<AppointmentRow>, BookingError> {
        let s = self.staff_session(staff, id).await?;
        Ok(store::list_session_appointments(&self.db, &s.id).await?)
    }

    /// Stops a session (停诊): every booking on it is cancelled once, paid fees refunded, patients
    /// told and offered same-grade alternatives, the queue closed. A second stop is refused.
    #[tracing::instrument(skip_all, fields(session_id = %id))]
    pub async fn stop_session(&self, staff: &Staff, id: &SessionId, reason: &str) -> Result<Stopped, BookingError> {
        let s = self.staff_session(staff, id).await?;
        let now = self.options.clock.now_ms();
        let alternatives = store::same_grade_alternatives(&self.db, &s, &s.visit_date, now).await?;
        let limits = self.options.limits;
        let Some(cancelled) = store::stop_session(&self.db, staff, &s, reason, &alternatives, &limits, now).await?
        else {
            return Err(BookingError::SessionAlreadyStopped);
        };
        tracing::info!(n_cancelled = cancelled.len(), "stopped session {id}");
        self.slots_changed(&s.doctor_id, &s.visit_date).await;
        Ok(Stopped { session: s, cancelled, alternatives })
    }
}

/// A `YYYY-MM-DD` date in `field`.
pub(crate) fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, BookingError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| BookingError::Malformed { field, message: "expected a date YYYY-MM-DD" })
}
