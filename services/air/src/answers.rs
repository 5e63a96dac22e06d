//! What the hot path keeps beside the station index: each station's cached answers (its [`Slot`]),
//! the pre-rendered JSON members of `/v1/air/nearest`, and the shared-cache keys and tokens. Plain
//! data: the state ([`crate::state::AirState`]) holds these, the engine fills them.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::domain::Scheme;
use crate::index::StationIndex;
use crate::views::StationNow;

/// One station's cached answers, one per scheme. Lives as long as the process (a rebuilt index
/// reuses it), so an ingestion always reaches the slot a reader fills.
#[derive(Default)]
pub struct Slot {
    pub(crate) answers: [RwLock<Option<Arc<Answer>>>; 3],
}

/// A station's latest hour in one scheme, with the lean `/v1/air/nearest` members pre-rendered.
pub struct Answer {
    /// The token current when its inputs were read; valid while the station's token is unchanged.
    pub(crate) token: Box<[u8]>,
    /// The full latest-hour view.
    pub now: Arc<StationNow>,
    /// `"aqi":…,"level":…,…,"observed_at":"…"` (JSON members without braces), when there is a report.
    pub fragment: Option<Box<str>>,
}

/// The station index with what the hot path needs beside each station: its slot and its
/// pre-rendered `station` members.
pub struct LiveIndex {
    pub(crate) stations: StationIndex,
    pub(crate) slots: Vec<Arc<Slot>>,
    pub(crate) heads: Vec<Box<str>>,
    pub(crate) token_keys: Vec<Box<str>>,
}

impl std::ops::Deref for LiveIndex {
    type Target = StationIndex;

    fn deref(&self) -> &StationIndex {
        &self.stations
    }
}

impl LiveIndex {
    /// `"code":…,"name":…,"district_code":…` of the station at `position`.
    pub fn head(&self, position: u32) -> &str {
        &self.heads[position as usize]
    }
}

pub(crate) fn scheme_slot(scheme: Scheme) -> usize {
    match scheme {
        Scheme::Cn2026 => 0,
        Scheme::Cn2012 => 1,
        Scheme::Us => 2,
    }
}

/// The lean members of `/v1/air/nearest` that depend only on the station's latest hour. A member
/// without a value is left out, as poem-openapi leaves it out of the documented `NearestView`.
#[derive(serde::Serialize)]
pub(crate) struct NearestMembers<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    aqi: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: &'a Option<crate::views::CategoryView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    colour: &'a Option<crate::views::ColourView>,
    primary_pollutants: &'a [crate::views::PollutantView],
    #[serde(skip_serializing_if = "Option::is_none")]
    advice: &'a Option<crate::views::AdviceView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_at: &'a Option<String>,
}

/// JSON members of an object, without its braces.
pub(crate) fn members_of<T: serde::Serialize>(value: &T) -> Box<str> {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    text[1..text.len() - 1].into()
}

impl Answer {
    pub(crate) fn new(token: Box<[u8]>, now: Arc<StationNow>) -> Self {
        let fragment = now.report.as_ref().map(|r| {
            members_of(&NearestMembers {
                aqi: r.aqi,
                level: r.level,
                category: &r.category,
                colour: &r.colour,
                primary_pollutants: &r.primary_pollutants,
                advice: &r.advice,
                observed_at: &now.observed_at,
            })
        });
        Self { token, now, fragment }
    }
}

#[derive(serde::Serialize)]
pub(crate) struct HeadMembers<'a> {
    pub(crate) code: &'a str,
    pub(crate) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) district_code: &'a Option<String>,
}

/// A value in the shared cache with the token it was computed under.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Tagged<T> {
    pub(crate) token: String,
    pub(crate) value: T,
}

/// The shared cache key of a station's token.
pub(crate) fn token_key(code: &str) -> String {
    format!("air:token:{code}")
}

/// One token for every district and city value: any ingestion or station change replaces it.
pub(crate) const AREAS_TOKEN: &str = "air:token:areas";

pub(crate) fn done_key(event_id: &str) -> String {
    format!("air:ingested:{event_id}")
}

pub(crate) fn cache_key_area(kind: &str, scheme: Scheme) -> String {
    format!("air:{kind}:{}", scheme.id())
}
