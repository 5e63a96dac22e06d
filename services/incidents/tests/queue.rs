//! The clerk queue beyond 2000 reports (issue #19): server-side filters, search, orders, pages
//! and counts, checked against the table itself; and the colleagues an assignment may name.
//! Seeded through the store's bulk writer, on whichever backend the environment selects.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use city_incidents::safety::{ContentSafety, SafetyError, Verdict};
use city_incidents::IncidentsService;
use city_platform::auth::{Citizen, Principal, Role, Scopes, Staff};
use city_platform::testing::{test_platform, StaticAuthenticator};
use city_platform::Db;
use poem::endpoint::BoxEndpoint;
use poem::test::{TestClient, TestForm, TestFormField};
use serde_json::{json, Value};
use sqlx::Row;

struct Pass;

#[async_trait]
impl ContentSafety for Pass {
    async fn check(&self, _content: &str, _openid: &str) -> Result<Verdict, SafetyError> {
        Ok(Verdict::Pass)
    }
}

fn staff(id: &str, roles: Vec<Role>, districts: &[&str]) -> Principal {
    Principal::Staff(Staff {
        staff_id: id.into(),
        username: format!("{id}.name"),
        roles,
        scopes: Scopes { districts: districts.iter().map(|d| d.to_string()).collect(), ..Default::default() },
        session_id: format!("s-{id}"),
    })
}

struct World {
    _t: city_platform::testing::TestPlatform,
    api: TestClient<BoxEndpoint<'static>>,
    db: Db,
}

const SEEDED: usize = 2600;

async fn world() -> World {
    let t = test_platform().await;
    let (api, db) = IncidentsService::start_with(t.platform.clone(), Arc::new(Pass)).await.unwrap();
    let auth = StaticAuthenticator::new();
    auth.with_token("admin", staff("st-admin", vec![Role::Clerk, Role::Admin], &[]));
    auth.with_token("jj", staff("st-jj", vec![Role::Clerk], &["510104"]));
    auth.with_token("jj2", staff("st-jj2", vec![Role::Clerk], &["510104"]));
    auth.with_token("sl", staff("st-sl", vec![Role::Clerk], &["510116"]));
    auth.with_token("alice", Principal::Citizen(Citizen { citizen_id: "c-alice".into(), session_id: "s-a".into() }));
    let catalogue = city_incidents::domain::Catalogue::demo().unwrap();
    city_incidents::seed::seed_reports(&db, &t.platform.districts, &catalogue, SEEDED, 19).await.unwrap();
    let shared: city_platform::auth::SharedAuthenticator = auth.clone();
    let api = t.client(api, &db, shared);
    World { _t: t, api, db }
}

async fn get(w: &World, token: Option<&str>, path: &str) -> (u16, Value) {
    let mut req = w.api.get(path);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let resp = req.send().await;
    let status = resp.0.status().as_u16();
    let body = resp.0.into_body().into_vec().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn sql_count(db: &Db, cond: &str) -> i64 {
    sqlx::query(&format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM incident_reports WHERE {cond}"))
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .get::<i64, _>("n")
}

async fn sql_grouped(db: &Db, col: &str, cond: &str) -> BTreeMap<String, i64> {
    sqlx::query(&format!(
        "SELECT {col} AS v, CAST(COUNT(*) AS BIGINT) AS n FROM incident_reports WHERE {cond} GROUP BY {col}"
    ))
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get::<String, _>("v"), r.get::<i64, _>("n")))
    .collect()
}

fn as_map(v: &Value) -> BTreeMap<String, i64> {
    v.as_object().unwrap().iter().map(|(k, n)| (k.clone(), n.as_i64().unwrap())).collect()
}

/// Every page of `query` at `limit` rows: the rows in order, and that no page repeats a row.
async fn walk(w: &World, token: &str, query: &str, limit: usize) -> Vec<Value> {
    let mut rows: Vec<Value> = Vec::new();
    loop {
        let (status, page) =
            get(w, Some(token), &format!("/v1/incidents/queue?{query}&limit={limit}&offset={}", rows.len())).await;
        assert_eq!(status, 200, "{page}");
        let page = page.as_array().unwrap().clone();
        let n = page.len();
        rows.extend(page);
        if n < limit {
            return rows;
        }
    }
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| r["report"]["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn counts_and_pages_of_a_queue_beyond_2000_reports_match_the_table() {
    let w = world().await;
    assert_eq!(sql_count(&w.db, "1 = 1").await, SEEDED as i64);

    // The admin's queue is the whole table: counts per filter as the table groups them.
    let (status, c) = get(&w, Some("admin"), "/v1/incidents/queue/counts").await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["all"], SEEDED as i64);
    assert_eq!(c["matching"], SEEDED as i64);
    assert_eq!(as_map(&c["state"]), sql_grouped(&w.db, "state", "1 = 1").await);
    assert_eq!(as_map(&c["category"]), sql_grouped(&w.db, "category", "1 = 1").await);
    assert_eq!(as_map(&c["district"]), sql_grouped(&w.db, "district", "1 = 1").await);
    assert_eq!(c["held"], sql_count(&w.db, "moderation IN ('review', 'pending')").await);
    assert!(c["held"].as_i64().unwrap() > 0, "about 1 in 100 seeded reports is held");
    let now = city_platform::time::now_ms();
    let overdue = c["overdue"].as_i64().unwrap();
    // Nothing is due within the seconds the test runs, so the table's count at `now` matches.
    assert_eq!(overdue, sql_count(&w.db, &format!("due_at < {now} AND is_open = TRUE")).await);
    assert!(overdue > 0 && overdue < SEEDED as i64, "{overdue}");
    assert_eq!(c["mine"], 0);

    // Every page of the whole queue (more than 2000 rows), earliest due first, none twice.
    let all = walk(&w, "admin", "", 200).await;
    assert_eq!(all.len(), SEEDED);
    assert_eq!(ids(&all).into_iter().collect::<BTreeSet<_>>().len(), SEEDED, "no row on two pages");
    let due: Vec<String> = all.iter().map(|r| r["report"]["due_at"].as_str().unwrap().to_owned()).collect();
    assert!(due.windows(2).all(|p| p[0] <= p[1]), "earliest due first");

    // A filter: its count, its pages, and the table agree.
    let (_, c) = get(&w, Some("admin"), "/v1/incidents/queue/counts?state=open,confirmed&overdue=true").await;
    let want = sql_count(&w.db, &format!("state IN ('open', 'confirmed') AND due_at < {now} AND is_open = TRUE")).await;
    assert_eq!(c["matching"], want);
    assert_eq!(c["all"], SEEDED as i64, "the per-filter counts stay the whole queue's");
    let rows = walk(&w, "admin", "state=open,confirmed&overdue=true", 50).await;
    assert_eq!(rows.len() as i64, want);
    assert!(rows
        .iter()
        .all(|r| r["overdue"] == true && ["open", "confirmed"].contains(&r["report"]["state"].as_str().unwrap())));

    let (_, c) = get(&w, Some("admin"), "/v1/incidents/queue/counts?held=true").await;
    let held = walk(&w, "admin", "held=true", 25).await;
    assert_eq!(held.len() as i64, c["matching"].as_i64().unwrap());
    assert!(held.iter().all(|r| r["moderation"] != "pass"), "held text only");

    // Newest first, across pages.
    let newest = walk(&w, "admin", "sort=new&district=510104", 100).await;
    let created: Vec<String> = newest.iter().map(|r| r["report"]["created_at"].as_str().unwrap().to_owned()).collect();
    assert!(created.windows(2).all(|p| p[0] >= p[1]), "newest first");
    assert_eq!(newest.len() as i64, sql_count(&w.db, "district = '510104'").await);

    // The district clerk counts only their district, however large the table.
    let (_, c) = get(&w, Some("jj"), "/v1/incidents/queue/counts").await;
    let jj = sql_count(&w.db, "district = '510104'").await;
    assert_eq!(c["all"], jj);
    assert_eq!(as_map(&c["district"]).into_keys().collect::<Vec<_>>(), vec!["510104".to_owned()]);
    assert_eq!(as_map(&c["state"]), sql_grouped(&w.db, "state", "district = '510104'").await);
    let (_, c) = get(&w, Some("jj"), "/v1/incidents/queue/counts?district=510116").await;
    assert_eq!(c["matching"], 0, "another district's reports are not counted, even when asked for");

    // Search by a part of a reference (case-insensitive), and by words.
    let one = &ids(&newest)[7];
    let part = one[one.len() - 10..].to_lowercase();
    let (_, found) = get(&w, Some("admin"), &format!("/v1/incidents/queue?q={part}")).await;
    assert_eq!(ids(found.as_array().unwrap()), vec![one.clone()], "{part}");
    let (_, c) = get(&w, Some("admin"), "/v1/incidents/queue/counts?q=SEEDED%20REP").await;
    assert_eq!(c["matching"], SEEDED as i64, "every seeded description matches");
    let (_, c) = get(&w, Some("admin"), "/v1/incidents/queue/counts?q=100%25").await;
    assert_eq!(c["matching"], 0, "% is a character, not a wildcard");

    // Assigned to me: counted and filtered.
    let mine: Vec<String> = ids(&newest).into_iter().take(3).collect();
    for id in &mine {
        let resp = w
            .api
            .post(format!("/v1/incidents/queue/{id}/assignment"))
            .header("Authorization", "Bearer jj")
            .body_json(&json!({}))
            .send()
            .await;
        resp.assert_status_is_ok();
    }
    let (_, c) = get(&w, Some("jj"), "/v1/incidents/queue/counts?assignee=me").await;
    assert_eq!((c["mine"].as_i64(), c["matching"].as_i64()), (Some(3), Some(3)));
    let (_, rows) = get(&w, Some("jj"), "/v1/incidents/queue?assignee=me&sort=updated").await;
    assert_eq!(ids(rows.as_array().unwrap()).into_iter().collect::<BTreeSet<_>>(), mine.into_iter().collect());

    // Bad parameters are named; the wrong callers are refused.
    let (status, p) = get(&w, Some("admin"), "/v1/incidents/queue?sort=sideways").await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("sort")), "{p}");
    let long = "x".repeat(101);
    let (status, p) = get(&w, Some("admin"), &format!("/v1/incidents/queue/counts?q={long}")).await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("q")), "{p}");
    let (status, p) = get(&w, Some("admin"), "/v1/incidents/queue?q=pot%00hole").await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("q")), "{p}");
    assert_eq!(get(&w, Some("alice"), "/v1/incidents/queue/counts").await.0, 403);
    assert_eq!(get(&w, None, "/v1/incidents/queue/counts").await.0, 401);
}

#[tokio::test]
async fn colleagues_are_the_clerks_an_assignment_would_accept() {
    let w = world().await;
    let jinjiang: Vec<String> =
        sqlx::query("SELECT id FROM incident_reports WHERE district = '510104' ORDER BY id LIMIT 3")
            .fetch_all(&w.db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("id"))
            .collect();
    let shuangliu: String = sqlx::query("SELECT id FROM incident_reports WHERE district = '510116' LIMIT 1")
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
        .get("id");
    // Each clerk acts once, so the service knows them.
    for (token, id) in [("jj", &jinjiang[0]), ("jj2", &jinjiang[1]), ("sl", &shuangliu)] {
        let resp = w
            .api
            .post(format!("/v1/incidents/queue/{id}/assignment"))
            .header("Authorization", format!("Bearer {token}"))
            .body_json(&json!({}))
            .send()
            .await;
        resp.assert_status_is_ok();
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|c| c["staff_id"].as_str().unwrap().to_owned()).collect()
    };
    let (status, c) = get(&w, Some("jj"), &format!("/v1/incidents/queue/colleagues?report={}", jinjiang[2])).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(names(&c), vec!["st-jj2"], "the other Jinjiang clerk, not me, not Shuangliu's");
    assert_eq!(c[0]["username"], "st-jj2.name");
    let (_, c) = get(&w, Some("jj"), "/v1/incidents/queue/colleagues").await;
    assert_eq!(names(&c), vec!["st-jj2"]);
    let (_, c) = get(&w, Some("admin"), "/v1/incidents/queue/colleagues").await;
    assert_eq!(names(&c).len(), 3, "an admin's scope meets every clerk's: {c}");

    // The one listed is the one the assignment takes.
    let (_, ticket) = get(&w, Some("jj"), &format!("/v1/incidents/queue/{}", jinjiang[2])).await;
    let resp = w
        .api
        .post(format!("/v1/incidents/queue/{}/assignment", jinjiang[2]))
        .header("Authorization", "Bearer jj")
        .header("If-Match", format!("\"v{}\"", ticket["version"]))
        .body_json(&json!({"staff_id": "st-jj2"}))
        .send()
        .await;
    resp.assert_status_is_ok();

    // Another district's clerk learns nothing of a report outside their scope; a citizen and
    // no credential are refused.
    let (status, _) = get(&w, Some("sl"), &format!("/v1/incidents/queue/colleagues?report={}", jinjiang[2])).await;
    assert_eq!(status, 404);
    let (_, c) = get(&w, Some("sl"), "/v1/incidents/queue/colleagues").await;
    assert!(names(&c).is_empty(), "no Jinjiang clerk for Shuangliu: {c}");
    assert_eq!(get(&w, Some("alice"), "/v1/incidents/queue/colleagues").await.0, 403);
    assert_eq!(get(&w, None, "/v1/incidents/queue/colleagues").await.0, 401);
}

fn png() -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(64, 48, image::Rgb([20, 160, 60])));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

async fn upload(w: &World, path: &str, token: &str) -> (u16, Value) {
    let resp = w
        .api
        .post(path)
        .header("Authorization", format!("Bearer {token}"))
        .multipart(TestForm::new().field(TestFormField::bytes(png()).name("photo").filename("fixed.png")))
        .send()
        .await;
    let status = resp.0.status().as_u16();
    (status, serde_json::from_slice(&resp.0.into_body().into_vec().await.unwrap()).unwrap_or(Value::Null))
}

async fn post(w: &World, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = w.api.post(path).header("Authorization", format!("Bearer {token}")).body_json(&body).send().await;
    let status = resp.0.status().as_u16();
    (status, serde_json::from_slice(&resp.0.into_body().into_vec().await.unwrap()).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_public_update_carries_the_crews_fixed_photo_to_the_citizen() {
    let w = world().await;
    let id: String =
        sqlx::query("SELECT id FROM incident_reports WHERE district = '510104' AND is_open = TRUE LIMIT 1")
            .fetch_one(&w.db.pool)
            .await
            .unwrap()
            .get("id");

    // Only a clerk uploads here.
    assert_eq!(upload(&w, "/v1/incidents/queue/photos", "alice").await.0, 403);
    let (status, photo) = upload(&w, "/v1/incidents/queue/photos", "jj").await;
    assert_eq!(status, 200, "{photo}");
    let photo_id = photo["id"].as_str().unwrap().to_owned();
    // Not public before it illustrates an update.
    assert_eq!(w.api.get(format!("/v1/incidents/photos/{photo_id}")).send().await.0.status().as_u16(), 404);

    // Another clerk cannot use it, nor can it go with an internal note or a silent state change.
    let (status, p) = post(
        &w,
        "jj2",
        &format!("/v1/incidents/queue/{id}/notes"),
        json!({"text": "Fixed", "public": true, "photo_id": photo_id}),
    )
    .await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("photo_id")), "{p}");
    let (status, p) = post(
        &w,
        "jj",
        &format!("/v1/incidents/queue/{id}/notes"),
        json!({"text": "crew photo", "public": false, "photo_id": photo_id}),
    )
    .await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("photo_id")), "{p}");
    let (status, p) = post(
        &w,
        "jj",
        &format!("/v1/incidents/queue/{id}/state"),
        json!({"state": "in_progress", "photo_id": photo_id}),
    )
    .await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("photo_id")), "{p}");
    let (_, public) = get(&w, None, &format!("/v1/incidents/{id}")).await;
    assert_eq!(public["state"], json!(public["state"].as_str().unwrap()), "refusals changed nothing");
    assert!(public["history"].as_array().unwrap().iter().all(|u| u.get("photo").is_none()));

    // Closing it as fixed with public words and the photo.
    let (status, clerk_view) = post(
        &w,
        "jj",
        &format!("/v1/incidents/queue/{id}/state"),
        json!({"state": "fixed", "public_update": "Resurfaced this morning.", "photo_id": photo_id}),
    )
    .await;
    assert_eq!(status, 200, "{clerk_view}");
    let (_, public) = get(&w, None, &format!("/v1/incidents/{id}")).await;
    let history = public["history"].as_array().unwrap();
    let entry = history.iter().find(|u| u["text_en"] == "Resurfaced this morning.").expect("the update");
    assert_eq!(entry["photo"]["id"], photo_id.as_str(), "{public}");
    let url = entry["photo"]["url"].as_str().unwrap();
    let resp = w.api.get(url).send().await;
    resp.assert_status_is_ok();
    resp.assert_content_type("image/jpeg");
    let thumb = entry["photo"]["thumbnail_url"].as_str().unwrap();
    w.api.get(thumb).send().await.assert_status_is_ok();
    assert!(
        !public["photos"].as_array().map(|p| p.iter().any(|x| x["id"] == photo_id.as_str())).unwrap_or(false),
        "the crew's photo is not among the reporter's: {public}"
    );
    let (_, clerk) = get(&w, Some("jj"), &format!("/v1/incidents/queue/{id}")).await;
    assert!(clerk["report"]["history"].as_array().unwrap().iter().any(|u| u["photo"]["id"] == photo_id.as_str()));

    // An upload is used once.
    let (status, p) = post(
        &w,
        "jj",
        &format!("/v1/incidents/queue/{id}/notes"),
        json!({"text": "Again", "public": true, "photo_id": photo_id}),
    )
    .await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("photo_id")), "{p}");
}
