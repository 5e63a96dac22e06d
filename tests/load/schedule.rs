//! Slots to book, prepared as a hospital's scheduler does: a staff account made with the
//! operator's `city staff create`, signed in at `/v1/staff/sessions`, publishing sessions of
//! the seeded doctors through `/v1/booking/sessions`, then reading their free slots.

use serde_json::{json, Value};

use crate::crowd::{address, Crowd};
use crate::servers::Backend;

/// Hospitals whose bookings need no online payment, so a booking is final at once.
pub const BOOKINGS_HOSPITAL: &str = "h-cd6";
pub const STAMPEDE_HOSPITAL: &str = "h-jinniu";

/// The scheduler's own address (an office behind the load balancer).
const OFFICE: u64 = 16_000_000;

/// A signed-in scheduler of both hospitals.
pub async fn scheduler(backend: &Backend, crowd: &Crowd) -> String {
    let password = "load-harness-scheduler-1";
    backend.city(&[
        "staff",
        "create",
        "--username",
        "load.scheduler",
        "--password",
        password,
        "--role",
        "scheduler",
        "--hospital",
        BOOKINGS_HOSPITAL,
        "--hospital",
        STAMPEDE_HOSPITAL,
    ]);
    let session = crowd
        .post_json(
            "/v1/staff/sessions",
            &address(OFFICE),
            None,
            &json!({"username": "load.scheduler", "password": password}),
            &[200],
        )
        .await;
    session["token"].as_str().expect("a staff token").to_owned()
}

/// The seeded doctors of `hospital`, from the demo catalogue.
pub fn doctors(hospital: &str) -> Vec<String> {
    let text = include_str!("../../seeds/booking/catalogue.json");
    let catalogue: Value = serde_json::from_str(text).expect("the booking catalogue");
    catalogue["doctors"]
        .as_array()
        .expect("doctors")
        .iter()
        .filter(|d| d["hospital_id"] == hospital)
        .map(|d| d["id"].as_str().expect("a doctor id").to_owned())
        .collect()
}

/// The released days a citizen can book: tomorrow to six days ahead (Beijing dates).
pub fn released_days() -> Vec<String> {
    use city_platform::time::{city_date, from_ms, now_ms};
    (1..=6).map(|d| city_date(from_ms(now_ms() + d * 86_400_000)).to_string()).collect()
}

/// Publishes full-size sessions (200 numbers) for `hospital`'s doctors over the released days
/// until at least `n` free slots exist (seeded sessions already there count too); their ids.
pub async fn free_slots(crowd: &Crowd, staff: &str, hospital: &str, n: usize) -> Vec<String> {
    let office = address(OFFICE);
    let mut slots = Vec::new();
    'days: for date in released_days() {
        for doctor in doctors(hospital) {
            for period in ["morning", "afternoon"] {
                let body =
                    json!({"doctor_id": doctor, "date": date, "period": period, "capacity": 200, "slot_minutes": 5});
                // 409: the demo's weekly template already published this half-day; its slots count.
                crowd.post_json("/v1/booking/sessions", &office, Some(staff), &body, &[201, 409]).await;
            }
            let day = crowd.get_json(&format!("/v1/booking/doctors/{doctor}/slots?date={date}"), &office, None).await;
            slots.extend(
                day["slots"]
                    .as_array()
                    .expect("slots")
                    .iter()
                    .filter(|s| s["free"] == true)
                    .map(|s| s["id"].as_str().expect("a slot id").to_owned()),
            );
            if slots.len() >= n {
                break 'days;
            }
        }
    }
    assert!(slots.len() >= n, "only {} free slots could be published at {hospital}", slots.len());
    slots.truncate(n);
    slots
}

/// One doctor-day with only `n` numbers, every one of them wanted by the whole crowd: the
/// session's id and its slots.
pub async fn hot_day(crowd: &Crowd, staff: &str, n: i64) -> (String, Vec<String>) {
    let office = address(OFFICE);
    for date in released_days() {
        for doctor in doctors(STAMPEDE_HOSPITAL) {
            let body =
                json!({"doctor_id": doctor, "date": date, "period": "afternoon", "capacity": n, "slot_minutes": 30});
            let resp = crowd.post("/v1/booking/sessions", &office, Some(staff), &body).send().await.expect("an answer");
            if resp.status().as_u16() != 201 {
                continue;
            }
            let session: Value = resp.json().await.expect("a session");
            let session_id = session["id"].as_str().expect("a session id").to_owned();
            let day = crowd.get_json(&format!("/v1/booking/doctors/{doctor}/slots?date={date}"), &office, None).await;
            let slots: Vec<String> = day["slots"]
                .as_array()
                .expect("slots")
                .iter()
                .filter(|s| s["session_id"] == session_id.as_str())
                .map(|s| s["id"].as_str().expect("a slot id").to_owned())
                .collect();
            assert_eq!(slots.len() as i64, n, "the hot session's slots");
            return (session_id, slots);
        }
    }
    panic!("no doctor-day at {STAMPEDE_HOSPITAL} was free for the stampede's session");
}

/// The appointments of a session, as its scheduler sees them.
pub async fn session_appointments(crowd: &Crowd, staff: &str, session_id: &str) -> Vec<Value> {
    let list =
        crowd.get_json(&format!("/v1/booking/sessions/{session_id}/appointments"), &address(OFFICE), Some(staff)).await;
    list.as_array().expect("appointments").clone()
}
