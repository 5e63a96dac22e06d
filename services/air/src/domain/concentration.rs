//! Exact, non-negative pollutant concentrations.
//!
//! Both index schemes end in a step that is sensitive to the last bit: China rounds the sub-index up (ceiling), the US truncates the concentration.
//! A value exactly on a breakpoint must therefore stay exactly on it.
//! In `f64`, CO 2.2 mg/m³ gives IAQI 55.000000000000004 and a ceiling of 56 instead of 55; here it gives 55.
//! A [`Concentration`] is a reduced fraction of integers.
//! Decimal text is read digit by digit, never through binary floating point, and means of such values stay exact.
//!
//! The number carries no unit: the scheme that reads it fixes the unit (see `Scheme::unit`), and [`Concentration::convert`] changes units explicitly.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::domain::pollutant::{Pollutant, Unit};

/// The largest concentration accepted, in whatever unit the value is in.
///
/// Real readings stay far below it (the worst sandstorms reach about 10 000 μg/m³ of PM10); the cap keeps the exact arithmetic inside `u128`.
pub const MAX_CONCENTRATION: u32 = 10_000_000;

/// How many decimal places of input are kept exactly; further digits are rounded half to even.
///
/// Nine places are a billionth of a μg/m³ or a trillionth of a ppm, far below any instrument's resolution.
pub const MAX_INPUT_DECIMALS: u32 = 9;

const MAX_VALUE: u128 = MAX_CONCENTRATION as u128;
const INPUT_DEN: u128 = 1_000_000_000;
/// Denominators stay at or below 10¹⁵ so that cross-multiplying two values (at most 10²² × 10¹⁵) fits in `u128`.
const MAX_DEN: u128 = 1_000_000_000_000_000;
const MAX_DEN_DIGITS: u32 = 15;

/// A non-negative concentration held exactly as a reduced fraction.
///
/// Construct it with [`Concentration::parse`] (decimal text), [`Concentration::from_decimal`] (integer mantissa and decimal places), [`Concentration::from_f64`] (a JSON number that was read as `f64`) or [`Concentration::mean`].
/// Every way in rejects negative, non-finite and absurdly large values, so any `Concentration` is a valid reading.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concentration {
    // Invariants: den ≥ 1, gcd(num, den) = 1, den ≤ MAX_DEN, num ≤ MAX_VALUE × den.
    num: u128,
    den: u128,
}

/// Why a number is not a valid concentration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConcentrationError {
    /// The text was empty or only whitespace.
    Empty,
    /// The text is not a plain decimal number (optionally with an exponent, as JSON allows).
    Malformed,
    /// Concentrations cannot be negative; feeds use negative sentinels for missing data.
    Negative,
    /// NaN or an infinity.
    NotFinite,
    /// More than [`MAX_CONCENTRATION`].
    TooLarge,
    /// [`Concentration::from_decimal`] was asked for more than [`MAX_INPUT_DECIMALS`] places.
    TooManyDecimals,
}

/// Why a unit conversion is impossible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversionError {
    /// Particulate matter has no molar mass, so it has no volume-mixing-ratio unit (ppm, ppb).
    NoMolarMass(Pollutant),
    /// The converted value exceeds [`MAX_CONCENTRATION`].
    TooLarge,
}

impl Concentration {
    /// Zero, a valid reading (SO2 in clean air is often 0 after rounding).
    pub const ZERO: Concentration = Concentration { num: 0, den: 1 };

    /// Reads decimal text such as `"35"`, `"35.4"`, `"0.078"` or `"1.5e2"`, exactly.
    ///
    /// Surrounding whitespace and a leading `+` are accepted; `-0` is zero, any other negative is [`ConcentrationError::Negative`].
    /// Digits beyond [`MAX_INPUT_DECIMALS`] places are rounded half to even.
    pub fn parse(text: &str) -> Result<Self, ConcentrationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ConcentrationError::Empty);
        }
        let (negative, unsigned) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (&unsigned[..at], parse_exponent(&unsigned[at + 1..])?),
            None => (unsigned, 0),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part) {
            return Err(ConcentrationError::Malformed);
        }

        // The value is 0.d₁d₂d₃… × 10^point once leading zeros are dropped.
        let digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0').collect();
        let mut point = int_part.len() as i64 + exponent;
        let first_non_zero = digits.iter().position(|&d| d != 0);
        let Some(first_non_zero) = first_non_zero else {
            return Ok(Self::ZERO);
        };
        if negative {
            return Err(ConcentrationError::Negative);
        }
        let digits = &digits[first_non_zero..];
        point -= first_non_zero as i64;
        // MAX_CONCENTRATION has 8 integer digits; anything with more is too large.
        if point > 8 {
            return Err(ConcentrationError::TooLarge);
        }

        // Digits that land on 10⁻⁹ or above form the integer number of billionths.
        // A negative count means every digit is below half a billionth: the value rounds to zero.
        let Ok(kept) = usize::try_from(point + i64::from(MAX_INPUT_DECIMALS)) else {
            return Ok(Self::ZERO);
        };
        let mut billionths: u128 = 0;
        for i in 0..kept {
            billionths = billionths * 10 + u128::from(digits.get(i).copied().unwrap_or(0));
        }
        if let Some((&next, rest)) = digits.get(kept..).and_then(|r| r.split_first()) {
            let beyond_half = rest.iter().any(|&d| d != 0);
            let round_up = next > 5 || (next == 5 && (beyond_half || billionths % 2 == 1));
            if round_up {
                billionths += 1;
            }
        }
        Self::from_ratio(billionths, INPUT_DEN).ok_or(ConcentrationError::TooLarge)
    }

    /// A whole number of units; every `u16` is within [`MAX_CONCENTRATION`].
    pub const fn from_u16(value: u16) -> Self {
        Self { num: value as u128, den: 1 }
    }

    /// The value `mantissa × 10^(−decimals)`, e.g. `from_decimal(22, 1)` is CO 2.2 mg/m³.
    pub fn from_decimal(mantissa: u64, decimals: u32) -> Result<Self, ConcentrationError> {
        if decimals > MAX_INPUT_DECIMALS {
            return Err(ConcentrationError::TooManyDecimals);
        }
        Self::from_ratio(u128::from(mantissa), 10_u128.pow(decimals)).ok_or(ConcentrationError::TooLarge)
    }

    /// Converts a number that was already read as `f64` (e.g. by a JSON parser) without binary rounding errors.
    ///
    /// The shortest decimal that round-trips to the same `f64` is what the sender wrote in almost every case (`2.2`, not `2.2000000000000001776…`), so that decimal is what is used.
    pub fn from_f64(value: f64) -> Result<Self, ConcentrationError> {
        if !value.is_finite() {
            return Err(ConcentrationError::NotFinite);
        }
        // Display for f64 prints the shortest round-trip decimal and never uses an exponent.
        Self::parse(&value.to_string())
    }

    /// An approximation for display and charts; never feed it back into index arithmetic.
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Whether the value is exactly zero.
    pub fn is_zero(self) -> bool {
        self.num == 0
    }

    /// Rounds to `decimals` places, ties to even (GB/T 8170 "四舍六入五成双"): 35.5 → 36, 36.5 → 36, 2.25 → 2.2.
    ///
    /// More than 15 places are treated as 15.
    pub fn round_half_even(self, decimals: u32) -> Self {
        let decimals = decimals.min(MAX_DEN_DIGITS);
        let scale = 10_u128.pow(decimals);
        // num ≤ 10²², so num × 10¹⁵ ≤ 10³⁷ fits in u128.
        let scaled = self.num * scale;
        let (mut q, r) = (scaled / self.den, scaled % self.den);
        match (2 * r).cmp(&self.den) {
            Ordering::Greater => q += 1,
            Ordering::Equal if q % 2 == 1 => q += 1,
            _ => {}
        }
        Self::reduced(q, scale)
    }

    /// Cuts off everything after `decimals` places (the US procedure truncates rather than rounds): 35.45 → 35.4.
    ///
    /// More than 15 places are treated as 15.
    pub fn truncate(self, decimals: u32) -> Self {
        let decimals = decimals.min(MAX_DEN_DIGITS);
        let scale = 10_u128.pow(decimals);
        Self::reduced(self.num * scale / self.den, scale)
    }

    /// The exact arithmetic mean, or `None` for an empty slice.
    ///
    /// Means of parsed values are exact (for example the mean of 1, 1 and 2 is 4/3, which then rounds to 1).
    /// Only when the common denominator of already-averaged inputs would exceed 10¹⁵ (means of means of means) are the inputs first rounded to [`MAX_INPUT_DECIMALS`] places.
    pub fn mean(values: &[Concentration]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as u128;
        let (den, nums) = common_denominator(values);
        let sum = nums.iter().try_fold(0_u128, |acc, &m| acc.checked_add(m))?;
        Self::from_ratio(sum, den.checked_mul(n)?)
    }

    /// Expresses this concentration of `pollutant` in another unit.
    ///
    /// Gases convert between mass and mixing ratio at 25 °C and 101.325 kPa, the reference state of GB 3095 since 2018: μg/m³ = ppb × M / 24.45.
    /// The result is exact: CO 1 ppm is exactly 2801/2445 mg/m³.
    pub fn convert(self, pollutant: Pollutant, from: Unit, to: Unit) -> Result<Self, ConversionError> {
        let (from_num, from_den) = micrograms_per_cubic_metre_per(pollutant, from)?;
        let (to_num, to_den) = micrograms_per_cubic_metre_per(pollutant, to)?;
        // value × from / to; every factor is below 10⁷, so nothing here overflows u128.
        let num = self.num * from_num * to_den;
        let den = self.den * from_den * to_num;
        Self::from_ratio(num, den).ok_or(ConversionError::TooLarge)
    }

    /// Numerator and denominator of the reduced fraction.
    pub(crate) fn ratio(self) -> (u128, u128) {
        (self.num, self.den)
    }

    /// `floor(value × 10^decimals)` as an integer, for tables kept in integer units.
    pub(crate) fn scaled_floor(self, decimals: u32) -> u128 {
        self.num * 10_u128.pow(decimals.min(MAX_DEN_DIGITS)) / self.den
    }

    /// Builds `num / den`, reducing it; when the denominator would exceed 10¹⁵ the value is rounded half to even to [`MAX_INPUT_DECIMALS`] places.
    /// `None` when `den` is zero, the value exceeds [`MAX_CONCENTRATION`] or the arithmetic would overflow.
    pub(crate) fn from_ratio(num: u128, den: u128) -> Option<Self> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den);
        let (mut num, mut den) = (num / g, den / g);
        if den > MAX_DEN {
            let (q, r) = (num / den, num % den);
            let scaled = r.checked_mul(INPUT_DEN)?;
            let (mut frac, rest) = (scaled / den, scaled % den);
            let whole = q.checked_mul(INPUT_DEN)?;
            match (2 * rest).cmp(&den) {
                Ordering::Greater => frac += 1,
                Ordering::Equal if (whole + frac) % 2 == 1 => frac += 1,
                _ => {}
            }
            let g = gcd(whole + frac, INPUT_DEN);
            (num, den) = ((whole + frac) / g, INPUT_DEN / g);
        }
        if num > MAX_VALUE * den {
            return None;
        }
        Some(Self { num, den })
    }

    /// Builds a value already known to be within bounds (a rounding of a valid value).
    fn reduced(num: u128, den: u128) -> Self {
        let g = gcd(num, den);
        Self { num: num / g, den: den / g }
    }
}

impl Ord for Concentration {
    fn cmp(&self, other: &Self) -> Ordering {
        // Both products are at most 10²² × 10¹⁵ by the invariants.
        (self.num * other.den).cmp(&(other.num * self.den))
    }
}

impl PartialOrd for Concentration {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Concentration {
    /// Plain decimal with up to nine places, trailing zeros removed; exact for every parsed value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rounded = self.round_half_even(MAX_INPUT_DECIMALS);
        let billionths = rounded.num * (INPUT_DEN / rounded.den);
        let (whole, frac) = (billionths / INPUT_DEN, billionths % INPUT_DEN);
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl fmt::Debug for Concentration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if INPUT_DEN % self.den == 0 {
            write!(f, "Concentration({self})")
        } else {
            write!(f, "Concentration({}/{})", self.num, self.den)
        }
    }
}

impl FromStr for Concentration {
    type Err = ConcentrationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<u16> for Concentration {
    fn from(value: u16) -> Self {
        Self::from_u16(value)
    }
}

impl TryFrom<f64> for Concentration {
    type Error = ConcentrationError;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::from_f64(value)
    }
}

impl fmt::Display for ConcentrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Empty => "no number given",
            Self::Malformed => "not a decimal number",
            Self::Negative => "a concentration cannot be negative",
            Self::NotFinite => "not a finite number",
            Self::TooLarge => "larger than 10 000 000",
            Self::TooManyDecimals => "more than 9 decimal places",
        };
        f.write_str(text)
    }
}

impl std::error::Error for ConcentrationError {}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMolarMass(p) => {
                write!(f, "{} has no molar mass and no ppm/ppb unit", p.label())
            }
            Self::TooLarge => f.write_str("the converted value is larger than 10 000 000"),
        }
    }
}

impl std::error::Error for ConversionError {}

fn parse_exponent(text: &str) -> Result<i64, ConcentrationError> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    // Eighteen digits keep `point` arithmetic inside i64; no real number needs more.
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConcentrationError::Malformed);
    }
    let magnitude: i64 = digits.parse().map_err(|_| ConcentrationError::Malformed)?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Writes every value over one denominator: `value = nums[i] / den`.
///
/// The denominator is the least common one while that stays at or below 10¹⁵; otherwise every value is first rounded half to even to [`MAX_INPUT_DECIMALS`] places and the denominator is 10⁹.
/// Each numerator is then at most 10⁷ × 10¹⁵.
pub(crate) fn common_denominator(values: &[Concentration]) -> (u128, Vec<u128>) {
    let lcm = values.iter().try_fold(1_u128, |acc, v| {
        let lcm = acc.checked_mul(v.den / gcd(acc, v.den))?;
        (lcm <= MAX_DEN).then_some(lcm)
    });
    match lcm {
        Some(den) => (den, values.iter().map(|v| v.num * (den / v.den)).collect()),
        None => {
            let nums = values
                .iter()
                .map(|v| {
                    let r = v.round_half_even(MAX_INPUT_DECIMALS);
                    r.num * (INPUT_DEN / r.den)
                })
                .collect();
            (INPUT_DEN, nums)
        }
    }
}

/// Micrograms per cubic metre in one `unit` of `pollutant`, as a fraction.
fn micrograms_per_cubic_metre_per(pollutant: Pollutant, unit: Unit) -> Result<(u128, u128), ConversionError> {
    // 24.45 L/mol is the molar volume at 25 °C and 101.325 kPa; both it and M are kept in hundredths.
    let molar_volume_hundredths = 2445;
    let molar_mass =
        || pollutant.molar_mass_hundredths().map(u128::from).ok_or(ConversionError::NoMolarMass(pollutant));
    Ok(match unit {
        Unit::MicrogramPerCubicMetre => (1, 1),
        Unit::MilligramPerCubicMetre => (1000, 1),
        Unit::PartPerBillion => (molar_mass()?, molar_volume_hundredths),
        Unit::PartPerMillion => (molar_mass()? * 1000, molar_volume_hundredths),
    })
}

pub(crate) fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str) -> Concentration {
        Concentration::parse(text).expect("valid test concentration")
    }

    #[test]
    fn decimal_text_is_read_exactly_including_exponents_and_signs() {
        let cases = [
            ("0", (0, 1)),
            ("-0", (0, 1)),
            ("-0.000", (0, 1)),
            ("35", (35, 1)),
            ("+35", (35, 1)),
            (" 35.4 ", (177, 5)),
            ("2.2", (11, 5)),
            (".5", (1, 2)),
            ("5.", (5, 1)),
            ("0.078", (39, 500)),
            ("1.5e2", (150, 1)),
            ("15E-1", (3, 2)),
            ("0.000000001", (1, 1_000_000_000)),
            ("10000000", (10_000_000, 1)),
            ("0001.2500", (5, 4)),
        ];
        for (text, expected) in cases {
            assert_eq!(c(text).ratio(), expected, "{text}");
        }
    }

    #[test]
    fn digits_beyond_nine_places_are_rounded_half_to_even() {
        let cases = [
            ("0.0000000014", "0.000000001"),
            ("0.0000000016", "0.000000002"),
            ("0.0000000015", "0.000000002"),
            ("0.0000000025", "0.000000002"),
            ("0.00000000250001", "0.000000003"),
            ("0.07853333333333333", "0.078533333"),
            ("0.0000000004", "0"),
            ("1e-30", "0"),
        ];
        for (text, expected) in cases {
            assert_eq!(c(text).to_string(), expected, "{text}");
        }
    }

    #[test]
    fn malformed_negative_and_oversized_text_is_rejected_with_the_reason() {
        let cases = [
            ("", ConcentrationError::Empty),
            ("   ", ConcentrationError::Empty),
            ("abc", ConcentrationError::Malformed),
            ("NaN", ConcentrationError::Malformed),
            ("1.2.3", ConcentrationError::Malformed),
            ("1e", ConcentrationError::Malformed),
            ("--1", ConcentrationError::Malformed),
            (".", ConcentrationError::Malformed),
            ("1,5", ConcentrationError::Malformed),
            ("-99", ConcentrationError::Negative),
            ("-0.1", ConcentrationError::Negative),
            ("10000000.000000001", ConcentrationError::TooLarge),
            ("100000000", ConcentrationError::TooLarge),
            ("1e300", ConcentrationError::TooLarge),
        ];
        for (text, expected) in cases {
            assert_eq!(Concentration::parse(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn f64_input_keeps_the_decimal_the_sender_wrote() {
        let cases = [(2.2_f64, (11, 5)), (35.45, (709, 20)), (0.1, (1, 10)), (-0.0, (0, 1))];
        for (value, expected) in cases {
            assert_eq!(Concentration::from_f64(value).map(|v| v.ratio()), Ok(expected), "{value}");
        }
        assert_eq!(Concentration::from_f64(f64::NAN), Err(ConcentrationError::NotFinite));
        assert_eq!(Concentration::from_f64(f64::INFINITY), Err(ConcentrationError::NotFinite));
        assert_eq!(Concentration::from_f64(-1.0), Err(ConcentrationError::Negative));
    }

    #[test]
    fn from_decimal_places_the_decimal_point_and_limits_places() {
        assert_eq!(Concentration::from_decimal(22, 1), Ok(c("2.2")));
        assert_eq!(Concentration::from_u16(160), c("160"));
        assert_eq!(Concentration::from(0_u16), Concentration::ZERO);
        assert_eq!(Concentration::from_decimal(78, 3), Ok(c("0.078")));
        assert_eq!(Concentration::from_decimal(1, 10), Err(ConcentrationError::TooManyDecimals));
        assert_eq!(Concentration::from_decimal(10_000_001, 0), Err(ConcentrationError::TooLarge));
    }

    #[test]
    fn rounding_half_to_even_matches_the_reference_examples() {
        let cases = [
            ("35.5", 0, "36"),
            ("36.5", 0, "36"),
            ("35.4", 0, "35"),
            ("35.6", 0, "36"),
            ("2.25", 1, "2.2"),
            ("2.35", 1, "2.4"),
            ("2.251", 1, "2.3"),
            ("0.5", 0, "0"),
            ("1.5", 0, "2"),
        ];
        for (text, decimals, expected) in cases {
            assert_eq!(c(text).round_half_even(decimals), c(expected), "{text} to {decimals}");
        }
    }

    #[test]
    fn truncation_drops_digits_without_rounding() {
        let cases = [
            ("9.05", 1, "9.0"),
            ("35.45", 1, "35.4"),
            ("154.9", 0, "154"),
            ("0.07853333", 3, "0.078"),
            ("4.45", 1, "4.4"),
        ];
        for (text, decimals, expected) in cases {
            assert_eq!(c(text).truncate(decimals), c(expected), "{text} to {decimals}");
        }
    }

    #[test]
    fn means_are_exact_fractions() {
        let mean = Concentration::mean(&[c("1"), c("1"), c("2")]).expect("non-empty");
        assert_eq!(mean.ratio(), (4, 3));
        let mean = Concentration::mean(&[c("35"), c("36")]).expect("non-empty");
        assert_eq!(mean, c("35.5"));
        assert_eq!(mean.round_half_even(0), c("36"));
        assert_eq!(Concentration::mean(&[]), None);
    }

    #[test]
    fn means_of_means_with_huge_denominators_fall_back_to_nine_places() {
        // 999 999 937 is prime, so the common denominator would be about 7 × 10¹⁸.
        let a = Concentration::from_ratio(1, 999_999_937).expect("small");
        let b = Concentration::from_ratio(1, 7_000_000_000).expect("small");
        let mean = Concentration::mean(&[a, b]).expect("non-empty");
        // a rounds to 10⁻⁹ and b to 0 at nine places, so the fallback mean is 5 × 10⁻¹⁰.
        assert_eq!(mean.ratio(), (1, 2_000_000_000));
    }

    #[test]
    fn ordering_compares_exact_values() {
        assert!(c("35.4") < c("35.45"));
        assert!(c("0.1") > c("0.09999"));
        assert_eq!(c("2.50").cmp(&c("2.5")), Ordering::Equal);
        let third = Concentration::mean(&[c("0"), c("0"), c("1")]).expect("non-empty");
        assert!(third > c("0.333333333") && third < c("0.333333334"));
    }

    #[test]
    fn display_prints_plain_decimals_and_debug_shows_fractions() {
        assert_eq!(c("2.50").to_string(), "2.5");
        assert_eq!(c("600").to_string(), "600");
        assert_eq!(c("0.078").to_string(), "0.078");
        let third = Concentration::mean(&[c("0"), c("0"), c("1")]).expect("non-empty");
        assert_eq!(third.to_string(), "0.333333333");
        assert_eq!(format!("{third:?}"), "Concentration(1/3)");
        assert_eq!(format!("{:?}", c("2.2")), "Concentration(2.2)");
    }

    #[test]
    fn gases_convert_between_mass_and_mixing_ratio_at_25_degrees() {
        let ppb = Unit::PartPerBillion;
        let ug = Unit::MicrogramPerCubicMetre;
        // 1 ppb SO2 = 64.07 / 24.45 μg/m³ exactly.
        let so2 = c("1").convert(Pollutant::So2, ppb, ug).expect("gas");
        assert_eq!(so2.ratio(), (6407, 2445));
        // And back again, exactly.
        assert_eq!(so2.convert(Pollutant::So2, ug, ppb), Ok(c("1")));
        let co = c("1").convert(Pollutant::Co, Unit::PartPerMillion, Unit::MilligramPerCubicMetre).expect("gas");
        assert_eq!(co.ratio(), (2801, 2445));
        assert_eq!(c("1").convert(Pollutant::Pm25, ug, Unit::MilligramPerCubicMetre), Ok(c("0.001")));
        assert_eq!(c("1").convert(Pollutant::Pm10, ug, ppb), Err(ConversionError::NoMolarMass(Pollutant::Pm10)));
        assert_eq!(c("9000000").convert(Pollutant::So2, ppb, ug), Err(ConversionError::TooLarge));
    }
}
