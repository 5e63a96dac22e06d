//! The demo city's air, as a pure function of (station, district, hour): what the demo feed
//! sends for each hour. Deterministic, so a run is reproducible and a restart sends the very
//! values it would have sent had it never stopped.
//!
//! Loosely shaped on Chengdu's published hourly data: PM2.5 high in winter with multi-day
//! stagnation episodes and a morning and late-evening peak; NO2 and CO with the rush hours and
//! weekdays; ozone peaking mid-afternoon, far higher in summer and on clear days; SO2 low.
//! Stations of one district share a district factor, and the whole city shares the weather.
//! A plausible picture for a demo, not a forecast.

use std::f64::consts::PI;

use chrono::{Datelike, Timelike, Weekday};
use city_platform::time::{from_ms, CITY_TZ};

use crate::domain::Pollutant;
use crate::hours::HOUR_MS;

/// Where a reading is taken: the station, and the district whose stations move together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Station code.
    pub station: String,
    /// District code (empty when the station is outside every district).
    pub district: String,
}

/// One simulated hourly value, as decimal text in the Chinese standard's unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The pollutant.
    pub pollutant: Pollutant,
    /// The value, e.g. `58` (μg/m³) or `0.9` (CO, mg/m³).
    pub value: String,
}

/// The six values of `site` for the hour ending at `hour_end` (UTC ms, a whole hour).
pub fn sample(site: &Site, hour_end: i64) -> [Sample; 6] {
    let idx = hour_end.div_euclid(HOUR_MS);
    let local = from_ms(hour_end - HOUR_MS / 2).with_timezone(&CITY_TZ);
    let h = f64::from(local.hour()) + 0.5;
    // +1 in mid-January, -1 in mid-July.
    let season = (2.0 * PI * (f64::from(local.ordinal()) - 15.0) / 365.25).cos();
    let (winter, summer) = (season.max(0.0), (-season).max(0.0));
    let weekday = !matches!(local.weekday(), Weekday::Sat | Weekday::Sun);

    // The city's weather: slow (30 h knots) and faster (11 h) stagnation, mean about 0.5.
    let city = key("city");
    let w = 0.6 * smooth(city, idx, 30) + 0.4 * smooth(city ^ 1, idx, 11);
    // A stagnation episode is the top of the weather's range; it matters most in winter.
    let episode = ((w - 0.55) / 0.45).max(0.0);
    let district = 0.8 + 0.4 * smooth(key(&site.district), idx, 6);
    let station = key(&site.station);
    let local_noise = |salt: u64| 0.9 + 0.2 * unit(station ^ salt, idx);

    let pm_diurnal = 1.0 + 0.18 * bump(h, 9.0, 2.5) + 0.25 * bump(h, 22.0, 2.5) - 0.22 * bump(h, 15.0, 3.0);
    let pm25 = (28.0 + 40.0 * winter)
        * (0.45 + 1.1 * w)
        * (1.0 + 2.2 * episode * (0.3 + winter))
        * pm_diurnal
        * if weekday { 1.03 } else { 0.95 }
        * district
        * local_noise(11);
    let pm10 = pm25 * (1.4 + 0.4 * smooth(key("dust"), idx, 24)) + 8.0 * local_noise(12);
    let rush = 1.0 + 0.5 * bump(h, 8.0, 1.5) + 0.6 * bump(h, 19.0, 2.0) - 0.3 * bump(h, 14.0, 3.0);
    let no2 = (22.0 + if weekday { 10.0 } else { 0.0 }) * (0.6 + 0.8 * w) * rush * district * local_noise(13);
    let co = 0.3 + 0.006 * pm25 + 0.004 * no2 * local_noise(14);
    let so2 = (4.0 + 5.0 * smooth(key("so2") ^ station, idx, 12)) * district;
    // Sunshine makes ozone in the afternoon; evening traffic eats it again.
    let peak = (50.0 + 170.0 * summer) * (1.15 - w).max(0.1);
    let o3 =
        ((18.0 + 15.0 * (1.0 - w)) + peak * bump(h, 15.0, 3.0)) * (1.0 - 0.35 * bump(h, 22.0, 2.0)) * local_noise(15);

    let whole = |v: f64| format!("{}", v.round().max(1.0) as u32);
    [
        Sample { pollutant: Pollutant::Pm25, value: whole(pm25) },
        Sample { pollutant: Pollutant::Pm10, value: whole(pm10) },
        Sample { pollutant: Pollutant::So2, value: whole(so2) },
        Sample { pollutant: Pollutant::No2, value: whole(no2) },
        Sample { pollutant: Pollutant::Co, value: format!("{:.1}", co.max(0.1)) },
        Sample { pollutant: Pollutant::O3, value: whole(o3) },
    ]
}

/// A Gaussian bump centred on `centre` o'clock, wrapping around midnight.
fn bump(hour: f64, centre: f64, width: f64) -> f64 {
    let d = (hour - centre).abs();
    let d = d.min(24.0 - d);
    (-(d * d) / (2.0 * width * width)).exp()
}

/// FNV-1a of a text: a stable key (the standard library's hasher may change between releases).
fn key(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The splitmix64 finaliser: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform value in [0, 1) for (`k`, `i`).
fn unit(k: u64, i: i64) -> f64 {
    (mix(k ^ mix(i as u64)) >> 11) as f64 / (1_u64 << 53) as f64
}

/// Smooth noise in [0, 1): a value every `period` hours, eased in between.
fn smooth(k: u64, hour: i64, period: i64) -> f64 {
    let i = hour.div_euclid(period);
    let f = hour.rem_euclid(period) as f64 / period as f64;
    let (a, b) = (unit(k, i), unit(k, i + 1));
    a + (b - a) * (1.0 - (f * PI).cos()) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Averaging, Concentration, Scheme};

    /// 2026-12-03T00:00:00Z, a winter day.
    const WINTER: i64 = 1_796_256_000_000;
    /// 2026-07-15T00:00:00Z.
    const SUMMER: i64 = 1_784_073_600_000;

    fn site(station: &str, district: &str) -> Site {
        Site { station: station.into(), district: district.into() }
    }

    fn value(site: &Site, hour_end: i64, p: Pollutant) -> f64 {
        let s = sample(site, hour_end).into_iter().find(|s| s.pollutant == p).unwrap();
        s.value.parse().unwrap()
    }

    fn hours(from: i64, n: i64) -> impl Iterator<Item = i64> {
        (1..=n).map(move |i| from + i * HOUR_MS)
    }

    #[test]
    fn the_same_hour_always_gives_the_same_values() {
        let s = site("1431A", "510106");
        assert_eq!(sample(&s, WINTER), sample(&s, WINTER));
        assert_ne!(sample(&s, WINTER), sample(&s, WINTER + HOUR_MS));
    }

    #[test]
    fn every_value_passes_the_feed_checks() {
        let s = site("1431A", "510106");
        for at in hours(WINTER - 400 * 24 * HOUR_MS, 400 * 24).step_by(7) {
            for v in sample(&s, at) {
                let c = Concentration::parse(&v.value).unwrap();
                assert!(
                    c > Concentration::ZERO && c < Concentration::from_u16(crate::ingest::plausible_max(v.pollutant))
                );
            }
        }
    }

    #[test]
    fn a_winter_month_of_pm25_crosses_several_levels() {
        let s = site("1437A", "510105");
        let mut levels = std::collections::BTreeSet::new();
        for at in hours(WINTER - 30 * 24 * HOUR_MS, 30 * 24) {
            let c = Concentration::parse(&sample(&s, at)[0].value).unwrap();
            let iaqi = Scheme::Cn2026.iaqi(Pollutant::Pm25, Averaging::TwentyFourHourMoving, c).value().unwrap();
            levels.insert(match iaqi {
                0..=50 => 1,
                51..=100 => 2,
                101..=150 => 3,
                151..=200 => 4,
                _ => 5,
            });
        }
        assert!(levels.len() >= 3, "PM2.5 levels over the month: {levels:?}");
    }

    #[test]
    fn summer_afternoons_bring_ozone_and_winter_brings_pm25() {
        let s = site("1433A", "510107");
        let mean = |from: i64, p: Pollutant, local_hour: i64| {
            let days = 30;
            let total: f64 =
                (0..days).map(|d| value(&s, from + d * 24 * HOUR_MS + (local_hour - 8 + 1) * HOUR_MS, p)).sum();
            total / days as f64
        };
        assert!(mean(SUMMER, Pollutant::O3, 15) > 2.0 * mean(SUMMER, Pollutant::O3, 4));
        assert!(mean(SUMMER, Pollutant::O3, 15) > mean(WINTER, Pollutant::O3, 15));
        assert!(mean(WINTER, Pollutant::Pm25, 9) > 1.5 * mean(SUMMER, Pollutant::Pm25, 9));
    }

    #[test]
    fn stations_of_a_district_move_together_more_than_across_districts() {
        let corr = |a: &Site, b: &Site| {
            let xs: Vec<(f64, f64)> = hours(WINTER - 60 * 24 * HOUR_MS, 60 * 24)
                .map(|at| (value(a, at, Pollutant::No2).ln(), value(b, at, Pollutant::No2).ln()))
                .collect();
            let n = xs.len() as f64;
            let (ma, mb) = (xs.iter().map(|x| x.0).sum::<f64>() / n, xs.iter().map(|x| x.1).sum::<f64>() / n);
            let cov: f64 = xs.iter().map(|x| (x.0 - ma) * (x.1 - mb)).sum();
            let va: f64 = xs.iter().map(|x| (x.0 - ma).powi(2)).sum();
            let vb: f64 = xs.iter().map(|x| (x.1 - mb).powi(2)).sum();
            cov / (va * vb).sqrt()
        };
        let (a, b, c) = (site("1431A", "510106"), site("1435A", "510106"), site("2881A", "510112"));
        assert!(corr(&a, &b) > corr(&a, &c), "{} vs {}", corr(&a, &b), corr(&a, &c));
    }
}
