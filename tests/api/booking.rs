//! Booking through the whole portal: the demo catalogue is seeded, a doctor is found near a
//! point, their published sessions and free slots are listed, and booking needs a citizen.

use serde_json::json;

use crate::harness::{expect_problem, spawn_app};

#[tokio::test]
async fn a_visitor_finds_a_doctor_near_a_point_and_sees_free_slots_but_must_sign_in_to_book() {
    let app = spawn_app().await;
    // Near Chunxi Road (GCJ-02, as WeChat reports it).
    let (status, doctors) = app.get_json("/v1/booking/doctors?lat=30.6530&lon=104.0836&coord=gcj02&limit=5").await;
    assert_eq!(status, 200, "{doctors}");
    let nearest = &doctors[0];
    assert_eq!(nearest["hospital_id"], "h-cd2");
    assert!(nearest["fee_fen"].as_i64().unwrap() > 0);

    let id = nearest["id"].as_str().unwrap();
    let (status, sessions) = app.get_json(&format!("/v1/booking/doctors/{id}/sessions")).await;
    assert_eq!(status, 200, "{sessions}");
    let session = &sessions[0];
    assert_eq!(session["status"], "open");
    let date = session["date"].as_str().unwrap();
    let (status, slots) = app.get_json(&format!("/v1/booking/doctors/{id}/slots?date={date}")).await;
    assert_eq!(status, 200, "{slots}");
    assert!(slots["n_free"].as_i64().unwrap() > 0);
    let slot_id = slots["slots"][0]["id"].as_str().unwrap();

    let resp = app
        .http
        .post(app.url("/v1/booking/appointments"))
        .header("Idempotency-Key", "e2e-1")
        .json(&json!({"slot_id": slot_id, "person_id": "someone"}))
        .send()
        .await
        .unwrap();
    expect_problem(resp, 401).await;
    app.stop().await;
}
