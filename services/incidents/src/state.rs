//! What the incidents handlers and use cases share.

use city_platform::{Db, Platform};

use crate::domain::Catalogue;
use crate::safety::SharedSafety;

/// What the incidents handlers share.
pub struct IncidentsState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
    /// Categories, agencies, routing, templates.
    pub catalogue: Catalogue,
    /// The content-safety check.
    pub safety: SharedSafety,
}
