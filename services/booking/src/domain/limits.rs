//! Real-name booking limits, counted per patient ID number (not per account).

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

impl BookingLimits {
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
