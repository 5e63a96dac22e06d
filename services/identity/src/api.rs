//! HTTP surface of the identity service.

use std::sync::Arc;

use poem_openapi::{OpenApi, Tags};

use crate::IdentityState;

#[derive(Tags)]
#[allow(dead_code)] // Used by the operations the service's issue adds.
enum IdentityTags {
    /// Sign-in, your profile and family members, staff sessions, API keys, the audit log.
    Identity,
}

/// The identity service's operations.
pub struct IdentityApi {
    #[allow(dead_code)] // Read by the operations that the identity issue adds.
    state: Arc<IdentityState>,
}

impl IdentityApi {
    /// The API over shared state.
    pub fn new(state: Arc<IdentityState>) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "IdentityTags::Identity")]
impl IdentityApi {}
