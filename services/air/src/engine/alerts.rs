//! Alert subscriptions: evaluating them after an ingestion (raise once, clear with hysteresis, one
//! notification per episode through the outbox), and a citizen's own subscriptions. The crossing
//! rules are `domain::alert`.

use std::collections::{HashMap, HashSet};

use city_platform::coords::LatLon;
use city_platform::outbox;
use city_platform::time::{from_ms, rfc3339};

use crate::domain::alert::{self, AlertDecision, AlertState};
use crate::domain::Scheme;
use crate::engine::history::AreaNow;
use crate::state::{AirState, EngineError};
use crate::store::{self, SubscriptionRow};

/// Most alert subscriptions per citizen.
pub const MAX_SUBSCRIPTIONS: usize = 20;

/// Where a subscription watches: a district's value, or the nearest fresh station to a place.
#[derive(Debug, Clone)]
pub enum Watch {
    /// A district code the city knows.
    District(String),
    /// A place (WGS-84).
    Place(LatLon),
}

/// A subscription to make, already checked field by field.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// Whose it is.
    pub citizen_id: String,
    /// What it watches.
    pub watch: Watch,
    /// The citizen's name for it.
    pub label: String,
    /// The scheme of its levels.
    pub scheme: Scheme,
    /// The level (2-6) that raises an alert.
    pub threshold_level: u8,
}

/// Why a subscription was not made.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// The citizen already holds [`MAX_SUBSCRIPTIONS`].
    #[error("at most {MAX_SUBSCRIPTIONS} alert subscriptions")]
    TooMany,
    /// The store failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<sqlx::Error> for SubscribeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Engine(e.into())
    }
}

impl AirState {
    /// Makes a subscription unless the citizen already holds the most allowed.
    #[tracing::instrument(skip_all, fields(citizen_id = %new.citizen_id))]
    pub async fn subscribe(&self, new: NewSubscription, now: i64) -> Result<SubscriptionRow, SubscribeError> {
        let existing = store::subscriptions_of(&self.db, &new.citizen_id).await?;
        if existing.len() >= MAX_SUBSCRIPTIONS {
            return Err(SubscribeError::TooMany);
        }
        let (district_code, place) = match new.watch {
            Watch::District(code) => (Some(code), None),
            Watch::Place(at) => (None, Some(at)),
        };
        let row = SubscriptionRow {
            id: city_platform::ids::new_id(),
            citizen_id: new.citizen_id,
            district_code,
            lat: place.map(|p| p.lat()),
            lon: place.map(|p| p.lon()),
            label: new.label,
            scheme: new.scheme.id().into(),
            threshold_level: i64::from(new.threshold_level),
            alerting: false,
            episode: 0,
            last_aqi: None,
            last_hour_end: None,
            raised_at: None,
            cleared_at: None,
            created_at: now,
        };
        store::insert_subscription(&self.db, &row).await?;
        tracing::info!(subscription_id = %row.id, "air: alert subscription {} made", row.id);
        Ok(row)
    }

    /// A citizen's subscriptions.
    pub async fn subscriptions_of(&self, citizen_id: &str) -> Result<Vec<SubscriptionRow>, EngineError> {
        Ok(store::subscriptions_of(&self.db, citizen_id).await?)
    }

    /// Removes one of a citizen's subscriptions; false when they hold none with this id.
    #[tracing::instrument(skip_all, fields(subscription_id = %id))]
    pub async fn unsubscribe(&self, id: &str, citizen_id: &str) -> Result<bool, EngineError> {
        Ok(store::delete_subscription(&self.db, id, citizen_id).await?)
    }
}

impl AirState {
    /// Evaluates every subscription against the current data; returns how many alerts changed.
    pub async fn evaluate_all(&self, now: i64) -> Result<u64, EngineError> {
        let stations: HashSet<String> = self.index().await?.all().iter().map(|s| s.code.clone()).collect();
        self.evaluate_alerts(&stations, now).await
    }

    /// Evaluates the subscriptions that `stations` can affect; returns how many alerts were raised or cleared.
    pub(crate) async fn evaluate_alerts(&self, stations: &HashSet<String>, now: i64) -> Result<u64, EngineError> {
        let subscriptions = store::all_subscriptions(&self.db).await?;
        if subscriptions.is_empty() {
            return Ok(0);
        }
        let index = self.index().await?;
        let districts: HashSet<&str> =
            stations.iter().filter_map(|c| index.get(c)).filter_map(|s| s.district_code.as_deref()).collect();
        let mut areas: HashMap<Scheme, Vec<(String, AreaNow)>> = HashMap::new();
        let mut changed = 0;
        for sub in subscriptions {
            let Ok(scheme) = Scheme::parse(&sub.scheme) else { continue };
            let (aqi, hour_end, place) = match (&sub.district_code, sub.lat, sub.lon) {
                (Some(code), _, _) => {
                    if !districts.contains(code.as_str()) {
                        continue;
                    }
                    let list = match areas.entry(scheme) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(e) => e.insert(self.areas_now(scheme, now).await?.1),
                    };
                    let Some(area) = list.iter().find(|(c, _)| c == code).map(|(_, a)| a) else { continue };
                    let (Some(aqi), Some(h)) = (area.report.as_ref().and_then(|r| r.aqi), area.hour_end) else {
                        continue;
                    };
                    let name = self.platform.districts.get(code).map(|d| (d.name_zh.clone(), d.name_en.clone()));
                    (aqi, h, name.unwrap_or_else(|| (code.clone(), code.clone())))
                }
                (None, Some(lat), Some(lon)) => {
                    let Some(at) = LatLon::new(lat, lon) else { continue };
                    let near = self.nearest(at, scheme, now).await?;
                    let Some(found) = &near.found else { continue };
                    let station = &near.index.all()[found.position as usize];
                    if !stations.contains(&station.code) {
                        continue;
                    }
                    let current = &found.answer.now;
                    let (Some(aqi), Some(h)) = (current.report.as_ref().and_then(|r| r.aqi), current.hour_end_ms)
                    else {
                        continue;
                    };
                    (aqi, h, (station.name.clone(), station.name.clone()))
                }
                _ => continue,
            };
            let level = u8::try_from(sub.threshold_level).unwrap_or(3);
            let state = AlertState { alerting: sub.alerting, raised_at: sub.raised_at };
            match alert::decide(scheme, level, state, aqi, now) {
                AlertDecision::Stay => {
                    if sub.last_aqi != Some(i64::from(aqi)) || sub.last_hour_end != Some(hour_end) {
                        store::note_aqi(&self.db, &sub.id, i64::from(aqi), hour_end).await?;
                    }
                }
                decision => {
                    let mut tx = self.db.begin_write().await?;
                    let raise = decision == AlertDecision::Raise;
                    let applied = if raise {
                        store::raise_alert(&mut tx, &sub.id, sub.episode, i64::from(aqi), hour_end, now).await?
                    } else {
                        store::clear_alert(&mut tx, &sub.id, sub.episode, i64::from(aqi), hour_end, now).await?
                    };
                    if applied {
                        let episode = if raise { sub.episode + 1 } else { sub.episode };
                        let payload = notification(&sub, scheme, raise, episode, aqi, hour_end, &place);
                        outbox::enqueue(&mut tx, "notify.requested", &payload).await?;
                        tx.commit().await?;
                        changed += 1;
                        let what = if raise { "raised" } else { "cleared" };
                        tracing::info!(subscription_id = %sub.id, district = ?sub.district_code, aqi, "air: alert {what} for subscription {}", sub.id);
                    } else {
                        // Another ingestion got there first; its notification stands.
                        tx.rollback().await?;
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// The `notify.requested` payload of an alert or all-clear; the id is stable per subscription and episode.
fn notification(
    sub: &store::SubscriptionRow,
    scheme: Scheme,
    raised: bool,
    episode: i64,
    aqi: u16,
    hour_end: i64,
    place: &(String, String),
) -> serde_json::Value {
    let category = scheme.category(aqi);
    let what = if raised { "raised" } else { "cleared" };
    let label = if sub.label.is_empty() { place.0.clone() } else { sub.label.clone() };
    let label_en = if sub.label.is_empty() { place.1.clone() } else { sub.label.clone() };
    let (title_zh, title_en, body_zh, body_en) = if raised {
        (
            format!("空气质量提醒：{label}{}", category.name_zh),
            format!("Air quality alert: {label_en} is {}", category.name_en.to_lowercase()),
            format!("{label}当前空气质量指数 {aqi}（{}）。{}", category.name_zh, category.advice_zh),
            format!("The air quality index at {label_en} is {aqi} ({}). {}", category.name_en, category.advice_en),
        )
    } else {
        (
            format!("空气质量好转：{label}",),
            format!("Air quality has improved: {label_en}"),
            format!("{label}当前空气质量指数 {aqi}（{}），已低于您设置的提醒级别。", category.name_zh),
            format!("The air quality index at {label_en} is {aqi} ({}), below your alert level.", category.name_en),
        )
    };
    serde_json::json!({
        "notification_id": format!("air:alert:{}:{episode}:{what}", sub.id),
        "citizen_id": sub.citizen_id,
        "kind": format!("air.alert_{what}"),
        "title_zh": title_zh,
        "title_en": title_en,
        "body_zh": body_zh,
        "body_en": body_en,
        "data": {
            "subscription_id": sub.id,
            "scheme": scheme.id(),
            "aqi": aqi,
            "level": category.level,
            "category_zh": category.name_zh,
            "category_en": category.name_en,
            "colour": category.colour.hex,
            "threshold_level": sub.threshold_level,
            "district_code": sub.district_code,
            "observed_at": rfc3339(from_ms(hour_end)),
        },
        "channels": ["miniprogram", "oa_template"],
    })
}
