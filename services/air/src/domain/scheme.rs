//! Index schemes: which standard turns concentrations into an index, and the per-scheme data (units, precision, indicators, levels).
//!
//! Every computed index carries its scheme id, because the same concentrations give different indices under HJ 633-2012 and HJ 633-2026 (PM2.5 75 μg/m³ is 100 under 2012 and 114 under 2026).

use std::fmt;
use std::str::FromStr;

use crate::domain::china::{self, Version};
use crate::domain::concentration::Concentration;
use crate::domain::iaqi::IaqiOutcome;
use crate::domain::level::{self, Category, SensitiveGroups};
use crate::domain::pollutant::{Averaging, Indicator, Pollutant, Unit, UnknownCode};
use crate::domain::us;
use Averaging::{Day, DayMaxEightHour, DayMaxOneHour, EightHourMoving, NowCast, OneHour, TwentyFourHourMoving};
use Pollutant::{Co, No2, Pm10, Pm25, So2, O3};

/// An air quality index standard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// China, HJ 633-2026, in force since 2026-03-01; the default for anything shown to citizens.
    #[default]
    Cn2026,
    /// China, HJ 633-2012, superseded on 2026-03-01; for historical data.
    Cn2012,
    /// United States EPA AQI, Technical Assistance Document of May 2024 (EPA-454/B-24-002).
    Us,
}

/// Which report an index is for: each scheme uses different indicators for each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReportPeriod {
    /// The real-time report published after each full hour (实时报).
    #[default]
    Hourly,
    /// The report for one calendar day (日报).
    Daily,
}

/// How Chinese-scheme concentrations are brought to precision before the table lookup.
///
/// The US scheme ignores this: truncation is a step of its procedure and always applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InputRounding {
    /// Round half to even to the published precision (integers, CO to 0.1 mg/m³), as HJ 633-2026 prescribes and as official 2012 values were computed; PM2.5 35.4 becomes 35 and gives 50.
    #[default]
    Published,
    /// Use the value exactly as given; PM2.5 35.4 gives ⌈50.5⌉ = 51.
    AsGiven,
}

/// One indicator that enters a report's index, with the rules attached to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndicatorSpec {
    /// The pollutant and averaging period.
    pub indicator: Indicator,
    /// Where the index comes from when this value is above its table ([`IaqiOutcome::Substitute`]).
    pub substitute: Option<Averaging>,
    /// The fixed index when the substitute lies below its own table: US SO2, 1-hour ≥ 305 ppb but 24-hour < 305 ppb, is exactly 200.
    pub substitute_below_table: Option<u16>,
    /// Whether a missing value makes the report partial; only US O3 1-hour is optional.
    pub required: bool,
}

/// Text that names no known scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownScheme(pub String);

const fn spec(pollutant: Pollutant, averaging: Averaging) -> IndicatorSpec {
    IndicatorSpec {
        indicator: Indicator { pollutant, averaging },
        substitute: None,
        substitute_below_table: None,
        required: true,
    }
}

const fn with_substitute(mut s: IndicatorSpec, averaging: Averaging) -> IndicatorSpec {
    s.substitute = Some(averaging);
    s
}

const fn optional(mut s: IndicatorSpec) -> IndicatorSpec {
    s.required = false;
    s
}

const fn so2_us(first: Averaging, then: Averaging) -> IndicatorSpec {
    let mut s = with_substitute(spec(Pollutant::So2, first), then);
    s.substitute_below_table = Some(200);
    s
}

/// HJ 633-2012 Table 4 taken literally: particulates by their 24-hour moving means, O3 by both the 1-hour value and the 8-hour moving mean.
const CN_2012_HOURLY: [IndicatorSpec; 7] = [
    spec(Pm25, TwentyFourHourMoving),
    spec(Pm10, TwentyFourHourMoving),
    with_substitute(spec(So2, OneHour), TwentyFourHourMoving),
    spec(No2, OneHour),
    spec(Co, OneHour),
    spec(O3, OneHour),
    with_substitute(spec(O3, EightHourMoving), OneHour),
];

const CN_2012_DAILY: [IndicatorSpec; 7] = [
    spec(Pm25, Day),
    spec(Pm10, Day),
    spec(So2, Day),
    spec(No2, Day),
    spec(Co, Day),
    spec(O3, DayMaxOneHour),
    with_substitute(spec(O3, DayMaxEightHour), DayMaxOneHour),
];

const CN_2026_HOURLY: [IndicatorSpec; 6] = [
    spec(Pm25, OneHour),
    spec(Pm10, OneHour),
    spec(So2, OneHour),
    spec(No2, OneHour),
    spec(Co, OneHour),
    spec(O3, OneHour),
];

const CN_2026_DAILY: [IndicatorSpec; 6] =
    [spec(Pm25, Day), spec(Pm10, Day), spec(So2, Day), spec(No2, Day), spec(Co, Day), spec(O3, DayMaxEightHour)];

/// The current (hourly) US index: NowCast for particulates, moving means for O3 and CO.
const US_HOURLY: [IndicatorSpec; 7] = [
    spec(Pm25, NowCast),
    spec(Pm10, NowCast),
    so2_us(OneHour, TwentyFourHourMoving),
    spec(No2, OneHour),
    spec(Co, EightHourMoving),
    optional(spec(O3, OneHour)),
    with_substitute(spec(O3, EightHourMoving), OneHour),
];

/// The daily US index: 24-hour particulates, daily maxima for the gases.
const US_DAILY: [IndicatorSpec; 7] = [
    spec(Pm25, Day),
    spec(Pm10, Day),
    so2_us(DayMaxOneHour, Day),
    spec(No2, DayMaxOneHour),
    spec(Co, DayMaxEightHour),
    optional(spec(O3, DayMaxOneHour)),
    with_substitute(spec(O3, DayMaxEightHour), DayMaxOneHour),
];

impl Scheme {
    /// All schemes, the default first.
    pub const ALL: [Scheme; 3] = [Scheme::Cn2026, Scheme::Cn2012, Scheme::Us];

    /// The stable id used in APIs and storage: `cn-2026`, `cn-2012`, `us`.
    pub fn id(self) -> &'static str {
        match self {
            Self::Cn2026 => "cn-2026",
            Self::Cn2012 => "cn-2012",
            Self::Us => "us",
        }
    }

    /// The standard's designation: `HJ 633-2026`, `HJ 633-2012`, `EPA-454/B-24-002`.
    pub fn standard(self) -> &'static str {
        match self {
            Self::Cn2026 => "HJ 633-2026",
            Self::Cn2012 => "HJ 633-2012",
            Self::Us => "EPA-454/B-24-002",
        }
    }

    /// The name of the standard, in English.
    pub fn name_en(self) -> &'static str {
        match self {
            Self::Cn2026 => "Technical Regulation on Ambient Air Quality Index (HJ 633-2026)",
            Self::Cn2012 => {
                "Technical Regulation on Ambient Air Quality Index, on trial (HJ 633-2012)"
            }
            Self::Us => {
                "US EPA Technical Assistance Document for the Reporting of Daily Air Quality – the Air Quality Index (May 2024)"
            }
        }
    }

    /// The name of the standard, in Chinese.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Cn2026 => "环境空气质量指数（AQI）技术规定（HJ 633-2026）",
            Self::Cn2012 => "环境空气质量指数（AQI）技术规定（试行）（HJ 633-2012）",
            Self::Us => "美国环境保护署空气质量指数（2024年版）",
        }
    }

    /// Reads a scheme id; also accepts `cn-hj633-2026`, `hj633-2026`, `HJ 633-2026`, `us-epa`, `us-epa-2024`, ignoring case.
    pub fn parse(text: &str) -> Result<Self, UnknownScheme> {
        let normalised: String =
            text.trim().chars().filter(|ch| !ch.is_whitespace()).map(|ch| ch.to_ascii_lowercase()).collect();
        match normalised.as_str() {
            "cn-2026" | "cn-hj633-2026" | "hj633-2026" => Ok(Self::Cn2026),
            "cn-2012" | "cn-hj633-2012" | "hj633-2012" => Ok(Self::Cn2012),
            "us" | "us-epa" | "us-epa-2024" | "epa-454/b-24-002" => Ok(Self::Us),
            _ => Err(UnknownScheme(text.to_owned())),
        }
    }

    /// The unit the scheme reads a pollutant in: China uses mass concentrations (CO in mg/m³), the US uses ppm for O3 and CO and ppb for SO2 and NO2.
    pub fn unit(self, pollutant: Pollutant) -> Unit {
        match (self, pollutant) {
            (Self::Cn2026 | Self::Cn2012, p) => p.unit(),
            (Self::Us, Pollutant::O3 | Pollutant::Co) => Unit::PartPerMillion,
            (Self::Us, Pollutant::So2 | Pollutant::No2) => Unit::PartPerBillion,
            (Self::Us, Pollutant::Pm25 | Pollutant::Pm10) => Unit::MicrogramPerCubicMetre,
        }
    }

    /// Decimal places a concentration is brought to before the table lookup: China publishes integers (CO one place); the US truncates O3 to 3, PM2.5 and CO to 1 and the rest to 0.
    pub fn input_decimals(self, pollutant: Pollutant) -> u32 {
        match (self, pollutant) {
            (Self::Us, p) => us::decimals(p),
            (_, Pollutant::Co) => 1,
            _ => 0,
        }
    }

    /// The concentration as the scheme uses it: rounded half to even (China, unless `AsGiven`) or truncated (US).
    pub fn normalise(
        self,
        pollutant: Pollutant,
        concentration: Concentration,
        rounding: InputRounding,
    ) -> Concentration {
        let decimals = self.input_decimals(pollutant);
        match (self, rounding) {
            (Self::Us, _) => concentration.truncate(decimals),
            (_, InputRounding::Published) => concentration.round_half_even(decimals),
            (_, InputRounding::AsGiven) => concentration,
        }
    }

    /// The indicators whose sub-indices make up the index of a report, in the stable order.
    ///
    /// HJ 633-2012 hourly follows the standard's Table 4 literally (24-hour moving means for particulates, plus the O3 8-hour moving mean); HJ 633-2026 hourly uses the six 1-hour values.
    pub fn indicators(self, period: ReportPeriod) -> &'static [IndicatorSpec] {
        match (self, period) {
            (Self::Cn2026, ReportPeriod::Hourly) => &CN_2026_HOURLY,
            (Self::Cn2026, ReportPeriod::Daily) => &CN_2026_DAILY,
            (Self::Cn2012, ReportPeriod::Hourly) => &CN_2012_HOURLY,
            (Self::Cn2012, ReportPeriod::Daily) => &CN_2012_DAILY,
            (Self::Us, ReportPeriod::Hourly) => &US_HOURLY,
            (Self::Us, ReportPeriod::Daily) => &US_DAILY,
        }
    }

    /// The sub-index of one concentration (in [`Scheme::unit`]) at the published precision.
    pub fn iaqi(self, pollutant: Pollutant, averaging: Averaging, concentration: Concentration) -> IaqiOutcome {
        self.iaqi_with(pollutant, averaging, concentration, InputRounding::Published)
    }

    /// The sub-index of one concentration, with an explicit input rounding.
    pub fn iaqi_with(
        self,
        pollutant: Pollutant,
        averaging: Averaging,
        concentration: Concentration,
        rounding: InputRounding,
    ) -> IaqiOutcome {
        let used = self.normalise(pollutant, concentration, rounding);
        match self {
            Self::Cn2026 => china::iaqi(Version::Hj2026, pollutant, averaging, used),
            Self::Cn2012 => china::iaqi(Version::Hj2012, pollutant, averaging, used),
            Self::Us => us::iaqi(pollutant, averaging, used),
        }
    }

    /// The level an index value falls in.
    pub fn category(self, aqi: u16) -> &'static Category {
        &self.categories()[level::level_index(aqi)]
    }

    /// All six levels of the scheme, best first.
    pub fn categories(self) -> &'static [Category; 6] {
        match self {
            Self::Cn2026 => &level::CN_2026,
            Self::Cn2012 => &level::CN_2012,
            Self::Us => &level::US,
        }
    }

    /// Who is sensitive to a pollutant whose sub-index is above 100; only HJ 633-2026 defines this (its Table 2).
    pub fn sensitive_groups(self, pollutant: Pollutant) -> Option<&'static SensitiveGroups> {
        match self {
            Self::Cn2026 => level::SENSITIVE_GROUPS_2026.iter().find(|g| g.pollutant == pollutant),
            Self::Cn2012 | Self::Us => None,
        }
    }

    /// Whether the scheme defines non-attainment pollutants (超标污染物, sub-index above 100); HJ 633-2026 removed them.
    pub fn defines_non_attainment(self) -> bool {
        self == Self::Cn2012
    }

    /// Whether a partial index (some indicator missing) is withheld when it is 100 or less (HJ 633-2026 clause 5.3).
    pub fn withholds_low_partial_index(self) -> bool {
        self == Self::Cn2026
    }

    /// The index above which primary pollutants are named: 50 in China; the US names the responsible pollutant at any index.
    pub fn primary_pollutant_threshold(self) -> Option<u16> {
        match self {
            Self::Cn2026 | Self::Cn2012 => Some(50),
            Self::Us => None,
        }
    }
}

impl ReportPeriod {
    /// The stable code: `hourly`, `daily`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
        }
    }

    /// Reads `hourly` or `daily` (also `realtime`, `day`), ignoring case.
    pub fn parse(text: &str) -> Result<Self, UnknownCode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "hourly" | "realtime" | "real-time" | "hour" => Ok(Self::Hourly),
            "daily" | "day" => Ok(Self::Daily),
            _ => Err(UnknownCode { kind: "report period", text: text.to_owned() }),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl FromStr for ReportPeriod {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for UnknownScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown index scheme {:?}; expected cn-2026, cn-2012 or us", self.0)
    }
}

impl std::error::Error for UnknownScheme {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_ids_are_stable_and_parse_back_with_aliases() {
        assert_eq!(Scheme::default(), Scheme::Cn2026);
        let ids: Vec<&str> = Scheme::ALL.iter().map(|s| s.id()).collect();
        assert_eq!(ids, ["cn-2026", "cn-2012", "us"]);
        for scheme in Scheme::ALL {
            assert_eq!(Scheme::parse(scheme.id()), Ok(scheme));
            assert_eq!(scheme.id().parse::<Scheme>(), Ok(scheme));
            assert_eq!(scheme.to_string(), scheme.id());
        }
        let aliases = [
            ("CN-2026", Scheme::Cn2026),
            ("cn-hj633-2026", Scheme::Cn2026),
            ("HJ 633-2026", Scheme::Cn2026),
            ("hj633-2012", Scheme::Cn2012),
            ("US-EPA", Scheme::Us),
            ("us-epa-2024", Scheme::Us),
        ];
        for (text, scheme) in aliases {
            assert_eq!(Scheme::parse(text), Ok(scheme), "{text}");
        }
        assert_eq!(Scheme::parse("aqi"), Err(UnknownScheme("aqi".to_owned())));
        assert_eq!(Scheme::Cn2026.standard(), "HJ 633-2026");
        assert_eq!(Scheme::Cn2012.standard(), "HJ 633-2012");
    }

    #[test]
    fn units_are_mass_in_china_and_mixing_ratios_for_us_gases() {
        let cases = [
            (Scheme::Cn2026, Pollutant::Co, Unit::MilligramPerCubicMetre),
            (Scheme::Cn2012, Pollutant::So2, Unit::MicrogramPerCubicMetre),
            (Scheme::Us, Pollutant::O3, Unit::PartPerMillion),
            (Scheme::Us, Pollutant::Co, Unit::PartPerMillion),
            (Scheme::Us, Pollutant::So2, Unit::PartPerBillion),
            (Scheme::Us, Pollutant::No2, Unit::PartPerBillion),
            (Scheme::Us, Pollutant::Pm25, Unit::MicrogramPerCubicMetre),
        ];
        for (scheme, pollutant, unit) in cases {
            assert_eq!(scheme.unit(pollutant), unit, "{scheme} {pollutant}");
        }
    }

    #[test]
    fn every_report_covers_all_six_pollutants_and_only_defined_columns() {
        for scheme in Scheme::ALL {
            for period in [ReportPeriod::Hourly, ReportPeriod::Daily] {
                let specs = scheme.indicators(period);
                for p in Pollutant::ALL {
                    assert!(specs.iter().any(|s| s.indicator.pollutant == p), "{scheme} {p}");
                }
                for spec in specs {
                    let Indicator { pollutant, averaging } = spec.indicator;
                    let any = Concentration::ZERO;
                    let outcome = scheme.iaqi(pollutant, averaging, any);
                    assert_ne!(outcome, IaqiOutcome::NotDefined, "{scheme} {pollutant} {averaging}");
                    if let Some(substitute) = spec.substitute {
                        let outcome = scheme.iaqi(pollutant, substitute, any);
                        assert_ne!(outcome, IaqiOutcome::NotDefined, "{scheme} {pollutant}");
                    }
                }
            }
        }
    }

    #[test]
    fn only_2012_defines_non_attainment_and_only_2026_withholds_and_has_sensitive_groups() {
        assert!(Scheme::Cn2012.defines_non_attainment());
        assert!(!Scheme::Cn2026.defines_non_attainment() && !Scheme::Us.defines_non_attainment());
        assert!(Scheme::Cn2026.withholds_low_partial_index());
        assert!(!Scheme::Cn2012.withholds_low_partial_index());
        assert!(Scheme::Cn2026.sensitive_groups(Pollutant::O3).is_some());
        assert!(Scheme::Us.sensitive_groups(Pollutant::O3).is_none());
    }

    #[test]
    fn report_periods_parse_from_their_codes() {
        assert_eq!(ReportPeriod::parse("hourly"), Ok(ReportPeriod::Hourly));
        assert_eq!(ReportPeriod::parse("Daily"), Ok(ReportPeriod::Daily));
        assert!(ReportPeriod::parse("weekly").is_err());
    }
}
