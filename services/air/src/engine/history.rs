//! A station's history (the 24 hourly indices ending now, the daily indices of the last 30 days,
//! finished days rolled up once) and the district and city values of the latest hour.

use std::collections::{BTreeMap, HashMap};

use crate::domain::series::{daily_input, hourly_input, HourlySeries};
use crate::domain::{AqiReport, Concentration, Pollutant, ReportPeriod, Scheme};
use crate::hours::{city_day_label, city_day_start, hour_floor, series_by_station, DAY_MS, FRESH_MS, HOUR_MS};
use crate::index::IndexedStation;
use crate::state::{AirState, EngineError};
use crate::store::{self, StoredReading};

/// A district's or the city's value for one hour: the mean concentration of the contributing stations.
#[derive(Debug, Clone)]
pub struct AreaNow {
    /// End of the hour, UTC milliseconds (`None` without any fresh station).
    pub hour_end: Option<i64>,
    /// The index.
    pub report: Option<AqiReport>,
    /// Stations whose hour is in the mean.
    pub contributing: Vec<String>,
    /// Active stations of the area without data for that hour.
    pub missing: Vec<String>,
}

/// A station's history: hourly reports by hour end (UTC ms), then daily reports by Beijing date, oldest first.
pub type History = (Vec<(i64, AqiReport)>, Vec<(String, AqiReport)>);

impl AirState {
    /// Hourly reports of the 24 hours ending at the current hour (oldest first), and daily reports of the
    /// last 30 Beijing days including today (oldest first).
    #[tracing::instrument(skip_all, fields(station = %code, scheme = %scheme))]
    pub async fn history(&self, code: &str, scheme: Scheme, now: i64) -> Result<History, EngineError> {
        let end = hour_floor(now);
        let codes = [code.to_owned()];
        let recent = store::readings_between(&self.db, &codes, end - 2 * DAY_MS, end).await?;
        let series = series_by_station(&recent, end, 48).remove(code).unwrap_or_else(|| HourlySeries::empty(48));
        let hourly = (24..48)
            .map(|i| {
                let at = end - (47 - i as i64) * HOUR_MS;
                (at, AqiReport::compute(scheme, ReportPeriod::Hourly, &hourly_input(scheme, &series.ending_at(i + 1))))
            })
            .collect();

        let today = city_day_start(now);
        let first = today - 29 * DAY_MS;
        let stored: HashMap<String, String> =
            store::rollups(&self.db, code, &city_day_label(first), &city_day_label(today - DAY_MS))
                .await?
                .into_iter()
                .collect();
        let mut days: Vec<(i64, Option<HourlySeries>)> = (0..30)
            .map(|i| {
                let start = first + i * DAY_MS;
                (start, stored.get(&city_day_label(start)).and_then(|json| series_from_rollup(json)))
            })
            .collect();
        // Days without a rollup (and today, always) come from the hourly rows in one query.
        let missing: Vec<i64> = days.iter().filter(|(_, s)| s.is_none()).map(|(start, _)| *start).collect();
        if let (Some(&lo), Some(&hi)) = (missing.first(), missing.last()) {
            // Read before the rows, so a rollup is only stored if nothing changed under it.
            let fingerprint = store::readings_fingerprint(&self.db, code, lo, hi + DAY_MS).await?;
            let rows = store::readings_between(&self.db, &codes, lo, hi + DAY_MS).await?;
            for (start, slot) in days.iter_mut().filter(|(_, s)| s.is_none()) {
                let day_rows: Vec<StoredReading> =
                    rows.iter().filter(|r| r.hour_end > *start && r.hour_end <= *start + DAY_MS).cloned().collect();
                let day = series_by_station(&day_rows, *start + DAY_MS, 24)
                    .remove(code)
                    .unwrap_or_else(|| HourlySeries::empty(24));
                if *start + DAY_MS <= now - FRESH_MS {
                    // A finished day (allowing for late hours) is rolled up once.
                    let label = city_day_label(*start);
                    let range = (lo, hi + DAY_MS);
                    store::put_rollup(&self.db, code, &label, &rollup_json(&day), now, range, fingerprint).await?;
                }
                *slot = Some(day);
            }
        }
        let daily = days
            .into_iter()
            .map(|(start, day)| {
                let day = day.unwrap_or_else(|| HourlySeries::empty(24));
                (city_day_label(start), AqiReport::compute(scheme, ReportPeriod::Daily, &daily_input(scheme, &day)))
            })
            .collect();
        Ok((hourly, daily))
    }

    /// The value of each district and of the whole city for the latest hour with fresh data.
    pub async fn areas_now(&self, scheme: Scheme, now: i64) -> Result<(AreaNow, Vec<(String, AreaNow)>), EngineError> {
        let index = self.index().await?;
        let codes: Vec<String> = index.all().iter().map(|s| s.code.clone()).collect();
        let end = hour_floor(now + crate::ingest::FUTURE_TOLERANCE_MS);
        let readings = store::readings_between(&self.db, &codes, end - DAY_MS - FRESH_MS, end).await?;
        let latest = readings.iter().map(|r| r.hour_end).filter(|h| *h > now - FRESH_MS).max();
        let Some(last) = latest else {
            let empty =
                |members: Vec<String>| AreaNow { hour_end: None, report: None, contributing: vec![], missing: members };
            let districts = self
                .platform
                .districts
                .all()
                .iter()
                .map(|d| {
                    let members = index
                        .all()
                        .iter()
                        .filter(|s| s.district_code.as_deref() == Some(&d.code))
                        .map(|s| s.code.clone())
                        .collect();
                    (d.code.clone(), empty(members))
                })
                .collect();
            return Ok((empty(codes), districts));
        };
        let by_station = series_by_station(&readings, last, 24);
        let area = |members: Vec<&IndexedStation>| -> AreaNow {
            let (mut contributing, mut missing, mut series) = (Vec::new(), Vec::new(), Vec::new());
            for s in members {
                match by_station.get(&s.code).filter(|x| x.has_last_hour()) {
                    Some(x) => {
                        contributing.push(s.code.clone());
                        series.push(x);
                    }
                    None => missing.push(s.code.clone()),
                }
            }
            let report = (!series.is_empty()).then(|| {
                let mean = HourlySeries::mean_of(&series);
                AqiReport::compute(scheme, ReportPeriod::Hourly, &hourly_input(scheme, &mean))
            });
            AreaNow { hour_end: report.as_ref().map(|_| last), report, contributing, missing }
        };
        let city = area(index.all().iter().collect());
        let districts = self
            .platform
            .districts
            .all()
            .iter()
            .map(|d| {
                let members = index.all().iter().filter(|s| s.district_code.as_deref() == Some(&d.code)).collect();
                (d.code.clone(), area(members))
            })
            .collect();
        Ok((city, districts))
    }
}

pub(crate) fn rollup_json(day: &HourlySeries) -> String {
    let map: BTreeMap<&str, Vec<Option<String>>> = Pollutant::ALL
        .iter()
        .map(|p| (p.code(), day.of(*p).iter().map(|v| v.map(|v| v.to_string())).collect()))
        .collect();
    serde_json::to_string(&map).unwrap_or_default()
}

pub(crate) fn series_from_rollup(json: &str) -> Option<HourlySeries> {
    let map: BTreeMap<String, Vec<Option<String>>> = serde_json::from_str(json).ok()?;
    let mut day = HourlySeries::empty(24);
    for (code, values) in map {
        let Ok(p) = Pollutant::parse(&code) else { continue };
        for (i, v) in values.iter().enumerate() {
            if let Some(c) = v.as_deref().and_then(|t| Concentration::parse(t).ok()) {
                day.set(p, i, c);
            }
        }
    }
    Some(day)
}
