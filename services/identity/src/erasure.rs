//! Closing a citizen's account (issue #23, PIPL art. 47): `DELETE /v1/me`.
//!
//! Other services are asked through their own citizen routes with the citizen's own
//! `Authorization` header (as the export reads them), so this service never touches their
//! tables: payments' orders decide whether a payment is in flight (then nothing changes and the
//! answer names the orders), and each upcoming appointment is cancelled through booking's cancel
//! route, so its refund takes the usual path. Then, in one identity transaction, the citizen's
//! rows go, every session is revoked, `identity.citizen_erased` is queued for the other services
//! (each erases or anonymises its own rows on it), the audit log's entries naming the citizen are
//! rewritten to `erased`, and the closing is audited, itself naming nobody (`citizen:erased`): the
//! law keeps the audit of what was done, not whose account it was.

use city_platform::audit::{self, AuditEntry};
use city_platform::outbox;
use city_platform::peers::trace_headers;
use city_platform::time::now_ms;
use city_platform::Problem;
use serde_json::{json, Value};

use crate::domain::citizen_id::CitizenId;
use crate::state::IdentityState;
use crate::{errors, store, NAME};

/// The event the other services erase on.
pub const TOPIC: &str = city_platform::erasure::TOPIC;

/// Order states of payments in which money may still move: created and not yet paid or closed.
const IN_FLIGHT_ORDER_STATES: &[&str] = &["pending"];

/// Appointment states that are still ahead and hold a number (or a paid fee).
const UPCOMING_APPOINTMENT_STATES: &[&str] = &["pending_payment", "offered", "booked"];

/// Closes the account of the citizen whose `authorization` header this is.
pub async fn close_account(s: &IdentityState, citizen_id: &str, authorization: &str) -> Result<(), Problem> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let citizen = CitizenId::new(citizen_id.to_owned());
    let orders = get_list(s, &http, "payments", "/v1/payments/orders", authorization).await?;
    let in_flight = ids_in(&orders, "state", IN_FLIGHT_ORDER_STATES);
    if !in_flight.is_empty() {
        return Err(pending("orders", "payments in flight; pay or let them close first", &in_flight));
    }
    let appointments = get_list(s, &http, "booking", "/v1/booking/appointments", authorization).await?;
    let mut not_cancelled = Vec::new();
    // Booking sorts them: `upcoming` holds exactly the ones still ahead.
    for id in ids_in(&appointments["upcoming"], "status", UPCOMING_APPOINTMENT_STATES) {
        if !cancel_appointment(s, &http, &id, authorization).await? {
            not_cancelled.push(id);
        }
    }
    if !not_cancelled.is_empty() {
        return Err(pending("appointments", "past their cancellation deadline", &not_cancelled));
    }
    erase(s, &citizen).await.map_err(|e| Problem::internal_from(&e))
}

/// The identity transaction: rows, sessions, the event, the audit entry.
async fn erase(s: &IdentityState, citizen: &CitizenId) -> Result<(), sqlx::Error> {
    let openids = store::openids_of(&s.db, citizen).await?.unwrap_or_default();
    let openid_of = |appid: &str| openids.iter().find(|(a, _)| a == appid).map(|(_, o)| o.clone());
    let event = json!({
        "citizen_id": citizen.as_str(),
        "oa_openid": openid_of(&s.wechat.oa_appid),
        "mp_openid": openid_of(&s.wechat.mp_appid),
    });
    let now = now_ms();
    // Written through the outbox, so it reaches the log after the rewrite below: it must not
    // name the citizen itself. An entry of theirs still on its way (an export just before the
    // closing) lands with the id; the rewrite covers what the log already holds.
    let entry = AuditEntry {
        actor_id: store::ERASED.into(),
        actor_name: "citizen".into(),
        service: NAME.into(),
        action: "close_citizen_account".into(),
        target: format!("citizen:{}", store::ERASED),
        before: None,
        after: None,
        request_id: city_platform::request_id::current(),
        at_ms: now,
    };
    let mut tx = s.db.begin_write().await?;
    let hashes = store::erase_citizen(&mut tx, citizen).await?;
    outbox::enqueue(&mut tx, TOPIC, &event).await?;
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    s.sessions.forget_tokens(&hashes).await;
    Ok(())
}

/// 409 naming the pending things under `field`.
fn pending(field: &str, why: &str, ids: &[String]) -> Problem {
    Problem::of(&errors::ACCOUNT_CLOSE_PENDING)
        .with_detail(format!("the account cannot be closed yet: {field} {why}"))
        .with_field(field, ids.join(","))
}

/// The ids of the list's items whose `key` is one of `states`.
fn ids_in(list: &Value, key: &str, states: &[&str]) -> Vec<String> {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter(|item| item.get(key).and_then(Value::as_str).is_some_and(|st| states.contains(&st)))
        .filter_map(|item| item.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn base_of(s: &IdentityState, service: &str) -> Result<(city_platform::peers::Peer, String), Problem> {
    let settings = &s.platform.settings;
    let addr = settings.services.of(service).ok_or_else(|| Problem::unavailable(format!("no {service} service")))?;
    let peer = settings.peer(service, addr);
    let base = peer.base();
    Ok((peer, base))
}

fn unavailable(service: &str) -> Problem {
    Problem::unavailable(format!("the {service} service did not answer; the account was not closed"))
}

/// A citizen list route's JSON, read with the citizen's credential; 503 otherwise.
async fn get_list(
    s: &IdentityState,
    http: &reqwest::Client,
    service: &str,
    path: &str,
    authorization: &str,
) -> Result<Value, Problem> {
    let (peer, base) = base_of(s, service)?;
    let mut req = http.get(format!("{base}{path}")).header("authorization", authorization);
    for (name, value) in trace_headers() {
        req = req.header(name, value);
    }
    let res = req.send().await.map_err(|err| {
        if err.is_connect() || err.is_timeout() {
            peer.failed(&base);
        }
        tracing::warn!(error = %err, service, "closing an account: no answer");
        unavailable(service)
    })?;
    if res.status().as_u16() != 200 {
        tracing::warn!(status = res.status().as_u16(), service, "closing an account: list refused");
        return Err(unavailable(service));
    }
    res.json::<Value>().await.map_err(|_| unavailable(service))
}

/// Cancels one appointment through booking's own route: true when cancelled, false when booking
/// refuses it (409: past the deadline); 503 when booking does not answer.
async fn cancel_appointment(
    s: &IdentityState,
    http: &reqwest::Client,
    id: &str,
    authorization: &str,
) -> Result<bool, Problem> {
    let (peer, base) = base_of(s, "booking")?;
    let mut req =
        http.post(format!("{base}/v1/booking/appointments/{id}/cancel")).header("authorization", authorization);
    for (name, value) in trace_headers() {
        req = req.header(name, value);
    }
    let res = req.send().await.map_err(|err| {
        if err.is_connect() || err.is_timeout() {
            peer.failed(&base);
        }
        unavailable("booking")
    })?;
    match res.status().as_u16() {
        200 => Ok(true),
        409 | 422 => Ok(false),
        status => {
            tracing::warn!(status, "closing an account: booking's cancel refused");
            Err(unavailable("booking"))
        }
    }
}
