//! Real-name booking limits, counted per patient ID number (not per account): the one home of
//! the rule "how many appointments a patient may hold". It says how many (the Beijing unified
//! platform's defaults), which appointments count (the live ones, [`LIVE_STATUSES`]) and over which
//! visit days ([`BookingLimits::scope`], the window computed once). The store counts with one query
//! (`store::patients`), always for a [`LimitScope`] built here, while the patient's lock row is held.

use chrono::{Duration, NaiveDate};

/// Appointment statuses that hold a slot and count toward a patient's limits.
pub const LIVE_STATUSES: &[&str] = &["pending_payment", "offered", "booked", "checked_in"];

/// Whether an appointment in `status` counts toward its patient's limits.
pub fn is_live(status: &str) -> bool {
    LIVE_STATUSES.contains(&status)
}

/// The limits; the defaults are the Beijing unified platform's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingLimits {
    /// Live bookings on the same day at the same hospital and department.
    pub same_day_department: i64,
    /// Live bookings on the same day anywhere.
    pub same_day: i64,
    /// Live bookings whose visit days lie within `window_days` of each other.
    pub window_max: i64,
    /// The window for `window_max`, in days.
    pub window_days: i64,
}

impl Default for BookingLimits {
    fn default() -> Self {
        Self { same_day_department: 1, same_day: 2, window_max: 3, window_days: 7 }
    }
}

/// A patient's live bookings around the day being booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatientCounts {
    /// Same day, hospital and department.
    pub same_day_department: i64,
    /// Same day.
    pub same_day: i64,
    /// Within the window.
    pub in_window: i64,
}

/// Which limit a new booking would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitExceeded {
    /// One per day, hospital and department.
    SameDayDepartment(i64),
    /// Per day.
    SameDay(i64),
    /// Per window of days.
    Window(i64, i64),
}

/// The live appointments a new booking is counted against: same day (and hospital and
/// department) and the visit days within the window around it, first and last day included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitScope {
    /// The day being booked, `YYYY-MM-DD` Beijing.
    pub visit_date: String,
    /// Its hospital.
    pub hospital_id: String,
    /// Its department.
    pub department_id: String,
    /// The window's first visit day.
    pub from: String,
    /// The window's last visit day.
    pub to: String,
}

impl BookingLimits {
    /// The scope a booking on `visit_date` at `hospital_id`/`department_id` is counted in: visit
    /// days less than `window_days` away on either side.
    pub fn scope(&self, visit_date: NaiveDate, hospital_id: &str, department_id: &str) -> LimitScope {
        let span = Duration::days((self.window_days - 1).max(0));
        LimitScope {
            visit_date: visit_date.to_string(),
            hospital_id: hospital_id.to_owned(),
            department_id: department_id.to_owned(),
            from: (visit_date - span).to_string(),
            to: (visit_date + span).to_string(),
        }
    }

    /// Whether one more booking is allowed on top of `counts`.
    pub fn check(&self, counts: PatientCounts) -> Result<(), LimitExceeded> {
        if counts.same_day_department >= self.same_day_department {
            return Err(LimitExceeded::SameDayDepartment(self.same_day_department));
        }
        if counts.same_day >= self.same_day {
            return Err(LimitExceeded::SameDay(self.same_day));
        }
        if counts.in_window >= self.window_max {
            return Err(LimitExceeded::Window(self.window_max, self.window_days));
        }
        Ok(())
    }
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SameDayDepartment(n) => {
                write!(f, "a patient may hold {n} booking(s) per day in one department of one hospital")
            }
            Self::SameDay(n) => write!(f, "a patient may hold {n} booking(s) per day"),
            Self::Window(n, d) => write!(f, "a patient may hold {n} booking(s) within {d} days"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seven_day_window_looks_six_days_either_side_of_the_visit() {
        let scope = BookingLimits::default().scope("2026-12-08".parse().unwrap(), "h", "d");
        assert_eq!((scope.from.as_str(), scope.to.as_str()), ("2026-12-02", "2026-12-14"));
    }

    #[test]
    fn held_offered_booked_and_checked_in_appointments_count_and_ended_ones_do_not() {
        assert!(["pending_payment", "offered", "booked", "checked_in"].iter().all(|s| is_live(s)));
        assert!(["cancelled", "expired", "no_show"].iter().all(|s| !is_live(s)));
    }

    #[test]
    fn a_second_booking_in_the_same_department_that_day_is_refused() {
        let l = BookingLimits::default();
        let c = PatientCounts { same_day_department: 1, same_day: 1, in_window: 1 };
        assert_eq!(l.check(c), Err(LimitExceeded::SameDayDepartment(1)));
    }

    #[test]
    fn a_third_booking_the_same_day_is_refused() {
        let l = BookingLimits::default();
        assert_eq!(
            l.check(PatientCounts { same_day_department: 0, same_day: 2, in_window: 2 }),
            Err(LimitExceeded::SameDay(2))
        );
    }

    #[test]
    fn a_fourth_booking_within_seven_days_is_refused_and_a_third_is_not() {
        let l = BookingLimits::default();
        assert_eq!(l.check(PatientCounts { same_day_department: 0, same_day: 0, in_window: 2 }), Ok(()));
        assert_eq!(
            l.check(PatientCounts { same_day_department: 0, same_day: 0, in_window: 3 }),
            Err(LimitExceeded::Window(3, 7))
        );
    }
}
