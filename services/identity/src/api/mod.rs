//! HTTP surface of the identity service, by resource: [`auth`] (sign-in, sign-out,
//! introspection), [`me`] (the citizen's profile and family members), [`staff`] (staff sessions,
//! members, the audit log), [`keys`] (API keys), [`internal`] (lookups for the channel service).
//! Handlers parse input and call one use case; [`problems`] turns the use cases' typed errors
//! into problems of the kinds in `crate::errors`.

use std::collections::HashMap;
use std::sync::Arc;

use city_platform::auth::{Role, Staff};
use city_platform::time::{from_ms, rfc3339};
use city_platform::Problem;
use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaApi, Registry};
use poem_openapi::{ApiResponse, OpenApi, Tags};

use crate::admin::Actor;
use crate::state::IdentityState;

mod auth;
mod contacts;
mod internal;
mod keys;
mod me;

pub use me::person_as_shown;
mod problems;
mod staff;

#[derive(Tags)]
enum IdentityTags {
    /// Sign-in, your profile and family members, staff sessions, API keys, the audit log.
    Identity,
}

/// The operations by resource, in the order the document lists them.
type Resources = (
    auth::AuthApi,
    me::MeApi,
    contacts::ContactsApi,
    staff::StaffApi,
    keys::ApiKeysApi,
    staff::AuditApi,
    internal::InternalApi,
);

/// The identity service's operations.
pub struct IdentityApi {
    resources: Resources,
}

impl IdentityApi {
    /// The API over shared state.
    pub fn new(state: Arc<IdentityState>) -> Self {
        Self {
            resources: (
                auth::AuthApi { state: state.clone() },
                me::MeApi { state: state.clone() },
                contacts::ContactsApi { state: state.clone() },
                staff::StaffApi { state: state.clone() },
                keys::ApiKeysApi { state: state.clone() },
                staff::AuditApi { state: state.clone() },
                internal::InternalApi { state },
            ),
        }
    }
}

impl OpenApi for IdentityApi {
    fn meta() -> Vec<MetaApi> {
        Resources::meta()
    }

    fn register(registry: &mut Registry) {
        Resources::register(registry);
    }

    fn add_routes(self, route_table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
        self.resources.add_routes(route_table);
    }
}

/// A created resource.
#[derive(ApiResponse)]
enum Created<T: poem_openapi::types::ToJSON> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

/// Nothing to say.
#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// An instant (UTC ms) as RFC 3339.
fn ms(at: i64) -> String {
    rfc3339(from_ms(at))
}

/// The admin acting, or 403 for any other staff member.
fn admin_only(staff: &Staff) -> Result<Actor, Problem> {
    staff.require(&[Role::Admin])?;
    Ok(Actor { id: staff.staff_id.clone(), name: staff.username.clone() })
}
