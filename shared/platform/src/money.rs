//! Money: integer fen (分, 1/100 yuan), never floating point.

use std::fmt;

/// An amount of Chinese yuan in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fen(pub i64);

impl Fen {
    /// Sum that refuses to overflow rather than wrap.
    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }
}

impl fmt::Display for Fen {
    /// `¥12.34`, for messages people read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}¥{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_display_as_yuan_with_two_decimals() {
        assert_eq!(Fen(1234).to_string(), "¥12.34");
        assert_eq!(Fen(5).to_string(), "¥0.05");
        assert_eq!(Fen(-250).to_string(), "-¥2.50");
    }
}
