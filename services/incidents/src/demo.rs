//! The demo's reports (issue #25): a few hundred reports over the districts and categories, in
//! every state with the history a clerk would have left (the catalogue's public answers, the
//! assignment), some with photos drawn here, so the map has pins at street zoom and clusters
//! city-wide, and the clerks' queue has work in it.
//!
//! Demo profile only, with `seed_demo_data` and `demo_activity`. Written once: the reports are
//! filed by one demo reporter, and a store that already has that reporter's reports is left
//! alone, so a restart adds nothing. Pins and texts are the same on every first start; times
//! are relative to it.

use std::collections::BTreeMap;
use std::io::Cursor;

use city_platform::config::Profile;
use city_platform::coords::LatLon;
use city_platform::ids::new_id;
use city_platform::time::Clock;
use image::{ImageFormat, Rgb, RgbImage};

use crate::domain::grid;
use crate::domain::report::MODERATION_PASS;
use crate::domain::{access, Report, ReportId, State, Update};
use crate::reports::uploads;
use crate::store::{self, StoreError};
use crate::IncidentsState;

/// How many reports the demo files.
pub const REPORTS: usize = 320;
/// The demo reporter (not a real citizen: nobody signs in as it, nothing is sent to it).
pub const REPORTER: &str = "demo-reporter";
/// One report in this many has a photo.
const PHOTO_ONE_IN: usize = 8;
/// The clerks named on assigned reports.
const CLERKS: [(&str, &str); 4] =
    [("demo-clerk-1", "王芳"), ("demo-clerk-2", "李强"), ("demo-clerk-3", "陈静"), ("demo-clerk-4", "张伟")];
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// Why the demo reports were not written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A drawn photo was refused or not stored.
    #[error(transparent)]
    Upload(#[from] crate::reports::UploadError),
}

/// Whether these settings want the demo reports.
pub fn enabled(settings: &city_platform::Settings) -> bool {
    settings.profile == Profile::Demo && settings.seed_demo_data && settings.demo_activity
}

/// At start: the demo reports, when the settings want them and the store has none yet, then
/// their photos in the background (drawing and re-encoding them takes seconds in a debug build,
/// which the portal's readiness should not wait for).
pub async fn start(state: &std::sync::Arc<IncidentsState>) {
    if !enabled(&state.platform.settings) {
        return;
    }
    let started = std::time::Instant::now();
    match seed(state, &Clock::system()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(n, ms = started.elapsed().as_millis() as u64, "incidents: demo reports filed"),
        Err(e) => tracing::warn!(error = %e, "incidents: demo reports not filed"),
    }
    let state = state.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        match attach_photos(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, ms = started.elapsed().as_millis() as u64, "incidents: demo photos attached"),
            Err(e) => tracing::warn!(error = %e, "incidents: demo photos not attached; the next start tries again"),
        }
    });
}

/// Draws and attaches the photo of every demo report that has a photo counted but none
/// attached yet (all of them after a first start; none after a complete one). Each photo goes
/// through the upload use case, so it is checked and re-encoded as a citizen's would be.
pub async fn attach_photos(state: &IncidentsState) -> Result<usize, DemoError> {
    let mut attached = 0;
    for (i, r) in store::mine(&state.db.pool, REPORTER, 10_000).await?.into_iter().enumerate() {
        if r.n_photos == 0 || !store::report_photos(&state.db.pool, &r.id).await?.is_empty() {
            continue;
        }
        let up = uploads::upload(state, REPORTER, draw(cat_code(&r.category), i as u64)).await?;
        let mut tx = state.db.begin_write().await.map_err(StoreError::from)?;
        attached += store::attach_photos(&mut tx, std::slice::from_ref(&up.id), REPORTER, &r.id).await? as usize;
        tx.commit().await.map_err(StoreError::from)?;
    }
    Ok(attached)
}

/// Files the demo reports unless they are there already. Returns how many were written.
#[tracing::instrument(skip_all)]
pub async fn seed(state: &IncidentsState, clock: &Clock) -> Result<usize, DemoError> {
    if !store::mine(&state.db.pool, REPORTER, 1).await?.is_empty() {
        return Ok(0);
    }
    let now = clock.now_ms();
    let mut rng = Rng(0x2025_1203);
    let mut planned: Vec<(Report, Vec<Update>)> = Vec::with_capacity(REPORTS);
    while planned.len() < REPORTS {
        let i = planned.len();
        // Denser downtown, as real reports are; every fifth near an earlier one, as neighbours report alike.
        let (lat, lon) = match (i % 5, planned.get(i.saturating_sub(7))) {
            (4, Some((near, _))) => (near.lat + rng.spread(0.0008), near.lon + rng.spread(0.0008)),
            _ if rng.next() < 0.65 => (30.60 + rng.next() * 0.11, 104.00 + rng.next() * 0.13),
            _ => (30.50 + rng.next() * 0.30, 103.88 + rng.next() * 0.36),
        };
        let Some(district) = LatLon::new(lat, lon).and_then(|p| state.platform.districts.locate(p)) else { continue };
        let district = (district.code.clone(), district.name_zh.clone());
        // The demo fills the public map: police categories (private) are left out.
        let public: Vec<_> = state.catalogue.public_categories().collect();
        let cat = public[rng.below(public.len())];
        let Some(agency) = state.catalogue.route(&cat.code, &district.0).cloned() else { continue };
        let age = (rng.next().powf(1.6) * 60.0 * DAY_MS as f64) as i64 + rng.below(6) as i64 * HOUR_MS;
        let created = now - age - HOUR_MS;
        let final_state = pick_state(age, rng.next());
        let (description, street) = text(&cat.code, rng.below(4));
        let held = i % 53 == 17;
        let mut report = Report {
            id: ReportId::new(),
            citizen_id: Some(REPORTER.into()),
            reporter_name: (rng.next() < 0.4).then(|| ["王先生", "刘女士", "赵同学", "Mr. Chen"][rng.below(4)].into()),
            anonymous: rng.next() < 0.3,
            channel: "miniprogram".into(),
            contact: None,
            category: cat.code.clone(),
            agency: agency.id.clone(),
            district: district.0.clone(),
            state: State::Open.code().into(),
            description: description.into(),
            address: format!("{}{}{}号附近", district.1, street, 1 + rng.below(300)),
            attributes: "{}".into(),
            lat,
            lon,
            orig_crs: "wgs84".into(),
            orig_lat: lat,
            orig_lon: lon,
            moderation: if held { "review".into() } else { MODERATION_PASS.into() },
            assignee_id: None,
            assignee_name: None,
            duplicate_of: None,
            n_photos: 0,
            n_followers: 0,
            version: 1,
            created_at: created,
            updated_at: created,
            due_at: created + cat.sla_hours * HOUR_MS,
            closed_at: None,
        };
        let mut history = vec![Update {
            id: new_id(),
            at: created,
            kind: "created".into(),
            state_from: None,
            state_to: Some(State::Open.code().into()),
            text_zh: "提交报告".into(),
            text_en: "Report submitted".into(),
            staff_id: None,
            staff_name: None,
        }];
        if let Some(t) =
            state.catalogue.templates_for(State::Open.code(), &cat.code).into_iter().find(|t| t.auto_response)
        {
            let (zh, en) = t.render(&agency);
            history.push(Update {
                id: new_id(),
                kind: "public".into(),
                text_zh: zh,
                text_en: en,
                state_to: None,
                ..history[0].clone()
            });
        }
        let steps = path(final_state);
        let span = (age * 4 / 5).max(HOUR_MS);
        let clerk = CLERKS[rng.below(CLERKS.len())];
        for (k, to) in steps.iter().enumerate() {
            let at = created + span * (k as i64 + 1) / steps.len() as i64;
            let mut u = Update {
                id: new_id(),
                at,
                kind: "internal".into(),
                state_from: Some(report.state.clone()),
                state_to: Some(to.code().into()),
                text_zh: String::new(),
                text_en: String::new(),
                staff_id: Some(clerk.0.into()),
                staff_name: Some(clerk.1.into()),
            };
            if let Some(t) = state.catalogue.templates_for(to.code(), &cat.code).into_iter().next() {
                (u.text_zh, u.text_en) = t.render(&agency);
                u.kind = "public".into();
            }
            if *to == State::Duplicate {
                if let Some((original, _)) =
                    planned.iter().rev().find(|(r, _)| r.category == cat.code && r.duplicate_of.is_none())
                {
                    report.duplicate_of = Some(original.id.clone());
                    u.text_en = format!("{} (report {})", u.text_en, original.id);
                    u.text_zh = format!("{}（原报告 {}）", u.text_zh, original.id);
                } else {
                    continue;
                }
            }
            history.push(u);
            report.state = to.code().into();
            report.version += 1;
            report.updated_at = at;
            if *to == State::Confirmed {
                report.assignee_id = Some(clerk.0.into());
                report.assignee_name = Some(clerk.1.into());
                report.version += 1;
                history.push(Update {
                    id: new_id(),
                    kind: "internal".into(),
                    state_from: None,
                    state_to: None,
                    text_zh: format!("已分派给 {}", clerk.1),
                    text_en: format!("Assigned to {}", clerk.1),
                    ..history[history.len() - 1].clone()
                });
            }
            if !to.is_open() {
                report.closed_at = Some(at);
            }
        }
        // Counted now, drawn and attached by `attach_photos`.
        if i % PHOTO_ONE_IN == 3 && !held {
            report.n_photos = 1;
        }
        planned.push((report, history));
    }

    let mut counts = BTreeMap::new();
    let mut tx = state.db.begin_write().await.map_err(StoreError::from)?;
    for (report, history) in &planned {
        store::insert_report(&mut tx, report).await?;
        for u in history {
            store::insert_update(&mut tx, &report.id, u).await?;
        }
        grid::add_entry(&mut counts, access::on_map(report).as_ref(), 1);
    }
    store::add_counts(&mut tx, &counts).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(REPORTS)
}

/// The state a report of `age` has reached: recent ones are new, older ones mostly answered.
fn pick_state(age: i64, roll: f64) -> State {
    let days = age / DAY_MS;
    let table: &[(f64, State)] = match days {
        0..=1 => &[(0.7, State::Open), (0.9, State::Confirmed), (1.0, State::Investigating)],
        2..=9 => &[
            (0.15, State::Open),
            (0.35, State::Confirmed),
            (0.5, State::Investigating),
            (0.65, State::ActionScheduled),
            (0.85, State::InProgress),
            (0.93, State::Fixed),
            (0.97, State::Duplicate),
            (1.0, State::NotResponsible),
        ],
        _ => &[
            (0.05, State::InProgress),
            (0.6, State::Fixed),
            (0.75, State::Closed),
            (0.85, State::NoFurtherAction),
            (0.93, State::NotResponsible),
            (1.0, State::Duplicate),
        ],
    };
    table.iter().find(|(p, _)| roll < *p).map_or(State::Fixed, |(_, s)| *s)
}

/// The steps a clerk took to reach `state` from new.
fn path(state: State) -> Vec<State> {
    use State::*;
    match state {
        Open => vec![],
        Confirmed => vec![Confirmed],
        Investigating => vec![Confirmed, Investigating],
        ActionScheduled => vec![Confirmed, ActionScheduled],
        InProgress => vec![Confirmed, ActionScheduled, InProgress],
        Fixed => vec![Confirmed, InProgress, Fixed],
        Closed => vec![Confirmed, Closed],
        NoFurtherAction => vec![Confirmed, Investigating, NoFurtherAction],
        NotResponsible => vec![NotResponsible],
        Duplicate => vec![Duplicate],
    }
}

fn cat_code(code: &str) -> &'static str {
    match code {
        "pothole" => "pothole",
        "streetlight" => "streetlight",
        "dumping" => "dumping",
        "water_leak" => "water_leak",
        _ => "other",
    }
}

/// A description (Chinese with English, as the Mini Program's bilingual users write) and a street.
fn text(category: &str, variant: usize) -> (&'static str, &'static str) {
    const STREETS: [&str; 4] = ["人民南路", "蜀都大道", "建设路", "一环路"];
    let street = STREETS[variant % STREETS.len()];
    let description = match (category, variant % 4) {
        ("pothole", 0) => {
            "路面有一个大坑，雨天积水，电动车经过很危险。A deep pothole fills with rain; scooters swerve around it."
        }
        ("pothole", 1) => "井盖周边路面塌陷，车辆颠簸。The road has sunk around a manhole cover.",
        ("pothole", 2) => "人行道地砖松动翘起，老人容易绊倒。Loose paving stones on the pavement.",
        ("pothole", _) => "公交站前路面破损严重。The road surface in front of the bus stop is broken up.",
        ("streetlight", 0) => "这一段路灯晚上全部不亮，行人很不安全。The whole row of street lights is out at night.",
        ("streetlight", 1) => "路灯白天也亮着，浪费电。A street light stays on all day.",
        ("streetlight", 2) => "路灯一直闪烁。A street light keeps flickering.",
        ("streetlight", _) => "小区门口路灯灯罩脱落。The cover of a lamp has fallen off.",
        ("dumping", 0) => "路边有人倾倒建筑垃圾，堆了好几天。Building rubble dumped by the road for days.",
        ("dumping", 1) => "绿化带里有大量生活垃圾。Household rubbish thrown into the green belt.",
        ("dumping", 2) => "旧沙发和床垫被丢在人行道上。An old sofa and mattress left on the pavement.",
        ("dumping", _) => "河边有垃圾堆积，有异味。Rubbish piling up by the river; it smells.",
        ("water_leak", 0) => "路面冒水，水流到马路上。Water is bubbling up through the road.",
        ("water_leak", 1) => "消防栓漏水。A fire hydrant is leaking.",
        ("water_leak", 2) => "人行道下水管破裂，地面一直是湿的。A burst pipe under the pavement keeps it wet.",
        ("water_leak", _) => "小区外墙水管滴水不止。A pipe on an outer wall drips constantly.",
        (_, 0) => "夜间施工噪音很大，影响休息。Loud construction work late at night.",
        (_, 1) => "广场舞音响声音太大。The music for square dancing is far too loud.",
        (_, 2) => "商铺门口喇叭整天循环播放。A shop's loudspeaker plays all day.",
        (_, _) => "凌晨有车辆反复鸣笛。Cars honking repeatedly in the small hours.",
    };
    (description, street)
}

/// A small picture of the problem, drawn for the demo (PNG, 320×240).
pub fn draw(category: &str, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (w, h) = (320_u32, 240_u32);
    let mut img = RgbImage::new(w, h);
    let grain = |rng: &mut Rng, c: [u8; 3], amount: f64| {
        let d = (rng.next() - 0.5) * amount;
        Rgb(c.map(|v| (f64::from(v) + d).clamp(0.0, 255.0) as u8))
    };
    for (x, y, p) in img.enumerate_pixels_mut() {
        let base = match category {
            "streetlight" => {
                let t = f64::from(y) / f64::from(h);
                [(20.0 + 30.0 * t) as u8, (24.0 + 30.0 * t) as u8, (60.0 + 40.0 * t) as u8]
            }
            "dumping" if y > h / 2 => [70, 120, 60],
            "dumping" => [150, 170, 190],
            "other" => [180, 170, 150],
            _ if (x / 40) % 2 == 0 && y.abs_diff(h / 3) < 3 => [230, 230, 230],
            _ => [95, 95, 100],
        };
        *p = grain(&mut rng, base, 24.0);
    }
    let ellipse = |img: &mut RgbImage, cx: f64, cy: f64, rx: f64, ry: f64, c: [u8; 3]| {
        let (x0, x1) = ((cx - rx).max(0.0) as u32, ((cx + rx) as u32 + 1).min(w));
        let (y0, y1) = ((cy - ry).max(0.0) as u32, ((cy + ry) as u32 + 1).min(h));
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = ((f64::from(x) - cx) / rx, (f64::from(y) - cy) / ry);
                if dx * dx + dy * dy <= 1.0 {
                    img.put_pixel(x, y, Rgb(c));
                }
            }
        }
    };
    let rect = |img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, c: [u8; 3]| {
        for y in y0..y1.min(h) {
            for x in x0..x1.min(w) {
                img.put_pixel(x, y, Rgb(c));
            }
        }
    };
    match category {
        "pothole" => {
            let (cx, cy) = (110.0 + rng.next() * 100.0, 140.0 + rng.next() * 40.0);
            ellipse(&mut img, cx, cy, 70.0, 34.0, [45, 42, 40]);
            ellipse(&mut img, cx + 8.0, cy + 6.0, 40.0, 16.0, [70, 90, 110]);
        }
        "streetlight" => {
            rect(&mut img, 150, 40, 160, 240, [40, 40, 45]);
            rect(&mut img, 150, 40, 210, 48, [40, 40, 45]);
            ellipse(&mut img, 205.0, 54.0, 16.0, 8.0, [70, 70, 60]);
        }
        "dumping" => {
            for _ in 0..9 {
                let (x, y) = (40 + rng.below(220) as u32, 120 + rng.below(80) as u32);
                let c = [[30, 30, 35], [200, 200, 190], [150, 90, 50], [60, 90, 160]][rng.below(4)];
                rect(&mut img, x, y, x + 30 + rng.below(30) as u32, y + 20 + rng.below(25) as u32, c);
            }
        }
        "water_leak" => {
            ellipse(&mut img, 160.0, 170.0, 120.0, 40.0, [60, 100, 150]);
            rect(&mut img, 0, 200, 320, 212, [90, 70, 60]);
            ellipse(&mut img, 150.0 + rng.next() * 20.0, 200.0, 10.0, 6.0, [150, 190, 230]);
        }
        _ => {
            for row in 0..4 {
                for col in 0..6 {
                    let lit = if rng.next() < 0.5 { [240, 220, 140] } else { [60, 70, 80] };
                    rect(&mut img, 20 + col * 50, 20 + row * 52, 52 + col * 50, 56 + row * 52, lit);
                }
            }
        }
    }
    let mut out = Cursor::new(Vec::new());
    // Encoding an in-memory RGB image as PNG cannot fail short of running out of memory.
    let _ = img.write_to(&mut out, ImageFormat::Png);
    out.into_inner()
}

/// xorshift64*: the same demo on every first start, with no dependency for it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1_u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        ((self.next() * n as f64) as usize).min(n.saturating_sub(1))
    }

    fn spread(&mut self, by: f64) -> f64 {
        (self.next() - 0.5) * 2.0 * by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_is_reachable_along_a_path_the_workflow_allows() {
        for s in State::ALL {
            let mut at = State::Open;
            for to in path(s) {
                assert!(to == State::Duplicate || at.may_become(to), "{at:?} -> {to:?}");
                at = to;
            }
            assert_eq!(at, s);
        }
    }

    struct Pass;

    #[async_trait::async_trait]
    impl crate::safety::ContentSafety for Pass {
        async fn check(&self, _: &str, _: &str) -> Result<crate::safety::Verdict, crate::safety::SafetyError> {
            Ok(crate::safety::Verdict::Pass)
        }
    }

    #[tokio::test]
    async fn the_demo_reports_cover_every_state_with_answers_and_photos_once() {
        let t = city_platform::testing::test_platform().await;
        let db = city_platform::Db::open(&t.platform.settings, crate::NAME, &crate::MIGRATOR).await.unwrap();
        t.track(&db);
        let state = IncidentsState {
            db,
            platform: t.platform.clone(),
            catalogue: crate::domain::Catalogue::demo().unwrap(),
            safety: std::sync::Arc::new(Pass),
        };
        let clock = Clock::system();
        let started = std::time::Instant::now();
        assert_eq!(seed(&state, &clock).await.unwrap(), REPORTS);
        eprintln!("{REPORTS} demo reports filed in {} ms ({:?})", started.elapsed().as_millis(), state.db.backend);
        assert_eq!(seed(&state, &clock).await.unwrap(), 0, "a restart adds nothing");

        let all = store::mine(&state.db.pool, REPORTER, 10_000).await.unwrap();
        assert_eq!(all.len(), REPORTS);
        for s in State::ALL {
            assert!(all.iter().any(|r| r.state == s.code()), "no report in state {s:?}");
        }
        let districts: std::collections::BTreeSet<&str> = all.iter().map(|r| r.district.as_str()).collect();
        assert_eq!(districts.len(), 10, "{districts:?}");
        let counted = all.iter().filter(|r| r.n_photos > 0).count();
        assert!(counted >= 30, "{counted}");
        let started = std::time::Instant::now();
        assert_eq!(attach_photos(&state).await.unwrap(), counted);
        eprintln!("{counted} demo photos attached in {} ms", started.elapsed().as_millis());
        assert_eq!(attach_photos(&state).await.unwrap(), 0, "a restart draws nothing again");
        assert!(all.iter().any(|r| r.assignee_name.is_some() && r.state == State::Confirmed.code()));
        let fixed = all.iter().find(|r| r.state == State::Fixed.code()).unwrap();
        let public = store::updates(&state.db.pool, &fixed.id, false).await.unwrap();
        assert!(public.iter().any(|u| u.state_to.as_deref() == Some("fixed") && !u.text_zh.is_empty()), "{public:?}");
        let with_photo = all.iter().find(|r| r.n_photos > 0).unwrap();
        assert_eq!(store::report_photos(&state.db.pool, &with_photo.id).await.unwrap().len(), 1);
        t.cleanup().await;
    }

    #[test]
    fn drawn_photos_are_images_the_upload_accepts() {
        for c in ["pothole", "streetlight", "dumping", "water_leak", "other"] {
            let png = draw(c, 7);
            assert!(crate::photos::process(&png).is_ok(), "{c}");
        }
    }
}
