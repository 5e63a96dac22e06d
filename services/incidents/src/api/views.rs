//! Reports as responses: what `reports::read` shows a principal ([`Seen`]) in the API's shapes,
//! in the datum the client asked for. Whether a field is shown was decided by
//! `domain::access`; this only renders.

use city_platform::coords::{Crs, LatLon};
use city_platform::time::{from_ms, now_ms, rfc3339};

use super::dto::{Incident, IncidentAgency, IncidentForClerk, IncidentPhoto, IncidentPoint, IncidentUpdate};
use crate::domain::{Report, State, Update};
use crate::reports::read::Seen;
use crate::IncidentsState;

/// The report as its principal may see it.
pub fn incident(state: &IncidentsState, seen: Seen, crs: Crs) -> Incident {
    let Seen { report: r, text, reporter_name, photos, history, .. } = seen;
    let agency = state.catalogue.agency(&r.agency);
    let (lat, lon) = LatLon::new(r.lat, r.lon).map(|p| p.to_crs(crs)).unwrap_or((r.lat, r.lon));
    Incident {
        id: r.id.to_string(),
        category: r.category.clone(),
        state: r.state.clone(),
        status: State::parse(&r.state).map(State::open311_status).unwrap_or("open").into(),
        description: text.then(|| r.description.clone()),
        address: if text { r.address.clone() } else { String::new() },
        location: IncidentPoint { lat: round6(lat), lon: round6(lon), crs: crs.code().into() },
        district: r.district.clone(),
        agency: IncidentAgency {
            id: r.agency.clone(),
            name_zh: agency.map(|a| a.name_zh.clone()).unwrap_or_default(),
            name_en: agency.map(|a| a.name_en.clone()).unwrap_or_default(),
        },
        reporter_name,
        photos: photos.into_iter().map(photo).collect(),
        answers: serde_json::from_str(&r.attributes).unwrap_or_default(),
        created_at: rfc3339(from_ms(r.created_at)),
        updated_at: rfc3339(from_ms(r.updated_at)),
        due_at: rfc3339(from_ms(r.due_at)),
        followers: r.n_followers,
        duplicate_of: r.duplicate_of.as_ref().map(ToString::to_string),
        history: history.into_iter().map(update).collect(),
    }
}

/// The report as a clerk who may handle it sees it (WGS-84), with its workflow fields.
pub fn for_clerk(state: &IncidentsState, seen: Seen) -> IncidentForClerk {
    let r = seen.report.clone();
    IncidentForClerk {
        report: incident(state, seen, Crs::Wgs84),
        version: r.version,
        moderation: r.moderation.clone(),
        overdue: is_overdue(&r, now_ms()),
        assignee_id: r.assignee_id.clone(),
        assignee_name: r.assignee_name.clone(),
        channel: r.channel.clone(),
        original_location: IncidentPoint { lat: r.orig_lat, lon: r.orig_lon, crs: r.orig_crs },
    }
}

fn update(u: Update) -> IncidentUpdate {
    IncidentUpdate {
        id: u.id,
        at: rfc3339(from_ms(u.at)),
        kind: u.kind,
        state_from: u.state_from,
        state_to: u.state_to,
        text_zh: u.text_zh,
        text_en: u.text_en,
        staff_name: u.staff_name,
        photo: None,
    }
}

/// An uploaded photo's URLs.
pub fn photo(id: String) -> IncidentPhoto {
    IncidentPhoto {
        url: format!("/v1/incidents/photos/{id}"),
        thumbnail_url: format!("/v1/incidents/photos/{id}/thumbnail"),
        id,
    }
}

/// Puts each update's photo (`(update id, photo id)` pairs) on its history entry.
pub fn with_update_photos(history: &mut [IncidentUpdate], pairs: Vec<(String, String)>) {
    for (update_id, photo_id) in pairs {
        if let Some(u) = history.iter_mut().find(|u| u.id == update_id) {
            u.photo = Some(photo(photo_id));
        }
    }
}

/// Past its due date and still open.
pub fn is_overdue(r: &Report, now: i64) -> bool {
    r.due_at < now && State::parse(&r.state).map(State::is_open).unwrap_or(false)
}

/// The `ETag` of a version.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// Coordinates to six decimals (about 0.1 m).
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
