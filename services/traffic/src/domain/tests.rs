use city_platform::coords::LatLon;

use super::{Directory, Route, RouteError, SeedError};

const CAMERAS: &str = r#"{"operator": {"id": "op", "name_zh": "交警", "name_en": "Traffic police"},
  "cameras": [
    {"id": "A", "name_zh": "甲", "name_en": "A", "road_zh": "路", "road_en": "Road", "direction": "northbound",
     "lat": 30.6000, "lon": 104.0600, "snapshot_url": "https://x/A.jpg"},
    {"id": "B", "name_zh": "乙", "name_en": "B", "road_zh": "路", "road_en": "Road", "direction": "southbound",
     "lat": 30.6100, "lon": 104.0600, "snapshot_url": "https://x/B.jpg", "stream_url": "https://x/B.m3u8"},
    {"id": "C", "name_zh": "丙", "name_en": "C", "road_zh": "路", "road_en": "Road", "direction": "all_directions",
     "lat": 30.6050, "lon": 104.0700, "snapshot_url": "https://x/C.jpg"}
  ]}"#;
const STATIONS: &str = r#"{"stations": [
    {"id": "n", "name_zh": "北站", "name_en": "North", "address_zh": "北", "lat": 30.70, "lon": 104.07, "tickets_url": "https://t/n"},
    {"id": "s", "name_zh": "南站", "name_en": "South", "address_zh": "南", "lat": 30.58, "lon": 104.06, "tickets_url": "https://t/s"}
  ]}"#;

fn directory() -> Directory {
    Directory::parse(CAMERAS, STATIONS).unwrap()
}

fn at(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon).unwrap()
}

fn ids<T>(found: &[super::Found<'_, T>], id: impl Fn(&T) -> &str) -> Vec<String> {
    found.iter().map(|f| id(f.item).to_owned()).collect()
}

#[test]
fn cameras_near_a_point_come_nearest_first_and_stop_at_the_radius() {
    let d = directory();
    // 30.6010 is ~111 m north of A, ~1000 m south of B; C is ~1056 m away to the north-east.
    let near = d.cameras_near(at(30.6010, 104.0600), 1100.0);
    assert_eq!(ids(&near, |c| &c.id), ["A", "B", "C"]);
    assert!(near.windows(2).all(|w| w[0].distance_m <= w[1].distance_m));
    assert!((near[0].distance_m - 111.2).abs() < 1.0, "{}", near[0].distance_m);
    let close = d.cameras_near(at(30.6010, 104.0600), 500.0);
    assert_eq!(ids(&close, |c| &c.id), ["A"]);
}

#[test]
fn cameras_along_a_route_come_in_the_order_they_are_passed() {
    let d = directory();
    // Driving south along lon 104.0601 from B's latitude to A's: B first, then A; C is ~960 m off.
    let route = Route::parse(&[at(30.6110, 104.0601), at(30.5990, 104.0601)]).unwrap();
    let along = d.cameras_along(&route, 100.0);
    assert_eq!(ids(&along, |c| &c.id), ["B", "A"]);
    assert!(along.iter().all(|f| f.distance_m <= 100.0 && f.distance_m > 5.0));
    let b_along = along[0].along_m.unwrap();
    assert!((b_along - 111.2).abs() < 2.0, "B lies ~111 m from the start: {b_along}");
    // The same road driven north passes them the other way round.
    let back = Route::parse(&[at(30.5990, 104.0601), at(30.6110, 104.0601)]).unwrap();
    assert_eq!(ids(&d.cameras_along(&back, 100.0), |c| &c.id), ["A", "B"]);
}

#[test]
fn a_bent_route_measures_from_its_start_through_each_leg() {
    let d = directory();
    // East along 30.6050 to C's longitude, then north: C sits on the corner.
    let route = Route::parse(&[at(30.6050, 104.0600), at(30.6050, 104.0700), at(30.6150, 104.0700)]).unwrap();
    let along = d.cameras_along(&route, 30.0);
    assert_eq!(ids(&along, |c| &c.id), ["C"]);
    let leg = super::geometry::distance_m(at(30.6050, 104.0600), at(30.6050, 104.0700));
    assert!((along[0].along_m.unwrap() - leg).abs() < 1.0);
}

#[test]
fn a_route_needs_two_to_a_thousand_points_and_may_repeat_one() {
    assert_eq!(Route::parse(&[at(30.6, 104.06)]).unwrap_err(), RouteError::TooShort);
    assert_eq!(Route::parse(&vec![at(30.6, 104.06); 1001]).unwrap_err(), RouteError::TooLong);
    let still = Route::parse(&[at(30.6, 104.06), at(30.6, 104.06)]).unwrap();
    let (off, along) = still.locate(at(30.6010, 104.0600));
    assert!((off - 111.2).abs() < 1.0 && along == 0.0, "{off} {along}");
}

#[test]
fn stations_come_nearest_first_up_to_the_limit() {
    let d = directory();
    assert_eq!(ids(&d.stations_near(at(30.59, 104.06), 5), |s| &s.id), ["s", "n"]);
    assert_eq!(ids(&d.stations_near(at(30.69, 104.06), 1), |s| &s.id), ["n"]);
}

#[test]
fn a_seed_with_a_bad_point_or_a_repeated_id_is_refused() {
    let bad_point = CAMERAS.replace("30.6000", "95.0");
    assert!(matches!(Directory::parse(&bad_point, STATIONS), Err(SeedError::Entry { ref id, .. }) if id == "A"));
    let twice = CAMERAS.replace(r#""id": "B""#, r#""id": "A""#);
    assert!(
        matches!(Directory::parse(&twice, STATIONS), Err(SeedError::Entry { ref why, .. }) if why.contains("twice"))
    );
}
