//! The report aggregate as the use cases, the store and both surfaces see it: its id, its
//! stored fields, its history entries. Pure data; who may see which field is `access`'s
//! business.

use std::fmt;

/// A report's id (UUIDv7 text), also the Open311 `service_request_id`. A type of its own so a
/// report id is never passed where a citizen, staff, photo or update id is meant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ReportId(String);

impl ReportId {
    /// A fresh id for a new report.
    pub fn new() -> Self {
        Self(city_platform::ids::new_id())
    }

    /// The id as text (for SQL binds, URLs, events).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as owned text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl Default for ReportId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<String> for ReportId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for ReportId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for ReportId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// The content-safety verdict that makes a report's text public (see `access::text_is_public`).
pub const MODERATION_PASS: &str = "pass";

/// A stored report, as read back.
#[derive(Debug, Clone)]
pub struct Report {
    /// Id (UUIDv7), also the Open311 `service_request_id`.
    pub id: ReportId,
    /// The reporting citizen, when signed in.
    pub citizen_id: Option<String>,
    /// The name the reporter chose to show (never shown when anonymous).
    pub reporter_name: Option<String>,
    /// Hide the reporter's name publicly.
    pub anonymous: bool,
    /// `miniprogram` or `open311`.
    pub channel: String,
    /// Open311 contact details (JSON); shown to no one (see `access::Field::Contact`).
    pub contact: Option<String>,
    /// Category code.
    pub category: String,
    /// Responsible agency id.
    pub agency: String,
    /// District code.
    pub district: String,
    /// State code.
    pub state: String,
    /// The report's text.
    pub description: String,
    /// Address text.
    pub address: String,
    /// Answers to the category's questions (JSON object).
    pub attributes: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// The datum the reporter sent.
    pub orig_crs: String,
    /// Latitude as sent.
    pub orig_lat: f64,
    /// Longitude as sent.
    pub orig_lon: f64,
    /// Content-safety verdict: `pass`, `review`, `pending` (check unreachable) or `rejected`
    /// (a clerk kept it hidden).
    pub moderation: String,
    /// Assigned clerk.
    pub assignee_id: Option<String>,
    /// Assigned clerk's name.
    pub assignee_name: Option<String>,
    /// The report this one duplicates.
    pub duplicate_of: Option<ReportId>,
    /// How many photos.
    pub n_photos: i64,
    /// How many "me too" followers.
    pub n_followers: i64,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// Created, UTC ms.
    pub created_at: i64,
    /// Last changed, UTC ms.
    pub updated_at: i64,
    /// Due by (SLA), UTC ms.
    pub due_at: i64,
    /// Closed at, UTC ms.
    pub closed_at: Option<i64>,
}

/// One entry of a report's history.
#[derive(Debug, Clone)]
pub struct Update {
    /// Id.
    pub id: String,
    /// When, UTC ms.
    pub at: i64,
    /// `created`, `public`, `internal`.
    pub kind: String,
    /// State before.
    pub state_from: Option<String>,
    /// State after.
    pub state_to: Option<String>,
    /// Chinese text.
    pub text_zh: String,
    /// English text.
    pub text_en: String,
    /// The clerk who wrote it.
    pub staff_id: Option<String>,
    /// Their name.
    pub staff_name: Option<String>,
}

impl Update {
    /// Whether the entry is an internal note (staff only, see `access::Field::InternalNotes`).
    pub fn is_internal(&self) -> bool {
        self.kind == "internal"
    }
}
