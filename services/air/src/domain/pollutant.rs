//! The six index pollutants, their units and the averaging periods that enter an index.
//!
//! Codes are stable and used in JSON and SQL: pollutants `pm25`, `pm10`, `so2`, `no2`, `co`, `o3`; averaging periods `1h`, `8h_mov`, `24h_mov`, `day`, `day_max_1h`, `day_max_8h`, `nowcast`.

use std::fmt;
use std::str::FromStr;

/// One of the six pollutants that the Chinese and US air quality indices are built from.
///
/// The declaration order is the stable order used wherever pollutants are listed (e.g. tied primary pollutants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pollutant {
    /// Fine particulate matter, aerodynamic diameter ≤ 2.5 μm (细颗粒物).
    Pm25,
    /// Inhalable particulate matter, aerodynamic diameter ≤ 10 μm (可吸入颗粒物).
    Pm10,
    /// Sulphur dioxide (二氧化硫).
    So2,
    /// Nitrogen dioxide (二氧化氮).
    No2,
    /// Carbon monoxide (一氧化碳); note its Chinese unit is mg/m³, not μg/m³.
    Co,
    /// Ozone (臭氧).
    O3,
}

/// A concentration unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// μg/m³, the Chinese unit for all pollutants except CO, and the US unit for particulates.
    MicrogramPerCubicMetre,
    /// mg/m³, the Chinese unit for CO.
    MilligramPerCubicMetre,
    /// ppm, the US unit for O3 and CO.
    PartPerMillion,
    /// ppb, the US unit for SO2 and NO2.
    PartPerBillion,
}

/// The period a concentration is averaged over, which decides the breakpoint column it is read against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Averaging {
    /// Mean over one clock hour (1小时平均).
    OneHour,
    /// Mean of the 8 hourly values ending at the current hour (8小时滑动平均); used for O3, and for CO in the US scheme.
    EightHourMoving,
    /// Mean of the 24 hourly values ending at the current hour (24小时滑动平均).
    TwentyFourHourMoving,
    /// Mean over one calendar day in local time (日平均).
    Day,
    /// Highest hourly value of a calendar day (日最大1小时平均).
    DayMaxOneHour,
    /// Highest 8-hour moving mean of a calendar day (日最大8小时滑动平均).
    DayMaxEightHour,
    /// The US NowCast of PM2.5 or PM10 from the last 12 hours, read against the 24-hour breakpoints.
    NowCast,
}

/// One pollutant averaged over one period: a column of a report table, such as "O3 8-hour moving average".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Indicator {
    /// The pollutant measured.
    pub pollutant: Pollutant,
    /// The averaging period.
    pub averaging: Averaging,
}

/// Text that names no known pollutant, unit or averaging period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCode {
    /// What was being parsed: `"pollutant"`, `"unit"` or `"averaging"`.
    pub kind: &'static str,
    /// The text as given.
    pub text: String,
}

impl Pollutant {
    /// All six, in the stable order.
    pub const ALL: [Pollutant; 6] =
        [Pollutant::Pm25, Pollutant::Pm10, Pollutant::So2, Pollutant::No2, Pollutant::Co, Pollutant::O3];

    /// The stable machine code: `pm25`, `pm10`, `so2`, `no2`, `co`, `o3`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Pm25 => "pm25",
            Self::Pm10 => "pm10",
            Self::So2 => "so2",
            Self::No2 => "no2",
            Self::Co => "co",
            Self::O3 => "o3",
        }
    }

    /// The short label citizens see: `PM2.5`, `PM10`, `SO2`, `NO2`, `CO`, `O3`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pm25 => "PM2.5",
            Self::Pm10 => "PM10",
            Self::So2 => "SO2",
            Self::No2 => "NO2",
            Self::Co => "CO",
            Self::O3 => "O3",
        }
    }

    /// The full English name.
    pub fn name_en(self) -> &'static str {
        match self {
            Self::Pm25 => "fine particulate matter",
            Self::Pm10 => "inhalable particulate matter",
            Self::So2 => "sulphur dioxide",
            Self::No2 => "nitrogen dioxide",
            Self::Co => "carbon monoxide",
            Self::O3 => "ozone",
        }
    }

    /// The full Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Pm25 => "细颗粒物",
            Self::Pm10 => "可吸入颗粒物",
            Self::So2 => "二氧化硫",
            Self::No2 => "二氧化氮",
            Self::Co => "一氧化碳",
            Self::O3 => "臭氧",
        }
    }

    /// The mass unit of the Chinese standards: mg/m³ for CO, μg/m³ for the others.
    pub fn unit(self) -> Unit {
        match self {
            Self::Co => Unit::MilligramPerCubicMetre,
            _ => Unit::MicrogramPerCubicMetre,
        }
    }

    /// Whether the pollutant is a gas (and so has a molar mass and ppm/ppb units).
    pub fn is_gas(self) -> bool {
        self.molar_mass_hundredths().is_some()
    }

    /// Reads a pollutant code as feeds write it: `pm2_5`, `PM2.5`, `pm25`, `PM₂.₅`, `so2`, `SO₂`, `co`, `O3`, English names, or Chinese names such as `细颗粒物(PM2.5)` and `臭氧8小时`.
    pub fn parse(text: &str) -> Result<Self, UnknownCode> {
        let unknown = || UnknownCode { kind: "pollutant", text: text.to_owned() };
        let trimmed = text.trim();
        // Chinese feed labels append the code or the averaging period to the name.
        let chinese = [
            ("可吸入颗粒物", Self::Pm10),
            ("细颗粒物", Self::Pm25),
            ("二氧化硫", Self::So2),
            ("二氧化氮", Self::No2),
            ("一氧化碳", Self::Co),
            ("臭氧", Self::O3),
        ];
        if let Some(&(_, p)) = chinese.iter().find(|(name, _)| trimmed.starts_with(name)) {
            return Ok(p);
        }
        let normalised: String = trimmed
            .chars()
            .filter_map(|ch| match ch {
                '₀'..='₉' => char::from_digit(ch as u32 - '₀' as u32, 10),
                ' ' | '_' | '-' | '.' => None,
                _ => Some(ch.to_ascii_lowercase()),
            })
            .collect();
        match normalised.as_str() {
            "pm25" | "fineparticulatematter" => Ok(Self::Pm25),
            "pm10" | "inhalableparticulatematter" => Ok(Self::Pm10),
            "so2" | "sulphurdioxide" | "sulfurdioxide" => Ok(Self::So2),
            "no2" | "nitrogendioxide" => Ok(Self::No2),
            "co" | "carbonmonoxide" => Ok(Self::Co),
            "o3" | "ozone" => Ok(Self::O3),
            _ => Err(unknown()),
        }
    }

    /// Molar mass in hundredths of g/mol, `None` for particulates.
    pub(crate) fn molar_mass_hundredths(self) -> Option<u32> {
        match self {
            Self::So2 => Some(6407),
            Self::No2 => Some(4601),
            Self::O3 => Some(4800),
            Self::Co => Some(2801),
            Self::Pm25 | Self::Pm10 => None,
        }
    }
}

impl Unit {
    /// The typographic symbol: `μg/m³`, `mg/m³`, `ppm`, `ppb`.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::MicrogramPerCubicMetre => "μg/m³",
            Self::MilligramPerCubicMetre => "mg/m³",
            Self::PartPerMillion => "ppm",
            Self::PartPerBillion => "ppb",
        }
    }

    /// The stable ASCII code: `ug/m3`, `mg/m3`, `ppm`, `ppb`.
    pub fn code(self) -> &'static str {
        match self {
            Self::MicrogramPerCubicMetre => "ug/m3",
            Self::MilligramPerCubicMetre => "mg/m3",
            Self::PartPerMillion => "ppm",
            Self::PartPerBillion => "ppb",
        }
    }

    /// Reads a unit code or symbol (`ug/m3`, `μg/m³`, `µg/m3`, `mg/m3`, `ppm`, `ppb`), ignoring case and spaces.
    pub fn parse(text: &str) -> Result<Self, UnknownCode> {
        let normalised: String = text
            .chars()
            .filter(|ch| !ch.is_whitespace())
            .map(|ch| match ch {
                // Greek mu and the micro sign are both common.
                'μ' | 'µ' => 'u',
                '³' => '3',
                _ => ch.to_ascii_lowercase(),
            })
            .collect();
        match normalised.as_str() {
            "ug/m3" => Ok(Self::MicrogramPerCubicMetre),
            "mg/m3" => Ok(Self::MilligramPerCubicMetre),
            "ppm" => Ok(Self::PartPerMillion),
            "ppb" => Ok(Self::PartPerBillion),
            _ => Err(UnknownCode { kind: "unit", text: text.to_owned() }),
        }
    }
}

impl Averaging {
    /// Every averaging period, in the stable order.
    pub const ALL: [Averaging; 7] = [
        Averaging::OneHour,
        Averaging::EightHourMoving,
        Averaging::TwentyFourHourMoving,
        Averaging::Day,
        Averaging::DayMaxOneHour,
        Averaging::DayMaxEightHour,
        Averaging::NowCast,
    ];

    /// The stable machine code: `1h`, `8h_mov`, `24h_mov`, `day`, `day_max_1h`, `day_max_8h`, `nowcast`.
    pub fn code(self) -> &'static str {
        match self {
            Self::OneHour => "1h",
            Self::EightHourMoving => "8h_mov",
            Self::TwentyFourHourMoving => "24h_mov",
            Self::Day => "day",
            Self::DayMaxOneHour => "day_max_1h",
            Self::DayMaxEightHour => "day_max_8h",
            Self::NowCast => "nowcast",
        }
    }

    /// An English description.
    pub fn name_en(self) -> &'static str {
        match self {
            Self::OneHour => "1-hour average",
            Self::EightHourMoving => "8-hour moving average",
            Self::TwentyFourHourMoving => "24-hour moving average",
            Self::Day => "daily average",
            Self::DayMaxOneHour => "daily maximum 1-hour average",
            Self::DayMaxEightHour => "daily maximum 8-hour moving average",
            Self::NowCast => "NowCast",
        }
    }

    /// The Chinese description used in report tables.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::OneHour => "1小时平均",
            Self::EightHourMoving => "8小时滑动平均",
            Self::TwentyFourHourMoving => "24小时滑动平均",
            Self::Day => "日平均",
            Self::DayMaxOneHour => "日最大1小时平均",
            Self::DayMaxEightHour => "日最大8小时滑动平均",
            Self::NowCast => "NowCast",
        }
    }

    /// Reads a code as produced by [`Averaging::code`] (case-insensitive).
    pub fn parse(text: &str) -> Result<Self, UnknownCode> {
        let wanted = text.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|a| a.code() == wanted)
            .ok_or_else(|| UnknownCode { kind: "averaging", text: text.to_owned() })
    }

    /// The breakpoint column family this period is read against.
    pub(crate) fn window(self) -> Window {
        match self {
            Self::OneHour | Self::DayMaxOneHour => Window::OneHour,
            Self::EightHourMoving | Self::DayMaxEightHour => Window::EightHours,
            Self::TwentyFourHourMoving | Self::Day => Window::TwentyFourHours,
            Self::NowCast => Window::NowCast,
        }
    }
}

/// The length of the averaging window, which picks a breakpoint column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Window {
    OneHour,
    EightHours,
    TwentyFourHours,
    NowCast,
}

impl Indicator {
    /// Pairs a pollutant with an averaging period.
    pub fn new(pollutant: Pollutant, averaging: Averaging) -> Self {
        Self { pollutant, averaging }
    }

    /// The stable code `<pollutant>_<averaging>`, e.g. `o3_8h_mov`, `pm25_day`.
    pub fn code(self) -> String {
        format!("{}_{}", self.pollutant.code(), self.averaging.code())
    }
}

impl fmt::Display for Pollutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl fmt::Display for Averaging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.pollutant.label(), self.averaging.name_en())
    }
}

impl FromStr for Pollutant {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl FromStr for Unit {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl FromStr for Averaging {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}: {:?}", self.kind, self.text)
    }
}

impl std::error::Error for UnknownCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pollutant_codes_from_common_feeds_are_recognised() {
        let cases = [
            ("pm2_5", Pollutant::Pm25),
            ("PM2.5", Pollutant::Pm25),
            ("pm25", Pollutant::Pm25),
            ("PM₂.₅", Pollutant::Pm25),
            ("pm2.5", Pollutant::Pm25),
            ("PM-2.5", Pollutant::Pm25),
            (" pm10 ", Pollutant::Pm10),
            ("PM₁₀", Pollutant::Pm10),
            ("so2", Pollutant::So2),
            ("SO₂", Pollutant::So2),
            ("NO2", Pollutant::No2),
            ("co", Pollutant::Co),
            ("CO", Pollutant::Co),
            ("o3", Pollutant::O3),
            ("O₃", Pollutant::O3),
            ("Ozone", Pollutant::O3),
            ("sulfur dioxide", Pollutant::So2),
            ("细颗粒物(PM2.5)", Pollutant::Pm25),
            ("可吸入颗粒物(PM10)", Pollutant::Pm10),
            ("臭氧8小时", Pollutant::O3),
            ("臭氧1小时", Pollutant::O3),
            ("二氧化氮", Pollutant::No2),
            ("二氧化硫", Pollutant::So2),
            ("一氧化碳", Pollutant::Co),
        ];
        for (text, expected) in cases {
            assert_eq!(Pollutant::parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn unknown_pollutant_names_are_rejected() {
        for text in ["", "pm1", "nox", "tsp", "o3_8h", "—", "pm"] {
            let err = Pollutant::parse(text).expect_err(text);
            assert_eq!(err.kind, "pollutant");
            assert_eq!(err.text, text);
        }
    }

    #[test]
    fn every_pollutant_parses_back_from_its_code_and_label() {
        for p in Pollutant::ALL {
            assert_eq!(Pollutant::parse(p.code()), Ok(p));
            assert_eq!(Pollutant::parse(p.label()), Ok(p));
            assert_eq!(Pollutant::parse(p.name_en()), Ok(p));
            assert_eq!(Pollutant::parse(p.name_zh()), Ok(p));
        }
    }

    #[test]
    fn carbon_monoxide_is_in_milligrams_and_the_rest_in_micrograms() {
        for p in Pollutant::ALL {
            let expected = if p == Pollutant::Co { Unit::MilligramPerCubicMetre } else { Unit::MicrogramPerCubicMetre };
            assert_eq!(p.unit(), expected, "{p}");
        }
        assert_eq!(Unit::MicrogramPerCubicMetre.symbol(), "μg/m³");
        assert_eq!(Unit::MilligramPerCubicMetre.symbol(), "mg/m³");
        assert!(!Pollutant::Pm25.is_gas() && Pollutant::Co.is_gas());
    }

    #[test]
    fn units_parse_from_codes_symbols_and_both_mu_characters() {
        let cases = [
            ("ug/m3", Unit::MicrogramPerCubicMetre),
            ("μg/m³", Unit::MicrogramPerCubicMetre),
            ("µg/m3", Unit::MicrogramPerCubicMetre),
            ("mg/m3", Unit::MilligramPerCubicMetre),
            ("MG/M³", Unit::MilligramPerCubicMetre),
            ("ppm", Unit::PartPerMillion),
            ("PPB", Unit::PartPerBillion),
        ];
        for (text, expected) in cases {
            assert_eq!(Unit::parse(text), Ok(expected), "{text}");
        }
        assert!(Unit::parse("g/m3").is_err());
    }

    #[test]
    fn averaging_codes_round_trip_and_indicator_codes_join_them() {
        for a in Averaging::ALL {
            assert_eq!(Averaging::parse(a.code()), Ok(a));
        }
        assert!(Averaging::parse("8h").is_err());
        let indicator = Indicator::new(Pollutant::O3, Averaging::EightHourMoving);
        assert_eq!(indicator.code(), "o3_8h_mov");
        assert_eq!(indicator.to_string(), "O3 8-hour moving average");
    }
}
