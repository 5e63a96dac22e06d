//! The legal late surcharge on traffic fines, and the quote that fixes a fine's amount for one
//! Beijing day. This is the one home of the rule: the fine lookup, the order and the tests all
//! price a fine through [`fine_quote`].
//!
//! A fine is due within 15 days of the decision being served (Administrative Penalty Law
//! art. 67); each day after adds 3 % of the fine, and the surcharge never exceeds the fine
//! itself (art. 72). Amounts are rounded down to the fen.

use chrono::NaiveDate;
use city_platform::money::Fen;

/// Days to pay a fine before the surcharge starts (Administrative Penalty Law art. 67).
pub const FINE_DEADLINE_DAYS: i64 = 15;

/// What a fine costs on a given Beijing day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FineQuote {
    /// The fine itself, fen.
    pub fine_fen: i64,
    /// Days past the 15-day deadline (0 when on time).
    pub late_days: i64,
    /// 3 % of the fine per late day, never more than the fine (art. 72), fen, rounded down.
    pub surcharge_fen: i64,
    /// Fine plus surcharge.
    pub total_fen: i64,
}

/// The amount due for a fine decided on `decided_on`, paid on `today` (both Beijing dates).
pub fn fine_quote(fine_fen: i64, decided_on: NaiveDate, today: NaiveDate) -> FineQuote {
    let late_days = ((today - decided_on).num_days() - FINE_DEADLINE_DAYS).max(0);
    let surcharge = (i128::from(fine_fen) * 3 * i128::from(late_days) / 100).min(i128::from(fine_fen));
    let surcharge_fen = i64::try_from(surcharge).unwrap_or(fine_fen);
    FineQuote { fine_fen, late_days, surcharge_fen, total_fen: fine_fen + surcharge_fen }
}

impl FineQuote {
    /// What the citizen pays: fine plus surcharge.
    pub fn total(&self) -> Fen {
        Fen(self.total_fen)
    }
}

/// A quote id: the fine and the Beijing day the quote holds for (`<fine id>@YYYYMMDD`); the
/// amount may change at the next Beijing midnight, so a quote from another day is expired.
pub fn quote_id(fine_id: &str, day: NaiveDate) -> String {
    format!("{fine_id}@{}", day.format("%Y%m%d"))
}

/// Why a quote id cannot be paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteRefusal {
    /// Not of the form `<fine id>@YYYYMMDD`.
    Malformed,
    /// Quoted on another day than `today`.
    Expired,
}

/// The fine a quote id names, if it was quoted `today`.
pub fn quoted_fine(quote_id: &str, today: NaiveDate) -> Result<&str, QuoteRefusal> {
    let (fine_id, day) = quote_id.split_once('@').ok_or(QuoteRefusal::Malformed)?;
    if day != today.format("%Y%m%d").to_string() {
        return Err(QuoteRefusal::Expired);
    }
    Ok(fine_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_fine_paid_within_fifteen_days_has_no_surcharge() {
        let q = fine_quote(20000, d("2026-11-01"), d("2026-11-16"));
        assert_eq!((q.late_days, q.surcharge_fen, q.total_fen), (0, 0, 20000));
    }

    #[test]
    fn the_surcharge_is_three_percent_per_late_day() {
        let q = fine_quote(10000, d("2026-11-01"), d("2026-11-21"));
        assert_eq!((q.late_days, q.surcharge_fen, q.total_fen), (5, 1500, 11500));
    }

    #[test]
    fn the_surcharge_never_exceeds_the_fine() {
        let q = fine_quote(5000, d("2026-01-01"), d("2026-11-01"));
        assert_eq!((q.surcharge_fen, q.total_fen), (5000, 10000));
    }

    #[test]
    fn odd_fen_surcharges_round_down() {
        let q = fine_quote(3333, d("2026-11-01"), d("2026-11-17"));
        assert_eq!(q.surcharge_fen, 99); // 3 % of 3333 = 99.99
    }

    #[test]
    fn a_quote_holds_for_its_day_only() {
        let id = quote_id("fine-1", d("2026-11-20"));
        assert_eq!(quoted_fine(&id, d("2026-11-20")), Ok("fine-1"));
        assert_eq!(quoted_fine(&id, d("2026-11-21")), Err(QuoteRefusal::Expired));
        assert_eq!(quoted_fine("fine-1", d("2026-11-20")), Err(QuoteRefusal::Malformed));
    }
}
