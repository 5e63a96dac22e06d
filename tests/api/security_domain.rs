//! Issue #15, part 2: the domain attacks replayed against the whole portal on a random port
//! (real names, scopes, photos, and a walk over every id path of the served OpenAPI document).
//! Each test names the attack it replays and asserts the answer it now gets.

use serde_json::{json, Value};

use crate::harness::{expect_problem, spawn_app, TestApp};

/// A valid GB 11643 number from its first 17 digits.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("the portal answers")
}

/// A Mini Program phone-number code for `phone`, minted by the sandbox.
async fn phone_code(app: &TestApp, phone: &str) -> String {
    let v: Value = post(app, "/sandbox/wechat/_test/mp/phone-codes", None, json!({"phone": phone}))
        .await
        .json()
        .await
        .expect("a code");
    v["code"].as_str().expect("a phone code").to_owned()
}

#[tokio::test]
async fn a_strangers_id_number_cannot_be_borrowed_without_their_phone_and_sits_on_at_most_three_accounts() {
    let app = spawn_app().await;
    let victim_number = id_number("51010419850612003");
    let victim = app.citizen_token("rn-victim").await;
    let person = |phone_code: Option<&str>| {
        let mut body = json!({"name": "陈小红", "id_number": victim_number, "relation": "parent"});
        if let Some(code) = phone_code {
            body["phone_code"] = json!(code);
        }
        body
    };
    // The holder adds herself with her phone: the phone first recorded for the number.
    let mut own = person(None);
    own["relation"] = json!("self");
    own["phone"] = json!("13800138000");
    assert_eq!(post(&app, "/v1/me/people", Some(&victim), own).await.status(), 201);

    // Attack: a stranger adds her number with no proof → 409 naming phone_code.
    let stranger = app.citizen_token("rn-stranger").await;
    let p = expect_problem(post(&app, "/v1/me/people", Some(&stranger), person(None)).await, 409).await;
    assert_eq!(
        (p["type"].as_str(), p["errors"][0]["field"].as_str()),
        (Some("/problems/phone-proof-required"), Some("phone_code"))
    );
    // Attack: with a code for the stranger's own phone → 403.
    let theirs = phone_code(&app, "13900139000").await;
    let p = expect_problem(post(&app, "/v1/me/people", Some(&stranger), person(Some(&theirs))).await, 403).await;
    assert_eq!(p["type"], "/problems/phone-mismatch");
    let (_, list) = get(&app, "/v1/me/people", &stranger).await;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "nothing was added");

    // Her family, with a code for her phone, may add her: up to three accounts in all.
    for n in 0..2 {
        let family = app.citizen_token(&format!("rn-family-{n}")).await;
        let code = phone_code(&app, "13800138000").await;
        assert_eq!(post(&app, "/v1/me/people", Some(&family), person(Some(&code))).await.status(), 201);
    }
    let fourth = app.citizen_token("rn-family-3").await;
    let code = phone_code(&app, "13800138000").await;
    let p = expect_problem(post(&app, "/v1/me/people", Some(&fourth), person(Some(&code))).await, 409).await;
    assert_eq!(p["type"], "/problems/id-number-accounts-limit");

    // A name that is no card name is refused by the (sandbox) real-name check, naming the field.
    let body = json!({"name": "admin123", "id_number": id_number("11010519900101001"), "relation": "self"});
    let p = expect_problem(post(&app, "/v1/me/people", Some(&stranger), body).await, 422).await;
    assert_eq!(
        (p["type"].as_str(), p["errors"][0]["field"].as_str()),
        (Some("/problems/real-name-mismatch"), Some("name"))
    );
    app.stop().await;
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let resp = app.http.get(app.url(path)).bearer_auth(token).send().await.expect("the portal answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Chunxi Road (Jinjiang District, 510104) as WeChat's map reports it (GCJ-02).
const CHUNXI_GCJ02: (f64, f64) = (30.652_794, 104.083_630);

/// An 8×8 red PNG.
const PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 8, 0, 0, 0, 8, 8, 2, 0, 0, 0, 75, 109, 41,
    220, 0, 0, 0, 17, 73, 68, 65, 84, 120, 156, 99, 56, 33, 39, 135, 21, 49, 12, 45, 9, 0, 144, 191, 65, 1, 178, 159,
    62, 34, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// Any method, an optional bearer token and JSON body, with a fresh `Idempotency-Key`.
async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, String) {
    let mut req = app
        .http
        .request(method.parse().expect("a method"), app.url(path))
        .header("Idempotency-Key", format!("walk-{}", uuid::Uuid::new_v4()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.expect("the portal answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

async fn staff_member(app: &TestApp, username: &str, role: &str, district: &str) -> String {
    let password = "correct horse battery";
    app.city(&[
        "staff",
        "create",
        "--username",
        username,
        "--password",
        password,
        "--role",
        role,
        "--district",
        district,
    ]);
    let (status, session) =
        call(app, "POST", "/v1/staff/sessions", None, Some(&json!({"username": username, "password": password}))).await;
    assert_eq!(status, 200, "{session}");
    let v: Value = serde_json::from_str(&session).unwrap();
    v["token"].as_str().expect("a staff token").to_owned()
}

/// Citizen A's resources (and the ids a walker fills in), made through the API as A would.
struct Owned {
    /// Path parameter values by path prefix and parameter name.
    ids: Vec<(&'static str, &'static str, String)>,
    /// Strings only A (or A's district clerk) may read.
    secrets: Vec<String>,
}

impl Owned {
    fn value(&self, path: &str, param: &str) -> Option<&str> {
        self.ids
            .iter()
            .filter(|(prefix, name, _)| path.starts_with(prefix) && *name == param)
            .max_by_key(|(prefix, _, _)| prefix.len())
            .map(|(_, _, v)| v.as_str())
    }
}

async fn make_owned(app: &TestApp, alice: &str, clerk_x: &str) -> Owned {
    let mut ids = Vec::new();
    let json = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let (_, me) = call(app, "GET", "/v1/me", Some(alice), None).await;
    let citizen_id = json(&me)["id"].as_str().unwrap().to_owned();
    ids.push(("/v1/internal/", "citizen_id", citizen_id.clone()));

    let body = json!({"name": "陈小红", "id_number": id_number("51010419850612003"), "relation": "self", "phone": "13800138000"});
    let (status, person) = call(app, "POST", "/v1/me/people", Some(alice), Some(&body)).await;
    assert_eq!(status, 201, "{person}");
    let person = json(&person);
    ids.push(("/v1/me/people", "person_id", person["id"].as_str().unwrap().to_owned()));

    let (appt, doctor, session_id, _) = book_somewhere(app, alice, person["id"].as_str().unwrap()).await;
    ids.push(("/v1/booking/appointments", "appointment_id", appt["id"].as_str().unwrap().to_owned()));
    ids.push(("/v1/booking/doctors", "doctor_id", doctor["id"].as_str().unwrap().to_owned()));
    ids.push(("/v1/booking/hospitals", "hospital_id", doctor["hospital_id"].as_str().unwrap().to_owned()));
    ids.push(("/v1/booking/departments", "department_id", doctor["department_id"].as_str().unwrap().to_owned()));
    ids.push(("/v1/booking/sessions", "session_id", session_id));

    let body = json!({"district_code": "510104", "label": "home"});
    let (status, alert) = call(app, "POST", "/v1/air/alerts", Some(alice), Some(&body)).await;
    assert_eq!(status, 201, "{alert}");
    ids.push(("/v1/air/alerts", "id", json(&alert)["id"].as_str().unwrap().to_owned()));
    ids.push(("/v1/air/stations", "code", "1431A".into()));
    ids.push(("/v1/air/districts", "code", "510104".into()));

    let boundary = "----walk-boundary";
    let mut upload = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    upload.extend_from_slice(PNG);
    upload.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let resp = app
        .http
        .post(app.url("/v1/incidents/photos"))
        .bearer_auth(alice)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let photo: Value = resp.json().await.unwrap();
    let body = json!({
        "category": "pothole",
        "description": "Deep pothole by the walk test",
        "location": {"lat": CHUNXI_GCJ02.0, "lon": CHUNXI_GCJ02.1, "crs": "gcj02"},
        "answers": {"size": "large"},
        "photo_ids": [photo["id"]],
    });
    let (status, report) = call(app, "POST", "/v1/incidents", Some(alice), Some(&body)).await;
    assert_eq!(status, 201, "{report}");
    let report_id = json(&report)["id"].as_str().unwrap().to_owned();
    ids.push(("/v1/incidents/photos", "id", photo["id"].as_str().unwrap().to_owned()));
    ids.push(("/v1/incidents", "id", report_id.clone()));
    // The district clerk takes it: a workflow state only the district's clerks may see.
    let (status, taken) =
        call(app, "POST", &format!("/v1/incidents/queue/{report_id}/assignment"), Some(clerk_x), Some(&json!({})))
            .await;
    assert_eq!(status, 200, "{taken}");

    let body = json!({"biller_id": "cd-power", "account_no": "3100123456", "label": "home"});
    let (status, account) = call(app, "POST", "/v1/payments/accounts", Some(alice), Some(&body)).await;
    assert_eq!(status, 200, "{account}");
    let account = json(&account);
    ids.push(("/v1/payments/accounts", "id", account["id"].as_str().unwrap().to_owned()));
    let (_, bills) = call(
        app,
        "GET",
        &format!("/v1/payments/accounts/{}/bills", account["id"].as_str().unwrap()),
        Some(alice),
        None,
    )
    .await;
    if let Some(bill) = json(&bills).as_array().and_then(|b| b.iter().find(|b| b["status"] == "unpaid").cloned()) {
        let body = json!({"kind": "bill", "bill_id": bill["id"], "payer_openid": "oWalkAlice"});
        let (status, order) = call(app, "POST", "/v1/payments/orders", Some(alice), Some(&body)).await;
        assert_eq!(status, 200, "{order}");
        ids.push(("/v1/payments/orders", "id", json(&order)["id"].as_str().unwrap().to_owned()));
    }

    let (_, staff_me) = call(app, "GET", "/v1/staff/me", Some(clerk_x), None).await;
    ids.push(("/v1/staff/members", "staff_id", json(&staff_me)["id"].as_str().unwrap_or_default().to_owned()));

    let secrets = vec![
        citizen_id,
        person["id_number_hash"].as_str().unwrap().to_owned(),
        person["id"].as_str().unwrap().to_owned(),
        "138****8000".to_owned(),
        "3100123456".to_owned(),
    ];
    Owned { ids, secrets }
}

/// Books the first free slot two to six days ahead (released, before any cut-off) for
/// `person_id`: the appointment, its doctor, its session id, and the session's other free slots.
async fn book_somewhere(app: &TestApp, token: &str, person_id: &str) -> (Value, Value, String, Vec<String>) {
    let json = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let (_, doctors) = call(app, "GET", "/v1/booking/doctors?limit=50", None, None).await;
    let day = |n: i64| {
        use city_platform::time::{city_date, from_ms, now_ms};
        city_date(from_ms(now_ms() + n * 86_400_000)).to_string()
    };
    let (first, last) = (day(2), day(6));
    for doctor in json(&doctors).as_array().unwrap() {
        let doctor_id = doctor["id"].as_str().unwrap();
        let (_, sessions) = call(app, "GET", &format!("/v1/booking/doctors/{doctor_id}/sessions"), None, None).await;
        for s in json(&sessions).as_array().cloned().unwrap_or_default() {
            let d = s["date"].as_str().unwrap_or("");
            if d < first.as_str() || d > last.as_str() || s["n_free"].as_i64().unwrap_or(0) < 2 {
                continue;
            }
            let session_id = s["id"].as_str().unwrap_or_default().to_owned();
            let (_, slots) =
                call(app, "GET", &format!("/v1/booking/doctors/{doctor_id}/slots?date={d}"), None, None).await;
            let free: Vec<String> = json(&slots)["slots"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|x| x["free"] == true && x["session_id"] == session_id.as_str())
                        .filter_map(|x| x["id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let Some((slot, rest)) = free.split_first() else { continue };
            let body = json!({"slot_id": slot, "person_id": person_id});
            let (status, appt) = call(app, "POST", "/v1/booking/appointments", Some(token), Some(&body)).await;
            assert_eq!(status, 201, "{appt}");
            return (json(&appt), doctor.clone(), session_id, rest.to_vec());
        }
    }
    panic!("the demo schedule has no free slots in the coming days");
}

#[tokio::test]
async fn a_family_account_sharing_an_id_number_learns_nothing_of_the_holders_own_visits() {
    let app = spawn_app().await;
    let number = id_number("51010419850612003");
    let holder = app.citizen_token("bk-holder").await;
    let body = json!({"name": "陈小红", "id_number": number, "relation": "self", "phone": "13800138000"});
    let (status, own) = call(&app, "POST", "/v1/me/people", Some(&holder), Some(&body)).await;
    assert_eq!(status, 201, "{own}");
    let own: Value = serde_json::from_str(&own).unwrap();
    // A second account that proved her phone (say, a relative managing her visits).
    let relative = app.citizen_token("bk-relative").await;
    let code = phone_code(&app, "13800138000").await;
    let body = json!({"name": "陈小红", "id_number": number, "relation": "parent", "phone_code": code});
    let (status, theirs) = call(&app, "POST", "/v1/me/people", Some(&relative), Some(&body)).await;
    assert_eq!(status, 201, "{theirs}");
    let theirs: Value = serde_json::from_str(&theirs).unwrap();

    let (_, _, _, more) = book_somewhere(&app, &holder, own["id"].as_str().unwrap()).await;
    let next = more.first().expect("a second free slot in the session");
    // The holder's second try names her own visit; the relative's is a plain refusal.
    let body = json!({"slot_id": next, "person_id": own["id"]});
    let (status, mine) = call(&app, "POST", "/v1/booking/appointments", Some(&holder), Some(&body)).await;
    assert_eq!(status, 409, "{mine}");
    assert!(mine.contains("booking-limit-exceeded") && mine.contains("booked from this account"), "{mine}");
    let body = json!({"slot_id": next, "person_id": theirs["id"]});
    let (status, plain) = call(&app, "POST", "/v1/booking/appointments", Some(&relative), Some(&body)).await;
    assert_eq!(status, 409, "{plain}");
    let plain: Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(plain["type"], "/problems/patient-not-bookable", "{plain}");
    assert!(!plain.to_string().contains("booked from this account"), "{plain}");
    app.stop().await;
}

/// What an attacker may legitimately get a 2xx for: public views of public things (and "me too"
/// on a report for another citizen). Their bodies are still searched for A's secrets.
fn is_public(method: &str, template: &str) -> bool {
    matches!(
        (method, template),
        ("GET", "/v1/incidents/{id}")
            | ("GET", "/v1/incidents/{id}/share")
            | ("GET", "/v1/incidents/{id}/share.png")
            | ("GET", "/v1/incidents/photos/{id}")
            | ("GET", "/v1/incidents/photos/{id}/thumbnail")
            | ("POST", "/v1/incidents/{id}/followers")
            | ("GET", "/v1/air/stations/{code}")
            | ("GET", "/v1/air/districts/{code}/share")
            | ("GET", "/v1/air/districts/{code}/share.png")
            | ("GET", "/v1/booking/hospitals/{hospital_id}")
            | ("GET", "/v1/booking/doctors/{doctor_id}")
            | ("GET", "/v1/booking/doctors/{doctor_id}/sessions")
            | ("GET", "/v1/booking/doctors/{doctor_id}/slots")
            | ("GET", "/v1/booking/doctors/{doctor_id}/share")
            | ("GET", "/v1/booking/doctors/{doctor_id}/share.png")
    )
}

/// A body each mutation would accept from its rightful caller, so a refusal is about who asks.
fn body_for(template: &str, owned: &Owned) -> Value {
    let report = owned.value("/v1/incidents", "id").unwrap_or_default();
    match template {
        "/v1/incidents/queue/{id}/state" => json!({"state": "in_progress", "internal_note": "walk"}),
        "/v1/incidents/queue/{id}/notes" => json!({"text": "walk", "public": false}),
        "/v1/incidents/queue/{id}/merge" => json!({"into": report}),
        "/v1/incidents/queue/{id}/moderation" => json!({"approve": true}),
        "/v1/incidents/queue/{id}/routing" => json!({"category": "pothole"}),
        "/v1/booking/suspensions/{suspension_id}/lift" => json!({"reason": "walk"}),
        "/v1/booking/sessions/{session_id}/stop" => json!({"reason": "walk"}),
        "/v1/air/stations/{code}" => json!({"name": "Walk", "lat": 30.66, "lon": 104.06}),
        "/v1/booking/hospitals/{hospital_id}/rules" | "/v1/booking/departments/{department_id}/rules" => {
            json!({"release_days": 3})
        }
        _ => json!({}),
    }
}

#[tokio::test]
async fn every_id_path_of_the_document_refuses_another_citizen_another_districts_clerk_and_no_credential() {
    let app = spawn_app().await;
    let alice = app.citizen_token("walk-alice").await;
    let bob = app.citizen_token("walk-bob").await;
    let clerk_x = staff_member(&app, "walk.clerk.jinjiang", "clerk", "510104").await;
    let clerk_y = staff_member(&app, "walk.clerk.shuangliu", "clerk", "510116").await;
    let owned = make_owned(&app, &alice, &clerk_x).await;

    let (status, doc) = call(&app, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let mut walked = 0;
    let mut with_owned_ids = 0;
    for (template, ops) in doc["paths"].as_object().unwrap() {
        if !template.contains('{') {
            continue;
        }
        for method in ["get", "post", "put", "delete"] {
            if ops.get(method).is_none() {
                continue;
            }
            let mut path = template.clone();
            let mut all_owned = true;
            for param in template.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                let value = owned.value(template, param).map(str::to_owned).unwrap_or_else(|| {
                    all_owned = false;
                    format!("walk-{}", uuid::Uuid::new_v4())
                });
                path = path.replace(&format!("{{{param}}}"), &value);
            }
            with_owned_ids += usize::from(all_owned);
            let m = method.to_ascii_uppercase();
            let body = (m != "GET").then(|| body_for(template, &owned));
            for (who, token) in [
                ("citizen B", Some(bob.as_str())),
                ("clerk of another district", Some(clerk_y.as_str())),
                ("no credential", None),
            ] {
                let (status, text) = call(&app, &m, &path, token, body.as_ref()).await;
                assert!(status < 500, "{who}: {m} {path} answered {status}: {text}");
                if (200..300).contains(&status) {
                    assert!(is_public(&m, template), "{who} reached {m} {template}: {status} {text}");
                    for secret in &owned.secrets {
                        assert!(!text.contains(secret.as_str()), "{who}: {m} {path} showed A's {secret}: {text}");
                    }
                } else {
                    assert!(
                        [400, 401, 403, 404, 405, 409, 412, 422, 428].contains(&status),
                        "{who}: {m} {path} answered {status}: {text}"
                    );
                }
                walked += 1;
            }
        }
    }
    assert!(walked >= 120 && with_owned_ids >= 30, "walked {walked} calls, {with_owned_ids} operations on A's own ids");

    // Nothing of A's changed: the person, the booking, the alert, the report and its clerk.
    let get = |path: String, token: String| {
        let app = &app;
        async move { call(app, "GET", &path, Some(&token), None).await }
    };
    let person = owned.value("/v1/me/people", "person_id").unwrap();
    assert_eq!(get(format!("/v1/me/people/{person}"), alice.clone()).await.0, 200);
    let appt = owned.value("/v1/booking/appointments", "appointment_id").unwrap();
    let (status, a) = get(format!("/v1/booking/appointments/{appt}"), alice.clone()).await;
    assert_eq!(status, 200);
    assert!(!a.contains("\"cancelled\""), "{a}");
    let (_, alerts) = get("/v1/air/alerts".into(), alice.clone()).await;
    assert!(alerts.contains(owned.value("/v1/air/alerts", "id").unwrap()), "{alerts}");
    let report = owned.value("/v1/incidents", "id").unwrap();
    let (status, r) = get(format!("/v1/incidents/queue/{report}"), clerk_x.clone()).await;
    assert_eq!(status, 200);
    let r: Value = serde_json::from_str(&r).unwrap();
    assert_eq!(r["report"]["state"], "open", "{r}");
    assert_eq!(get("/v1/staff/me".into(), clerk_x.clone()).await.0, 200, "clerk X is still enabled");
    app.stop().await;
}
