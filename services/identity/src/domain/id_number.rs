//! The resident identity card number of GB 11643: 6 digits of region, 8 of birth date
//! (`YYYYMMDD`), 3 of sequence (odd for men), and a check character computed with ISO 7064
//! MOD 11-2 (weights `7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2`, remainder → `10X98765432`).

use std::fmt;

use chrono::NaiveDate;

/// Weights of the first 17 characters.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each remainder mod 11.
const CHECK: &[u8; 11] = b"10X98765432";

/// Sex as the sequence digit says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    /// Odd sequence digit.
    Male,
    /// Even sequence digit.
    Female,
}

impl Sex {
    /// `male` or `female`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

/// A checked, normalised (upper-case `X`) 18-character ID number. `Debug` shows only the mask.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

/// Why a string is not a valid ID number; the message is safe to show to its owner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    /// Not 18 characters.
    #[error("an ID number has 18 characters")]
    Length,
    /// Characters other than 17 digits and a digit or X.
    #[error("an ID number is 17 digits followed by a digit or X")]
    Characters,
    /// The birth date is not a real date, or is in the future, or before 1900.
    #[error("the date of birth in the ID number is not a valid date")]
    BirthDate,
    /// The check character does not match.
    #[error("the check character of the ID number does not match")]
    Checksum,
}

impl IdNumber {
    /// Parses and checks `text` (spaces around it ignored, `x` accepted as `X`); `today` bounds the
    /// birth date.
    pub fn parse(text: &str, today: NaiveDate) -> Result<Self, IdNumberError> {
        let s = text.trim().to_ascii_uppercase();
        if s.chars().count() != 18 {
            return Err(IdNumberError::Length);
        }
        let bytes = s.as_bytes();
        if !bytes[..17].iter().all(u8::is_ascii_digit) || !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
            return Err(IdNumberError::Characters);
        }
        let birth = NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").map_err(|_| IdNumberError::BirthDate)?;
        if birth > today || birth < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(birth) {
            return Err(IdNumberError::BirthDate);
        }
        if check_char(&bytes[..17]) != bytes[17] {
            return Err(IdNumberError::Checksum);
        }
        Ok(Self(s))
    }

    /// The normalised text (for encryption and the keyed hash only).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The date of birth.
    pub fn birth_date(&self) -> NaiveDate {
        // Checked in `parse`.
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").unwrap_or_default()
    }

    /// Sex from the 17th digit.
    pub fn sex(&self) -> Sex {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// `110***********123X`-style: region's first 3 and last 4 shown.
    pub fn masked(&self) -> String {
        format!("{}***********{}", &self.0[..3], &self.0[14..])
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// The check character for the first 17 digits.
pub fn check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK[(sum % 11) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    #[test]
    fn the_standards_example_number_is_valid_with_its_x_check_character() {
        // GB 11643's worked example: 11010519491231002X.
        let id = IdNumber::parse("11010519491231002x", today()).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.masked(), "110***********002X");
    }

    #[test]
    fn an_odd_sequence_digit_means_male() {
        let mut first17 = b"44052419800101001".to_vec();
        let c = check_char(&first17);
        first17.push(c);
        let id = IdNumber::parse(std::str::from_utf8(&first17).unwrap(), today()).unwrap();
        assert_eq!(id.sex(), Sex::Male);
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1980, 1, 1).unwrap());
    }

    #[test]
    fn a_wrong_check_character_is_refused() {
        assert_eq!(IdNumber::parse("110105194912310021", today()), Err(IdNumberError::Checksum));
    }

    #[test]
    fn an_impossible_birth_date_is_refused() {
        let mut first17 = b"11010519490230002".to_vec();
        let c = check_char(&first17);
        first17.push(c);
        let text = String::from_utf8(first17).unwrap();
        assert_eq!(IdNumber::parse(&text, today()), Err(IdNumberError::BirthDate));
    }

    #[test]
    fn a_birth_date_in_the_future_is_refused() {
        let mut first17 = b"11010520991231002".to_vec();
        let c = check_char(&first17);
        first17.push(c);
        assert_eq!(IdNumber::parse(std::str::from_utf8(&first17).unwrap(), today()), Err(IdNumberError::BirthDate));
    }

    #[test]
    fn wrong_lengths_and_letters_are_refused() {
        assert_eq!(IdNumber::parse("1101051949123100", today()), Err(IdNumberError::Length));
        assert_eq!(IdNumber::parse("1101051949123100A2", today()), Err(IdNumberError::Characters));
        assert_eq!(IdNumber::parse("11010519491231002１", today()), Err(IdNumberError::Characters));
    }

    #[test]
    fn debug_shows_only_the_mask() {
        let id = IdNumber::parse("11010519491231002X", today()).unwrap();
        assert_eq!(format!("{id:?}"), "IdNumber(110***********002X)");
    }
}
