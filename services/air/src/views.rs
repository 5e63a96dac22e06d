//! Response bodies: what the API returns and the cache keeps (so they are serde types as well as OpenAPI objects).

use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use crate::domain::{AqiReport, Category, NoValue, Pollutant, SubIndexStatus};
use crate::store::StationRow;

/// A pollutant as shown to citizens.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct PollutantView {
    /// Stable code: `pm25`, `pm10`, `so2`, `no2`, `co`, `o3`.
    pub code: String,
    /// Label: `PM2.5`, `O3`, ….
    pub label: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
}

impl From<Pollutant> for PollutantView {
    fn from(p: Pollutant) -> Self {
        Self {
            code: p.code().into(),
            label: p.label().into(),
            name_zh: p.name_zh().into(),
            name_en: p.name_en().into(),
        }
    }
}

/// A level's colour.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct ColourView {
    /// Background, `#RRGGBB`.
    pub hex: String,
    /// Text colour that reads on it, `#000000` or `#FFFFFF`.
    pub text_hex: String,
    /// Colour name in Chinese (绿色, 黄色, …).
    pub name_zh: String,
    /// Colour name in English.
    pub name_en: String,
}

/// Health advice for a level.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct AdviceView {
    /// Advice in Chinese.
    pub zh: String,
    /// Advice in English.
    pub en: String,
    /// What the level means for health, in Chinese.
    pub health_effect_zh: String,
    /// What the level means for health, in English.
    pub health_effect_en: String,
}

/// A level of a scheme.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct CategoryView {
    /// 1 (best) to 6 (worst).
    pub level: u8,
    /// 一级 … 六级.
    pub level_zh: String,
    /// Category name in Chinese, e.g. 轻度污染.
    pub name_zh: String,
    /// Category name in English.
    pub name_en: String,
}

impl CategoryView {
    fn of(c: &Category) -> Self {
        Self { level: c.level, level_zh: c.level_zh.into(), name_zh: c.name_zh.into(), name_en: c.name_en.into() }
    }
}

fn colour_of(c: &Category) -> ColourView {
    ColourView {
        hex: c.colour.hex.into(),
        text_hex: c.colour.text_hex.into(),
        name_zh: c.colour.name_zh.into(),
        name_en: c.colour.name_en.into(),
    }
}

fn advice_of(c: &Category) -> AdviceView {
    AdviceView {
        zh: c.advice_zh.into(),
        en: c.advice_en.into(),
        health_effect_zh: c.health_effect_zh.into(),
        health_effect_en: c.health_effect_en.into(),
    }
}

/// One indicator's sub-index (IAQI).
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct SubIndexView {
    /// The pollutant's code.
    pub pollutant: String,
    /// Averaging period code (`1h`, `8h_mov`, `24h_mov`, `day`, `day_max_1h`, `day_max_8h`, `nowcast`).
    pub averaging: String,
    /// Unit of `concentration`.
    pub unit: String,
    /// The concentration as used (rounded or truncated as the scheme says), exact decimal text; absent without data.
    pub concentration: Option<String>,
    /// The sub-index; absent without one.
    pub iaqi: Option<u16>,
    /// `computed`, `above_scale`, `fixed`, `substituted`, `ignored`, `missing`, `substitute_missing`.
    pub status: String,
    /// Why there is no value, when there is none: e.g. `insufficient_data: 19 of 20 hours (24h moving mean)`.
    pub reason: Option<String>,
}

/// An index for one station or area and one hour or day, in one scheme.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct AqiView {
    /// The scheme used (`cn-2026`, `cn-2012`, `us`).
    pub scheme: String,
    /// The standard it implements.
    pub standard: String,
    /// `hourly` (real-time) or `daily`.
    pub period: String,
    /// `complete`, `partial` (some indicators missing), `withheld` (HJ 633-2026: incomplete and ≤ 100, not published) or `no_data`.
    pub status: String,
    /// The index; absent when withheld or without data.
    pub aqi: Option<u16>,
    /// The level (1-6); absent with the index.
    pub level: Option<u8>,
    /// The category; absent with the index.
    pub category: Option<CategoryView>,
    /// The level's colour.
    pub colour: Option<ColourView>,
    /// Health advice.
    pub advice: Option<AdviceView>,
    /// Primary pollutants (China: only when the index is above 50).
    pub primary_pollutants: Vec<PollutantView>,
    /// HJ 633-2012 only: pollutants with a sub-index above 100.
    pub non_attainment_pollutants: Option<Vec<String>>,
    /// Whether a sub-index is off the scale.
    pub above_scale: bool,
    /// Every indicator of the report.
    pub sub_indices: Vec<SubIndexView>,
    /// Indicators without a value (`pm25_24h`, …).
    pub missing: Vec<String>,
}

fn reason_text(reason: NoValue) -> String {
    match reason {
        NoValue::InsufficientData { rule, valid, required } => {
            format!("insufficient_data: {valid} of {required} values ({})", rule.code())
        }
        other => other.code().to_owned(),
    }
}

impl From<&AqiReport> for AqiView {
    fn from(r: &AqiReport) -> Self {
        let sub_indices = r
            .sub_indices
            .iter()
            .map(|s| {
                let (status, reason) = match s.status {
                    SubIndexStatus::Computed => ("computed", None),
                    SubIndexStatus::AboveScale => ("above_scale", None),
                    SubIndexStatus::Fixed => ("fixed", None),
                    SubIndexStatus::Substituted { averaging, .. } => {
                        ("substituted", Some(format!("taken from {}", averaging.code())))
                    }
                    SubIndexStatus::Ignored => ("ignored", None),
                    SubIndexStatus::Missing(why) => ("missing", Some(reason_text(why))),
                    SubIndexStatus::SubstituteMissing { averaging, reason } => {
                        ("substitute_missing", Some(format!("{}: {}", averaging.code(), reason_text(reason))))
                    }
                };
                SubIndexView {
                    pollutant: s.pollutant.code().into(),
                    averaging: s.averaging.code().into(),
                    unit: s.unit.code().into(),
                    concentration: s.concentration.map(|c| c.to_string()),
                    iaqi: s.iaqi,
                    status: status.into(),
                    reason,
                }
            })
            .collect();
        Self {
            scheme: r.scheme.id().into(),
            standard: r.scheme.standard().into(),
            period: r.period.code().into(),
            status: r.status.code().into(),
            aqi: r.aqi,
            level: r.category.map(|c| c.level),
            category: r.category.map(CategoryView::of),
            colour: r.category.map(colour_of),
            advice: r.category.map(advice_of),
            primary_pollutants: r.primary_pollutants.iter().map(|p| (*p).into()).collect(),
            non_attainment_pollutants: r
                .non_attainment_pollutants
                .as_ref()
                .map(|ps| ps.iter().map(|p| p.code().to_owned()).collect()),
            above_scale: r.above_scale,
            sub_indices,
            missing: r.missing.iter().map(|i| i.code()).collect(),
        }
    }
}

/// A station's latest hourly index, as cached between ingestions.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct StationNow {
    /// End of the latest hour with data, RFC 3339; absent when the station has no recent data.
    pub observed_at: Option<String>,
    /// The same, UTC milliseconds.
    #[oai(skip)]
    pub hour_end_ms: Option<i64>,
    /// The hourly index for that hour.
    pub report: Option<AqiView>,
}

/// A monitoring station.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct StationView {
    /// Network code, e.g. `1431A`.
    pub code: String,
    /// Display name.
    pub name: String,
    /// District code, absent outside the city's districts.
    pub district_code: Option<String>,
    /// Latitude, WGS-84.
    pub lat: f64,
    /// Longitude, WGS-84.
    pub lon: f64,
    /// Who runs it.
    pub operator: String,
    /// Whether it reports and is shown to citizens.
    pub active: bool,
}

impl From<&StationRow> for StationView {
    fn from(s: &StationRow) -> Self {
        Self {
            code: s.code.clone(),
            name: s.name.clone(),
            district_code: s.district_code.clone(),
            lat: s.lat,
            lon: s.lon,
            operator: s.operator.clone(),
            active: s.active,
        }
    }
}
