//! The booking service's API in-process, behind the real edge middleware, on both backends:
//! the citizen's journey, contention (capacity, limits, idempotency, cancel/hold/stop races),
//! each refusal's problem type, the waitlist, no-show suspensions and stop-diagnosis.

use std::sync::Arc;

use city_booking::people::{Person, StaticPeople};
use city_booking::{BookingOptions, BookingService, BookingState, Clock};
use city_platform::auth::{Citizen, Principal, Role, Scopes, Staff};
use city_platform::bus::Event;
use city_platform::testing::{test_platform, StaticAuthenticator, TestPlatform};
use city_platform::Db;
use futures::future::join_all;
use poem::endpoint::BoxEndpoint;
use poem::test::{TestClient, TestRequestBuilder};
use serde_json::{json, Value};
use sqlx::Row;

/// 2026-12-01 10:00 Beijing: numbers for 2026-12-03 are released (7 days ahead at 15:00).
const NOW: i64 = 1_796_090_400_000;
const VISIT: &str = "2026-12-03";
/// A hospital that takes the fee at the counter (no hold) and one that charges online.
const PAY_AT_COUNTER: &str = "h-cd6";
const PAY_ONLINE: &str = "h-wchsu";

struct World {
    t: TestPlatform,
    client: TestClient<BoxEndpoint<'static>>,
    state: Arc<BookingState>,
    db: Db,
    auth: Arc<StaticAuthenticator>,
    people: Arc<StaticPeople>,
    clock: Clock,
}

async fn world() -> World {
    let t = test_platform().await;
    let people = StaticPeople::new();
    let clock = Clock::fixed(NOW);
    let options = BookingOptions {
        clock: clock.clone(),
        people: people.clone(),
        sweep_every: None,
        seed: false,
        ..BookingOptions::for_platform(&t.platform)
    };
    let (api, db, state) = BookingService::start_with(t.platform.clone(), options).await.unwrap();
    BookingService::load_demo_catalogue(&db).await.unwrap();
    let auth = StaticAuthenticator::new();
    auth.with_token(
        "staff",
        Principal::Staff(Staff {
            staff_id: "s1".into(),
            username: "scheduler.li".into(),
            roles: vec![Role::Scheduler],
            scopes: Scopes { hospitals: vec![PAY_AT_COUNTER.into(), PAY_ONLINE.into()], ..Scopes::default() },
            session_id: "ss1".into(),
        }),
    );
    auth.with_token(
        "other-staff",
        Principal::Staff(Staff {
            staff_id: "s2".into(),
            username: "scheduler.wang".into(),
            roles: vec![Role::Scheduler],
            scopes: Scopes { hospitals: vec!["h-jinniu".into()], ..Scopes::default() },
            session_id: "ss2".into(),
        }),
    );
    let client = t.client(api, &db, auth.clone());
    World { t, client, state, db, auth, people, clock }
}

impl World {
    /// Citizen `n` with one patient `p<n>` whose ID-number hash is `hash-<n>`; returns the token.
    fn citizen(&self, n: usize) -> String {
        self.citizen_with_patient(n, &format!("hash-{n}"))
    }

    fn citizen_with_patient(&self, n: usize, hash: &str) -> String {
        let token = format!("c{n}");
        self.auth.with_token(
            &token,
            Principal::Citizen(Citizen { citizen_id: format!("citizen-{n}"), session_id: format!("cs{n}") }),
        );
        self.people.add(&format!("citizen-{n}"), person(&format!("p{n}"), hash));
        token
    }

    async fn first_doctor(&self, hospital: &str) -> Value {
        let (status, body) = send(self.client.get("/v1/booking/doctors").query("hospital_id", &hospital)).await;
        assert_eq!(status, 200, "{body}");
        body[0].clone()
    }

    /// Publishes a session and returns its slots' ids in number order.
    async fn session(&self, doctor_id: &str, date: &str, period: &str, capacity: i64) -> (String, Vec<String>) {
        let (status, body) = send(
            self.client
                .post("/v1/booking/sessions")
                .header("authorization", "Bearer staff")
                .body_json(&json!({"doctor_id": doctor_id, "date": date, "period": period, "capacity": capacity, "slot_minutes": 30})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let session_id = body["id"].as_str().unwrap().to_owned();
        let slots = self.slots(doctor_id, date).await;
        let ids = slots["slots"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["session_id"] == session_id.as_str())
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        (session_id, ids)
    }

    async fn slots(&self, doctor_id: &str, date: &str) -> Value {
        let (status, body) =
            send(self.client.get(format!("/v1/booking/doctors/{doctor_id}/slots")).query("date", &date)).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn book(&self, token: &str, slot_id: &str, person_id: &str, key: &str) -> (u16, Value) {
        send(
            self.client
                .post("/v1/booking/appointments")
                .header("authorization", format!("Bearer {token}"))
                .header("Idempotency-Key", key)
                .body_json(&json!({"slot_id": slot_id, "person_id": person_id})),
        )
        .await
    }

    async fn outbox(&self, topic: &str) -> Vec<Value> {
        let rows = sqlx::query("SELECT payload FROM platform_outbox WHERE topic = $1 ORDER BY created_at, id")
            .bind(topic)
            .fetch_all(&self.db.pool)
            .await
            .unwrap();
        rows.iter().map(|r| serde_json::from_str(&r.get::<String, _>("payload")).unwrap()).collect()
    }

    async fn scalar(&self, sql: &str, arg: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql).bind(arg).fetch_one(&self.db.pool).await.unwrap()
    }
}

fn person(id: &str, hash: &str) -> Person {
    Person {
        id: id.into(),
        name_masked: "张*".into(),
        relation: "self".into(),
        sex: "female".into(),
        birth_date: "1990-01-01".into(),
        id_number_masked: "5101**********1234".into(),
        id_number_hash: hash.into(),
        phone_masked: Some("138****5678".into()),
    }
}

async fn send(b: TestRequestBuilder<'_, BoxEndpoint<'static>>) -> (u16, Value) {
    let resp = b.send().await;
    let status = resp.0.status().as_u16();
    let bytes = resp.0.into_body().into_bytes().await.unwrap();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (status, body)
}

fn problem(body: &Value) -> &str {
    body["type"].as_str().unwrap_or("")
}

const LIVE_ON_SLOT: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM appointments
    WHERE slot_id = $1 AND status IN ('pending_payment', 'offered', 'booked', 'checked_in')";

#[tokio::test]
async fn a_citizen_finds_a_doctor_near_a_point_books_for_a_family_member_cancels_and_the_slot_returns() {
    let w = world().await;
    let token = w.citizen(1);
    w.people.add("citizen-1", person("mum", "hash-mum"));
    // Chunxi Road, as WeChat reports it (GCJ-02): the nearest hospital comes first.
    let (status, hospitals) = send(
        w.client.get("/v1/booking/hospitals").query("lat", &30.6530).query("lon", &104.0836).query("coord", &"gcj02"),
    )
    .await;
    assert_eq!(status, 200, "{hospitals}");
    assert_eq!(hospitals.as_array().unwrap().len(), 6);
    assert_eq!(hospitals[0]["id"], "h-cd2");
    assert!(hospitals[0]["distance_m"].as_i64().unwrap() < 1500);
    let (_, doctors) =
        send(w.client.get("/v1/booking/doctors").query("district", &"510108").query("title", &"chief_physician")).await;
    assert!(doctors
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["hospital_id"] == PAY_AT_COUNTER && d["title_zh"] == "主任医师"));
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let doctor_id = doctor["id"].as_str().unwrap();
    let (_, slots) = w.session(doctor_id, VISIT, "morning", 6).await;

    let (status, appt) = w.book(&token, &slots[0], "mum", "k1").await;
    assert_eq!(status, 201, "{appt}");
    assert_eq!(appt["status"], "booked");
    assert_eq!(appt["number"], 1);
    assert_eq!(appt["patient_name_masked"], "张*");
    let view = w.slots(doctor_id, VISIT).await;
    assert_eq!(view["slots"][0]["free"], false, "the cache was invalidated by the booking");
    assert_eq!(view["n_free"], 5);

    let (_, mine) = send(w.client.get("/v1/booking/appointments").header("authorization", "Bearer c1")).await;
    assert_eq!(mine["upcoming"][0]["id"], appt["id"]);
    assert_eq!(mine["upcoming"][0]["doctor_name"], doctor["name"]);

    let id = appt["id"].as_str().unwrap();
    let (status, cancelled) =
        send(w.client.post(format!("/v1/booking/appointments/{id}/cancel")).header("authorization", "Bearer c1")).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(w.slots(doctor_id, VISIT).await["slots"][0]["free"], true);
    let (_, mine) = send(w.client.get("/v1/booking/appointments").header("authorization", "Bearer c1")).await;
    assert_eq!(mine["cancelled"][0]["id"], appt["id"]);
    let notes = w.outbox("notify.requested").await;
    assert!(notes.iter().any(|n| n["notification_id"] == format!("booking:{id}:cancelled")));
    assert_eq!(w.outbox("booking.cancelled").await.len(), 1);
    w.t.cleanup().await;
}

#[tokio::test]
async fn two_hundred_concurrent_bookings_of_a_ten_slot_session_make_exactly_ten_appointments() {
    let w = world().await;
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let (session_id, slots) = w.session(doctor["id"].as_str().unwrap(), VISIT, "afternoon", 10).await;
    let tokens: Vec<String> = (0..200).map(|n| w.citizen(n)).collect();
    let results = join_all(tokens.iter().enumerate().map(|(n, token)| {
        let slot = slots[n % slots.len()].clone();
        let w = &w;
        async move { w.book(token, &slot, &format!("p{n}"), &format!("key-{n}")).await }
    }))
    .await;
    let won = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(won, 10);
    for (status, body) in results.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(problem(body), "/problems/slot-taken");
    }
    let n_appts =
        w.scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM appointments WHERE session_id = $1", &session_id).await;
    let n_distinct = w
        .scalar("SELECT CAST(COUNT(DISTINCT slot_id) AS BIGINT) FROM appointments WHERE session_id = $1", &session_id)
        .await;
    assert_eq!((n_appts, n_distinct), (10, 10));
    let n_booked_slots = w
        .scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM slots WHERE session_id = $1 AND status = 'booked'", &session_id)
        .await;
    assert_eq!(n_booked_slots, 10);
    w.t.cleanup().await;
}

#[tokio::test]
async fn twenty_patients_racing_for_the_last_slot_leave_exactly_one_winner() {
    let w = world().await;
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let (_, slots) = w.session(doctor["id"].as_str().unwrap(), VISIT, "morning", 1).await;
    let tokens: Vec<String> = (0..20).map(|n| w.citizen(n)).collect();
    let results = join_all(tokens.iter().enumerate().map(|(n, token)| {
        w.book(
            token,
            &slots[0],
            Box::leak(format!("p{n}").into_boxed_str()),
            Box::leak(format!("k{n}").into_boxed_str()),
        )
    }))
    .await;
    assert_eq!(results.iter().filter(|(s, _)| *s == 201).count(), 1);
    assert_eq!(results.iter().filter(|(s, _)| *s == 409).count(), 19);
    assert_eq!(w.scalar(LIVE_ON_SLOT, &slots[0]).await, 1);
    w.t.cleanup().await;
}

#[tokio::test]
async fn one_patient_racing_for_five_sessions_of_one_department_on_one_day_gets_only_one() {
    let w = world().await;
    let (_, doctors) = send(w.client.get("/v1/booking/doctors").query("hospital_id", &PAY_AT_COUNTER)).await;
    let department = doctors[0]["department_id"].clone();
    let same_dept: Vec<&Value> =
        doctors.as_array().unwrap().iter().filter(|d| d["department_id"] == department).collect();
    let mut slots = Vec::new();
    for d in &same_dept {
        let (_, s) = w.session(d["id"].as_str().unwrap(), VISIT, "morning", 2).await;
        slots.push(s[0].clone());
    }
    // Two accounts (say, two parents) manage the same child: limits follow the ID number.
    let a = w.citizen_with_patient(1, "hash-child");
    let b = w.citizen_with_patient(2, "hash-child");
    let results = join_all(slots.iter().enumerate().map(|(i, slot)| {
        let (token, person) = if i % 2 == 0 { (&a, "p1") } else { (&b, "p2") };
        let key = format!("k{i}");
        let w = &w;
        async move { w.book(token, slot, person, &key).await }
    }))
    .await;
    assert_eq!(results.iter().filter(|(s, _)| *s == 201).count(), 1, "{results:?}");
    let winner_even = results.iter().position(|(s, _)| *s == 201).unwrap() % 2 == 0;
    for (i, (status, body)) in results.iter().enumerate().filter(|(_, (s, _))| *s != 201) {
        assert_eq!(*status, 409);
        // The account that booked learns which limit; the other account gets a plain refusal.
        let expected = if (i % 2 == 0) == winner_even {
            "/problems/booking-limit-exceeded"
        } else {
            "/problems/patient-not-bookable"
        };
        assert_eq!(problem(body), expected, "{body}");
        assert_eq!(body["errors"][0]["field"], "person_id");
    }
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_returns_the_same_appointment() {
    let w = world().await;
    let token = w.citizen(1);
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let (_, slots) = w.session(doctor["id"].as_str().unwrap(), VISIT, "morning", 3).await;
    let (s1, first) = w.book(&token, &slots[0], "p1", "same-key").await;
    let (s2, again) = w.book(&token, &slots[0], "p1", "same-key").await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first["id"], again["id"]);
    assert_eq!(w.scalar(LIVE_ON_SLOT, &slots[0]).await, 1);
    let (status, body) = send(
        w.client
            .post("/v1/booking/appointments")
            .header("authorization", "Bearer c1")
            .body_json(&json!({"slot_id": slots[1], "person_id": "p1"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
    // A key outside the rule (a space) is refused naming it, and books nothing.
    let (status, body) = w.book(&token, &slots[1], "p1", "two words").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(w.scalar(LIVE_ON_SLOT, &slots[1]).await, 0);
    w.t.cleanup().await;
}

#[tokio::test]
async fn each_refusal_has_its_own_problem_type_and_writes_nothing() {
    let w = world().await;
    let token = w.citizen(1);
    w.citizen(2);
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let doctor_id = doctor["id"].as_str().unwrap();
    let (_, slots) = w.session(doctor_id, VISIT, "morning", 4).await;
    // Numbers for 2026-12-10 open on 2026-12-03 at 15:00.
    let (_, later) = w.session(doctor_id, "2026-12-10", "morning", 2).await;

    let (s, b) = w.book(&token, "no-such-slot", "p1", "a").await;
    assert_eq!((s, problem(&b)), (422, "/problems/unknown-slot"));
    let (s, b) = w.book(&token, &slots[0], "p2", "b").await;
    assert_eq!((s, problem(&b)), (422, "/problems/unknown-person"), "another citizen's patient");
    let (s, b) = w.book(&token, &later[0], "p1", "c").await;
    assert_eq!((s, problem(&b)), (422, "/problems/not-yet-released"));
    let (s, b) = send(w.client.get("/v1/booking/doctors/nobody/slots").query("date", &VISIT)).await;
    assert_eq!((s, problem(&b)), (404, "/problems/unknown-doctor"));
    let (s, b) =
        send(w.client.get(format!("/v1/booking/doctors/{doctor_id}/slots")).query("date", &"2026-11-30")).await;
    assert_eq!((s, problem(&b)), (422, "/problems/past-date"));
    let (s, b) = send(w.client.get(format!("/v1/booking/doctors/{doctor_id}/slots")).query("date", &"tomorrow")).await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (400, Some("date")));
    let (s, b) = send(w.client.get("/v1/booking/hospitals").query("lat", &30.6).query("coord", &"wgs84")).await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (422, Some("lon")));
    assert_eq!(
        w.scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM appointments WHERE citizen_id = $1", "citizen-1").await,
        0
    );

    // After the cut-off (30 minutes before the 08:00 start).
    w.clock.set(city_booking::domain::local_instant("2026-12-03".parse().unwrap(), 7 * 60 + 45));
    let (s, b) = w.book(&token, &slots[0], "p1", "d").await;
    assert_eq!((s, problem(&b)), (422, "/problems/booking-closed"));
    w.clock.set(city_booking::domain::local_instant("2026-12-03".parse().unwrap(), 9 * 60));
    let (s, b) = w.book(&token, &slots[0], "p1", "e").await;
    assert_eq!((s, problem(&b)), (422, "/problems/past-date"));
    assert_eq!(w.outbox("booking.booked").await.len(), 0);

    // Staff outside their hospital.
    let (s, _) = send(w.client.post("/v1/booking/sessions").header("authorization", "Bearer other-staff").body_json(
        &json!({"doctor_id": doctor_id, "date": "2026-12-05", "period": "morning", "capacity": 3, "slot_minutes": 30}),
    ))
    .await;
    assert_eq!(s, 403);
    w.t.cleanup().await;
}

#[tokio::test]
async fn cancelling_while_others_try_to_book_the_same_slot_never_double_books() {
    let w = world().await;
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let (_, slots) = w.session(doctor["id"].as_str().unwrap(), VISIT, "morning", 1).await;
    let holder = w.citizen(0);
    let (_, appt) = w.book(&holder, &slots[0], "p0", "h").await;
    let id = appt["id"].as_str().unwrap().to_owned();
    let tokens: Vec<String> = (1..11).map(|n| w.citizen(n)).collect();
    let cancel =
        send(w.client.post(format!("/v1/booking/appointments/{id}/cancel")).header("authorization", "Bearer c0"));
    let books = join_all(tokens.iter().enumerate().map(|(i, t)| {
        let slot = slots[0].clone();
        let w = &w;
        async move { w.book(t, &slot, &format!("p{}", i + 1), &format!("k{i}")).await }
    }));
    let ((cancel_status, _), results) = tokio::join!(cancel, books);
    assert_eq!(cancel_status, 200);
    let n_won = results.iter().filter(|(s, _)| *s == 201).count();
    assert!(n_won <= 1);
    assert_eq!(w.scalar(LIVE_ON_SLOT, &slots[0]).await, n_won as i64);
    let status: String = sqlx::query_scalar("SELECT status FROM slots WHERE id = $1")
        .bind(&slots[0])
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(status, if n_won == 1 { "booked" } else { "free" });
    w.t.cleanup().await;
}

#[tokio::test]
async fn an_unpaid_hold_lapses_and_a_payment_racing_the_expiry_is_booked_or_refunded_never_both() {
    let w = world().await;
    let token = w.citizen(1);
    let doctor = w.first_doctor(PAY_ONLINE).await;
    let doctor_id = doctor["id"].as_str().unwrap();
    let (_, slots) = w.session(doctor_id, VISIT, "morning", 2).await;
    let (status, appt) = w.book(&token, &slots[0], "p1", "k").await;
    assert_eq!(status, 201, "{appt}");
    assert_eq!(appt["status"], "pending_payment");
    let id = appt["id"].as_str().unwrap().to_owned();
    let due = w.outbox("booking.fee_due").await;
    assert_eq!(due[0]["booking_id"], id.as_str());
    assert_eq!(due[0]["amount_fen"], doctor["fee_fen"]);

    w.clock.set(NOW + 16 * 60_000);
    let paid = Event {
        id: "evt-paid-1".into(),
        topic: "payments.paid".into(),
        payload: json!({"item_kind": "booking", "item_id": id, "out_trade_no": "BK1", "amount_fen": doctor["fee_fen"]}),
        occurred_at_ms: NOW,
    };
    let (sweep, pay) = tokio::join!(w.state.run_due_work(), w.state.on_payment_event(paid.clone()));
    sweep.unwrap();
    pay.unwrap();
    // Redelivery changes nothing.
    w.state.on_payment_event(paid).await.unwrap();
    let row = sqlx::query("SELECT status, CAST(CASE WHEN paid THEN 1 ELSE 0 END AS BIGINT) AS paid, refund_state FROM appointments WHERE id = $1").bind(&id).fetch_one(&w.db.pool).await.unwrap();
    let status: String = row.get("status");
    let is_paid = row.get::<i64, _>("paid") == 1;
    let refund: Option<String> = row.get("refund_state");
    let refunds = w.outbox("booking.refund_requested").await;
    assert!(is_paid);
    match status.as_str() {
        "booked" => {
            assert!(refunds.is_empty());
            assert_eq!(w.scalar(LIVE_ON_SLOT, &slots[0]).await, 1);
        }
        "expired" => {
            assert_eq!(refund.as_deref(), Some("requested"));
            assert_eq!(refunds.len(), 1);
            assert_eq!(refunds[0]["booking_id"], id.as_str());
            assert_eq!(w.slots(doctor_id, VISIT).await["slots"][0]["free"], true);
        }
        other => panic!("unexpected {other}"),
    }
    // A hold nobody pays for lapses and the number returns.
    let (_, second) = w.book(&token, &slots[1], "p1", "k2").await;
    if status == "expired" {
        assert_eq!(second["status"], "pending_payment");
    }
    w.clock.set(NOW + 40 * 60_000);
    w.state.run_due_work().await.unwrap();
    assert_eq!(w.slots(doctor_id, VISIT).await["slots"][1]["free"], true);
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_stop_racing_bookings_cancels_every_booking_once_refunds_notifies_and_offers_alternatives() {
    let w = world().await;
    let (_, doctors) = send(w.client.get("/v1/booking/doctors").query("hospital_id", &PAY_AT_COUNTER)).await;
    let doctor = &doctors[0];
    let doctor_id = doctor["id"].as_str().unwrap();
    // A colleague of the same grade in the same department has free numbers that day.
    let colleague = doctors.as_array().unwrap().iter().find(|d| {
        d["department_id"] == doctor["department_id"] && d["title"] == doctor["title"] && d["id"] != doctor["id"]
    });
    if let Some(c) = colleague {
        w.session(c["id"].as_str().unwrap(), VISIT, "afternoon", 5).await;
    }
    let (session_id, slots) = w.session(doctor_id, VISIT, "morning", 10).await;
    let tokens: Vec<String> = (0..30).map(|n| w.citizen(n)).collect();
    let early = w.book(&tokens[0], &slots[0], "p0", "first").await;
    assert_eq!(early.0, 201);
    let books = join_all(tokens.iter().enumerate().skip(1).map(|(n, t)| {
        let slot = slots[n % 10].clone();
        let w = &w;
        async move { w.book(t, &slot, &format!("p{n}"), &format!("k{n}")).await }
    }));
    let stop = send(
        w.client
            .post(format!("/v1/booking/sessions/{session_id}/stop"))
            .header("authorization", "Bearer staff")
            .body_json(&json!({"reason": "医生临时外出会诊"})),
    );
    let (results, (stop_status, stopped)) = tokio::join!(books, stop);
    assert_eq!(stop_status, 200, "{stopped}");
    for (status, body) in results.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 409, "{body}");
        assert!(["/problems/slot-taken", "/problems/session-stopped"].contains(&problem(body)), "{body}");
    }
    let n_live = w
        .scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM appointments WHERE session_id = $1
               AND status IN ('pending_payment', 'offered', 'booked', 'checked_in')",
            &session_id,
        )
        .await;
    assert_eq!(n_live, 0, "nothing on a stopped session stays booked");
    let cancelled = w
        .scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM appointments WHERE session_id = $1 AND cancel_reason = 'stop_diagnosis'", &session_id)
        .await;
    assert_eq!(cancelled, stopped["n_cancelled"].as_i64().unwrap());
    assert!(cancelled >= 1);
    let notes: Vec<Value> =
        w.outbox("notify.requested").await.into_iter().filter(|n| n["kind"] == "booking.stop_diagnosis").collect();
    assert_eq!(notes.len() as i64, cancelled, "one notice per cancelled booking");
    if colleague.is_some() {
        assert_eq!(notes[0]["data"]["alternatives"][0]["title"], doctor["title"]);
    }
    let (s, b) = send(
        w.client
            .post(format!("/v1/booking/sessions/{session_id}/stop"))
            .header("authorization", "Bearer staff")
            .body_json(&json!({"reason": "again"})),
    )
    .await;
    assert_eq!((s, problem(&b)), (409, "/problems/session-already-stopped"));
    let (_, mine) = send(w.client.get("/v1/booking/appointments").header("authorization", "Bearer c0")).await;
    assert_eq!(mine["cancelled"][0]["cancel_reason"], "stop_diagnosis");
    assert_eq!(w.outbox("audit.recorded").await.iter().filter(|a| a["action"] == "stop_session").count(), 1);
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_returned_number_is_offered_to_the_waitlist_in_order_and_passes_on_when_the_offer_lapses() {
    let w = world().await;
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let doctor_id = doctor["id"].as_str().unwrap();
    let (session_id, slots) = w.session(doctor_id, VISIT, "morning", 1).await;
    let holder = w.citizen(0);
    let first = w.citizen(1);
    let second = w.citizen(2);
    let join = |token: String, person: &'static str| {
        let w = &w;
        let session_id = session_id.clone();
        async move {
            send(
                w.client
                    .post("/v1/booking/waitlist")
                    .header("authorization", format!("Bearer {token}"))
                    .body_json(&json!({"session_id": session_id, "person_id": person})),
            )
            .await
        }
    };
    let (s, b) = join(first.clone(), "p1").await;
    assert_eq!((s, problem(&b)), (409, "/problems/session-not-full"));
    let (_, appt) = w.book(&holder, &slots[0], "p0", "k").await;
    let (s1, e1) = join(first.clone(), "p1").await;
    let (s2, e2) = join(second.clone(), "p2").await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!((e1["position"].as_i64(), e2["position"].as_i64()), (Some(1), Some(2)));

    let id = appt["id"].as_str().unwrap();
    send(w.client.post(format!("/v1/booking/appointments/{id}/cancel")).header("authorization", "Bearer c0")).await;
    let (_, mine) = send(w.client.get("/v1/booking/waitlist").header("authorization", "Bearer c1")).await;
    assert_eq!(mine[0]["status"], "offered");
    assert_eq!(w.slots(doctor_id, VISIT).await["slots"][0]["free"], false, "held for the first in line");

    // The first does not answer within the hospital's 60 minutes: the number passes on.
    w.clock.set(NOW + 61 * 60_000);
    w.state.run_due_work().await.unwrap();
    let (_, mine) = send(w.client.get("/v1/booking/waitlist").header("authorization", "Bearer c1")).await;
    assert_eq!(mine[0]["status"], "expired");
    let (_, theirs) = send(w.client.get("/v1/booking/waitlist").header("authorization", "Bearer c2")).await;
    assert_eq!(theirs[0]["status"], "offered");
    let entry = theirs[0]["id"].as_str().unwrap();
    let (s, accepted) =
        send(w.client.post(format!("/v1/booking/waitlist/{entry}/accept")).header("authorization", "Bearer c2")).await;
    assert_eq!(s, 200, "{accepted}");
    assert_eq!(accepted["status"], "booked");
    assert_eq!(
        w.outbox("notify.requested").await.iter().filter(|n| n["kind"] == "booking.waitlist_offered").count(),
        2
    );
    w.t.cleanup().await;
}

#[tokio::test]
async fn no_shows_suspend_a_patient_by_id_number_and_staff_can_lift_it_with_an_audit_trail() {
    let w = world().await;
    let token = w.citizen(1);
    // The same person booked from another account is the same patient.
    let other = w.citizen_with_patient(2, "hash-1");
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let doctor_id = doctor["id"].as_str().unwrap();
    let (_, slots) = w.session(doctor_id, VISIT, "morning", 3).await;
    let (_, appt) = w.book(&token, &slots[0], "p1", "k").await;
    let id = appt["id"].as_str().unwrap();
    let (s, marked) =
        send(w.client.post(format!("/v1/booking/appointments/{id}/no-show")).header("authorization", "Bearer staff"))
            .await;
    assert_eq!(s, 200, "{marked}");
    assert_eq!(marked["status"], "no_show");
    // The account whose booking was missed learns until when; another account holding the same
    // ID number learns nothing about it (issue #15).
    let (s, b) = w.book(&token, &slots[1], "p1", "k1").await;
    assert_eq!((s, problem(&b)), (409, "/problems/patient-suspended"));
    assert!(b["detail"].as_str().unwrap().contains("suspended until"), "{b}");
    let (s, b) = w.book(&other, &slots[1], "p2", "k2").await;
    assert_eq!((s, problem(&b)), (409, "/problems/patient-not-bookable"));
    assert!(!b.to_string().contains("until"), "{b}");
    let (_, suspensions) = send(w.client.get("/v1/booking/suspensions").header("authorization", "Bearer staff")).await;
    assert_eq!(suspensions.as_array().unwrap().len(), 1);
    assert_eq!(suspensions[0]["hospital_id"], PAY_AT_COUNTER);
    let sid = suspensions[0]["id"].as_str().unwrap();
    // A scheduler of another hospital neither sees nor lifts it.
    let (s, theirs) = send(w.client.get("/v1/booking/suspensions").header("authorization", "Bearer other-staff")).await;
    assert_eq!((s, theirs.as_array().map(Vec::len)), (200, Some(0)));
    let (s, b) = send(
        w.client
            .post(format!("/v1/booking/suspensions/{sid}/lift"))
            .header("authorization", "Bearer other-staff")
            .body_json(&json!({"reason": "not my hospital"})),
    )
    .await;
    assert_eq!((s, problem(&b)), (404, "/problems/not-found"));
    let (s, lifted) = send(
        w.client
            .post(format!("/v1/booking/suspensions/{sid}/lift"))
            .header("authorization", "Bearer staff")
            .body_json(&json!({"reason": "appeal upheld: hospital records show attendance"})),
    )
    .await;
    assert_eq!((s, lifted["lifted"].as_bool()), (200, Some(true)));
    let (s, _) = w.book(&other, &slots[1], "p2", "k3").await;
    assert_eq!(s, 201);
    let actions: Vec<String> =
        w.outbox("audit.recorded").await.iter().map(|a| a["action"].as_str().unwrap().to_owned()).collect();
    assert!(actions.contains(&"mark_no_show".to_owned()) && actions.contains(&"lift_suspension".to_owned()));
    w.t.cleanup().await;
}

#[tokio::test]
async fn the_day_before_patients_are_reminded_once_and_unattended_bookings_become_no_shows() {
    let w = world().await;
    let token = w.citizen(1);
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let (_, slots) = w.session(doctor["id"].as_str().unwrap(), VISIT, "morning", 2).await;
    w.book(&token, &slots[0], "p1", "k").await;
    w.clock.set(city_booking::domain::local_instant("2026-12-02".parse().unwrap(), 18 * 60));
    assert_eq!(w.state.run_due_work().await.unwrap().reminders, 1);
    assert_eq!(w.state.run_due_work().await.unwrap().reminders, 0);
    w.clock.set(city_booking::domain::local_instant(VISIT.parse().unwrap(), 23 * 60));
    assert_eq!(w.state.run_due_work().await.unwrap().no_shows, 1);
    assert_eq!(w.outbox("booking.no_show").await.len(), 1);
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_department_can_release_fewer_days_ahead_than_its_hospital() {
    let w = world().await;
    let token = w.citizen(1);
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let department = doctor["department_id"].as_str().unwrap();
    let (_, slots) = w.session(doctor["id"].as_str().unwrap(), VISIT, "morning", 2).await;
    let (s, body) = send(
        w.client
            .put(format!("/v1/booking/departments/{department}/rules"))
            .header("authorization", "Bearer staff")
            .body_json(&json!({"release_days_ahead": 1, "release_time": "08:00"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, b) = w.book(&token, &slots[0], "p1", "k").await;
    assert_eq!((s, problem(&b)), (422, "/problems/not-yet-released"));
    // 2026-12-02 08:00 Beijing: released.
    w.clock.set(city_booking::domain::local_instant("2026-12-02".parse().unwrap(), 8 * 60));
    let (s, _) = w.book(&token, &slots[0], "p1", "k2").await;
    assert_eq!(s, 201);
    let (s, b) = send(
        w.client
            .put(format!("/v1/booking/departments/{department}/rules"))
            .header("authorization", "Bearer staff")
            .body_json(&json!({"release_time": "25:00"})),
    )
    .await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (422, Some("release_time")));
    w.t.cleanup().await;
}

#[tokio::test]
async fn the_channel_asks_for_a_citizens_next_appointment_with_the_internal_token_only() {
    let w = world().await;
    let token = w.citizen(1);
    w.people.add("citizen-1", person("mum", "hash-mum"));
    w.citizen(2);
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let doctor_id = doctor["id"].as_str().unwrap();
    let (_, later) = w.session(doctor_id, VISIT, "afternoon", 4).await;
    let (_, sooner) = w.session(doctor_id, "2026-12-02", "morning", 4).await;
    let (s, _) = w.book(&token, &later[0], "p1", "k-later").await;
    assert_eq!(s, 201);
    // Cancelled visits do not count, even when they come first.
    let (_, cancelled) = w.book(&token, &sooner[0], "mum", "k-cancelled").await;
    let id = cancelled["id"].as_str().unwrap();
    let (s, _) =
        send(w.client.post(format!("/v1/booking/appointments/{id}/cancel")).header("authorization", "Bearer c1")).await;
    assert_eq!(s, 200);
    let (s, soonest) = w.book(&token, &sooner[1], "mum", "k-soonest").await;
    assert_eq!(s, 201, "{soonest}");

    let internal = w.t.platform.internal_token.expose().to_owned();
    let ask = |citizen: &str, token: Option<&str>| {
        let mut req = w.client.get(format!("/v1/internal/booking/citizens/{citizen}/next-appointment"));
        if let Some(t) = token {
            req = req.header("X-Internal-Token", t);
        }
        send(req)
    };
    let (s, next) = ask("citizen-1", Some(&internal)).await;
    assert_eq!(s, 200, "{next}");
    assert_eq!(next["appointment_id"], soonest["id"]);
    assert_eq!(next["patient"], "张*");
    let place = format!(
        "{} {} {}",
        doctor["hospital_name_zh"].as_str().unwrap(),
        doctor["department_name_zh"].as_str().unwrap(),
        doctor["name"].as_str().unwrap()
    );
    assert_eq!(next["place"], place.as_str());
    // The window in Beijing time: the slot's UTC window shifted by eight hours.
    let start = chrono::DateTime::parse_from_rfc3339(soonest["window_start"].as_str().unwrap()).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(soonest["window_end"].as_str().unwrap()).unwrap();
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let expected = format!(
        "{}–{} (Beijing time)",
        start.with_timezone(&beijing).format("%Y-%m-%d %H:%M"),
        end.with_timezone(&beijing).format("%H:%M")
    );
    assert_eq!(next["when"], expected.as_str());
    assert!(expected.starts_with("2026-12-02 "), "{expected}");

    // Once that visit's window is over, the next one is the later booking.
    w.clock.set(end.timestamp_millis());
    let (s, next) = ask("citizen-1", Some(&internal)).await;
    assert_eq!((s, next["patient"].as_str()), (200, Some("张*")));
    assert_ne!(next["appointment_id"], soonest["id"]);
    assert!(next["when"].as_str().unwrap().starts_with(&format!("{VISIT} ")), "{next}");

    // Nobody booked: 404. No token, a wrong one, or a citizen's bearer: 401, all as problems.
    let (s, b) = ask("citizen-2", Some(&internal)).await;
    assert_eq!((s, problem(&b)), (404, "/problems/not-found"));
    let (s, b) = ask("citizen-1", None).await;
    assert_eq!((s, b["status"].as_i64()), (401, Some(401)));
    let (s, b) = ask("citizen-1", Some("not-the-internal-token")).await;
    assert_eq!((s, problem(&b)), (401, "/problems/unauthorized"));
    let (s, _) = send(
        w.client.get("/v1/internal/booking/citizens/citizen-1/next-appointment").header("authorization", "Bearer c1"),
    )
    .await;
    assert_eq!(s, 401);
    w.t.cleanup().await;
}

#[tokio::test]
async fn after_the_cancellation_deadline_a_cancel_is_refused_once_and_again_and_the_missed_visit_is_a_no_show() {
    let w = world().await;
    let token = w.citizen(1);
    w.people.add("citizen-1", person("mum", "hash-mum"));
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let doctor_id = doctor["id"].as_str().unwrap();
    let (_, slots) = w.session(doctor_id, VISIT, "morning", 3).await;
    let (_, missed) = w.book(&token, &slots[0], "p1", "k1").await;
    let missed_id = missed["id"].as_str().unwrap().to_owned();
    // Cancelling a booking twice before the deadline: one cancellation, then a 409.
    let (_, early) = w.book(&token, &slots[1], "mum", "k2").await;
    let early_id = early["id"].as_str().unwrap();
    let cancel = |id: String| {
        send(w.client.post(format!("/v1/booking/appointments/{id}/cancel")).header("authorization", "Bearer c1"))
    };
    assert_eq!(cancel(early_id.to_owned()).await.0, 200);
    let (s, b) = cancel(early_id.to_owned()).await;
    assert_eq!((s, problem(&b)), (409, "/problems/not-cancellable"));
    assert_eq!(w.outbox("booking.cancelled").await.len(), 1);

    // The hospital's deadline for 2026-12-03 is 15:00 Beijing the day before; one minute later
    // a cancel is refused with its own type, however often it is tried, and changes nothing.
    w.clock.set(city_booking::domain::local_instant("2026-12-02".parse().unwrap(), 15 * 60 + 1));
    for _ in 0..2 {
        let (s, b) = cancel(missed_id.clone()).await;
        assert_eq!((s, problem(&b)), (409, "/problems/cancel-deadline-passed"), "{b}");
    }
    let status: String = sqlx::query_scalar("SELECT status FROM appointments WHERE id = $1")
        .bind(&missed_id)
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "booked");
    assert_eq!(
        w.scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM slots WHERE id = $1 AND status = 'booked'", &slots[0]).await,
        1
    );
    assert_eq!(w.outbox("booking.cancelled").await.len(), 1);

    // Not checked in: after the window and the grace period the visit becomes a no-show once,
    // which suspends the patient under the default rule (first no-show: 30 days).
    w.clock.set(city_booking::domain::local_instant(VISIT.parse().unwrap(), 13 * 60));
    assert_eq!(w.state.run_due_work().await.unwrap().no_shows, 1);
    assert_eq!(w.state.run_due_work().await.unwrap().no_shows, 0);
    let (_, mine) = send(w.client.get("/v1/booking/appointments").header("authorization", "Bearer c1")).await;
    let past: Vec<&Value> = mine["past"].as_array().unwrap().iter().filter(|a| a["id"] == missed_id.as_str()).collect();
    assert_eq!(past[0]["status"], "no_show");
    let (s, b) = cancel(missed_id.clone()).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(w.outbox("booking.patient_suspended").await.len(), 1);
    assert_eq!(
        w.scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM suspensions WHERE id_number_hash = $1", "hash-1").await,
        1
    );
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_checked_in_visit_never_becomes_a_no_show() {
    let w = world().await;
    let token = w.citizen(1);
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let (_, slots) = w.session(doctor["id"].as_str().unwrap(), VISIT, "morning", 2).await;
    let (_, appt) = w.book(&token, &slots[0], "p1", "k").await;
    let id = appt["id"].as_str().unwrap();
    w.clock.set(city_booking::domain::local_instant(VISIT.parse().unwrap(), 7 * 60 + 45));
    let (s, b) =
        send(w.client.post(format!("/v1/booking/appointments/{id}/check-in")).header("authorization", "Bearer staff"))
            .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("checked_in")));
    w.clock.set(city_booking::domain::local_instant(VISIT.parse().unwrap(), 23 * 60));
    assert_eq!(w.state.run_due_work().await.unwrap().no_shows, 0);
    assert!(w.outbox("booking.no_show").await.is_empty());
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_waitlist_offer_racing_the_same_patients_own_booking_never_leaves_them_over_a_limit() {
    let w = world().await;
    let doctors: Vec<Value> = {
        let (_, body) = send(w.client.get("/v1/booking/doctors").query("hospital_id", &PAY_AT_COUNTER)).await;
        body.as_array().unwrap().clone()
    };
    // Five rounds on five doctors: the holder of a one-number morning cancels while the first
    // in its queue books that doctor's afternoon (same day, hospital and department: limit 1).
    for (round, doctor) in doctors.iter().take(5).enumerate() {
        let doctor_id = doctor["id"].as_str().unwrap();
        let (session_id, morning) = w.session(doctor_id, VISIT, "morning", 1).await;
        let (_, afternoon) = w.session(doctor_id, VISIT, "afternoon", 1).await;
        let holder = w.citizen(100 + round);
        let waiter = w.citizen(200 + round);
        let (s, appt) = w.book(&holder, &morning[0], &format!("p{}", 100 + round), &format!("h{round}")).await;
        assert_eq!(s, 201, "{appt}");
        let (s, b) = send(
            w.client
                .post("/v1/booking/waitlist")
                .header("authorization", format!("Bearer {waiter}"))
                .body_json(&json!({"session_id": session_id, "person_id": format!("p{}", 200 + round)})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        let id = appt["id"].as_str().unwrap();
        let cancel = send(
            w.client
                .post(format!("/v1/booking/appointments/{id}/cancel"))
                .header("authorization", format!("Bearer {holder}")),
        );
        let (person, key) = (format!("p{}", 200 + round), format!("w{round}"));
        let book = w.book(&waiter, &afternoon[0], &person, &key);
        let ((cancelled, _), (booked, b)) = futures::join!(cancel, book);
        assert_eq!(cancelled, 200);
        assert!(booked == 201 || (booked == 409 && problem(&b) == "/problems/booking-limit-exceeded"), "{booked} {b}");
        let live = w
            .scalar(
                &format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM appointments WHERE id_number_hash = $1 AND visit_date = '{VISIT}'
                     AND status IN ('pending_payment', 'offered', 'booked', 'checked_in')"
                ),
                &format!("hash-{}", 200 + round),
            )
            .await;
        assert_eq!(live, 1, "round {round}: the patient holds exactly one number that day");
    }
    w.t.cleanup().await;
}

#[tokio::test]
async fn while_others_keep_reading_a_doctor_day_a_read_after_a_booking_never_shows_that_slot_free() {
    let w = world().await;
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let doctor_id = doctor["id"].as_str().unwrap().to_owned();
    let (_, slots) = w.session(&doctor_id, VISIT, "afternoon", 12).await;
    let tokens: Vec<String> = (0..slots.len()).map(|n| w.citizen(n)).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    // Sixteen readers keep the doctor-day's cache reads in flight the whole time.
    let readers = join_all((0..16).map(|_| async {
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            w.slots(&doctor_id, VISIT).await;
            n += 1;
            // A memoised answer completes without ever waiting; let the bookings run too.
            tokio::task::yield_now().await;
        }
        n
    }));
    let bookings = async {
        for (n, slot) in slots.iter().enumerate() {
            let (s, b) = w.book(&tokens[n], slot, &format!("p{n}"), &format!("k{n}")).await;
            assert_eq!(s, 201, "{b}");
            let list = w.slots(&doctor_id, VISIT).await;
            let shown = list["slots"].as_array().unwrap().iter().find(|x| x["id"] == slot.as_str()).unwrap().clone();
            assert_eq!(shown["free"], false, "booking {n} returned, yet its slot was shown free");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let (reads, ()) = futures::join!(readers, bookings);
    assert!(reads.iter().sum::<i32>() > 0);
    assert_eq!(w.slots(&doctor_id, VISIT).await["n_free"], 0);
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_borrowed_id_number_learns_nothing_of_the_owners_visits_while_the_owner_sees_their_own() {
    let w = world().await;
    // Citizen 1 is the patient's own account; citizen 2 added the same ID number (issue #15).
    let owner = w.citizen_with_patient(1, "hash-victim");
    let borrower = w.citizen_with_patient(2, "hash-victim");
    let doctor = w.first_doctor(PAY_AT_COUNTER).await;
    let doctor_id = doctor["id"].as_str().unwrap();
    let (_, slots) = w.session(doctor_id, VISIT, "morning", 3).await;
    let (s, _) = w.book(&owner, &slots[0], "p1", "owner-1").await;
    assert_eq!(s, 201);

    // The owner's second try names the visit they already hold.
    let (s, b) = w.book(&owner, &slots[1], "p1", "owner-2").await;
    assert_eq!((s, problem(&b)), (409, "/problems/booking-limit-exceeded"));
    let detail = b["detail"].as_str().unwrap();
    assert!(detail.contains(VISIT) && detail.contains("booked from this account"), "{detail}");

    // The borrower gets a plain refusal: no day, no hospital, no department, no limit named.
    let (s, b) = w.book(&borrower, &slots[1], "p2", "borrower-1").await;
    assert_eq!((s, problem(&b)), (409, "/problems/patient-not-bookable"), "{b}");
    let text = b.to_string();
    assert!(!text.contains(VISIT) && !text.contains("department") && !text.contains("per day"), "{text}");
    assert_eq!(b["errors"][0]["field"], "person_id");
    // Nothing was written for the borrower.
    assert_eq!(
        w.scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM appointments WHERE citizen_id = $1", "citizen-2").await,
        0
    );
    w.t.cleanup().await;
}
