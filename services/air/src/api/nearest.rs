//! The `/v1/air/nearest` body, written from pre-rendered members instead of a tree per request.

use serde::Serialize;

use crate::domain::Scheme;
use crate::engine::{Nearest, NearestFound};

/// Writes `value` as JSON (a number or string) onto `out`.
fn push_json<V: Serialize + ?Sized>(out: &mut Vec<u8>, value: &V) {
    // Writing into a Vec cannot fail, and these values (f64 already rounded, &str) always serialise.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Metres rounded to a decimetre, as shown.
fn shown_m(d: f64) -> f64 {
    (d * 10.0).round() / 10.0
}

/// The `/v1/air/nearest` body of a lookup, from the station's pre-rendered members: the same
/// JSON as [`NearestView`] (a test holds them equal), without building and walking a tree per request.
pub fn render_nearest(scheme: Scheme, near: &Nearest, found: &NearestFound, fragment: &str) -> Vec<u8> {
    let head = near.index.head(found.position);
    let mut out = Vec::with_capacity(head.len() + fragment.len() + 96 + near.skipped.len() * 64);
    out.extend_from_slice(b"{\"scheme\":\"");
    out.extend_from_slice(scheme.id().as_bytes());
    out.extend_from_slice(b"\",\"station\":{");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(b",\"distance_m\":");
    push_json(&mut out, &shown_m(found.distance_m));
    out.extend_from_slice(b"},");
    out.extend_from_slice(fragment.as_bytes());
    out.extend_from_slice(if near.skipped.is_empty() {
        b",\"fell_back\":false,\"skipped\":["
    } else {
        b",\"fell_back\":true,\"skipped\":["
    });
    for (i, (position, d)) in near.skipped.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"code\":");
        push_json(&mut out, near.index.all()[*position as usize].code.as_str());
        out.extend_from_slice(b",\"distance_m\":");
        push_json(&mut out, &shown_m(*d));
        out.extend_from_slice(b",\"reason\":\"stale\"}");
    }
    out.extend_from_slice(b"]}");
    out
}
