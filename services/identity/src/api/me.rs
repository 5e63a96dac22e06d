//! `/v1/me`: the signed-in citizen's profile, phone, linked Service Account and family members.

use std::sync::Arc;

use city_platform::auth::{Citizen, CitizenAuth};
use city_platform::problem::kind;
use city_platform::{error_set, Failure, JsonBody, Matching, Problem};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use serde::{Deserialize, Serialize};

use super::auth::{citizen_view, CitizenView, CodeRequest};
use super::{ms, Created, Done, IdentityTags};
use crate::domain::citizen_id::CitizenId;
use crate::people::{self, PeopleError, PersonInput};
use crate::signin::{self, LinkError, SignInError};
use crate::state::IdentityState;
use crate::store::{self, PersonRow};

city_platform::pattern!(
    /// A resident ID number's shape (GB 11643); its check character is verified after.
    pub ResidentIdShape = "^[0-9]{17}[0-9Xx]$"
);

/// How a family member relates to the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The citizen themself.
    #[oai(rename = "self")]
    #[serde(rename = "self")]
    Myself,
    /// Husband or wife.
    Spouse,
    /// Father or mother.
    Parent,
    /// Son or daughter.
    Child,
    /// Brother or sister.
    Sibling,
    /// Anyone else.
    Other,
}

impl Relation {
    fn as_str(self) -> &'static str {
        match self {
            Relation::Myself => "self",
            Relation::Spouse => "spouse",
            Relation::Parent => "parent",
            Relation::Child => "child",
            Relation::Sibling => "sibling",
            Relation::Other => "other",
        }
    }
}

/// A family member to add (就诊人).
#[derive(Debug, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct NewPersonRequest {
    /// Real name as on the ID card.
    #[oai(validator(min_length = 1, max_length = 50))]
    pub name: String,
    /// Resident ID number (GB 11643): 17 digits and a check character (a digit or `X`).
    #[oai(validator(min_length = 18, max_length = 18))]
    pub id_number: Matching<ResidentIdShape>,
    /// Relation to you.
    pub relation: Relation,
    /// Mainland mobile number.
    pub phone: Option<String>,
    /// A phone-number code from the Mini Program's `getPhoneNumber` button, needed when the ID
    /// number is already on another account: its phone must be the one first recorded for the
    /// number (403 `/problems/phone-mismatch` otherwise).
    #[oai(validator(max_length = 128))]
    pub phone_code: Option<String>,
}

/// A family member, masked.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PersonView {
    /// Id.
    pub id: String,
    /// `张*`.
    pub name_masked: String,
    /// Relation to the citizen.
    pub relation: String,
    /// `male` or `female`, from the ID number.
    pub sex: String,
    /// `YYYY-MM-DD`, from the ID number.
    pub birth_date: String,
    /// `110***********002X`.
    pub id_number_masked: String,
    /// Hex HMAC-SHA256 of the ID number under a server key: stable, not reversible.
    pub id_number_hash: String,
    /// `138****8000`.
    pub phone_masked: Option<String>,
    /// Added (RFC 3339).
    pub created_at: String,
}

fn person_view(p: PersonRow) -> PersonView {
    PersonView {
        id: p.id,
        name_masked: p.name_masked,
        relation: p.relation,
        sex: p.sex,
        birth_date: p.birth_date,
        id_number_masked: p.id_number_masked,
        id_number_hash: p.id_number_hash,
        phone_masked: p.phone_masked,
        created_at: ms(p.created_at_ms),
    }
}

/// One of `citizen_id`'s family members exactly as `GET /v1/me/people/{person_id}` shows it
/// (`None` for anyone else's), read from the store: booking's lookup when both run in one
/// process, which otherwise costs a second request through the whole HTTP stack (issue #24).
pub async fn person_as_shown(
    db: &city_platform::Db,
    citizen_id: &str,
    person_id: &str,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let row = store::person_of(db, &CitizenId::new(citizen_id), person_id).await?;
    // The operation's own serialisation, so both ways give booking the same document.
    Ok(row.and_then(|p| poem_openapi::types::ToJSON::to_json(&person_view(p))))
}

fn citizen_of(c: &Citizen) -> CitizenId {
    CitizenId::new(c.citizen_id.clone())
}

error_set!(
    /// A citizen route called with a staff token.
    pub CitizenOnly = [kind::FORBIDDEN]
);
error_set!(
    /// Reading one thing of the citizen's that may not exist (or not be theirs).
    pub CitizenRead = [kind::FORBIDDEN, kind::NOT_FOUND]
);
error_set!(
    /// Binding a phone: the code's field rules, WeChat's refusal, the profile read afterwards.
    pub BindPhoneErrors = [kind::FORBIDDEN, kind::VALIDATION, kind::NOT_FOUND] + SignInError
);
error_set!(
    /// Linking the Service Account: the code's field rules, WeChat's refusal, another owner.
    pub LinkErrors = [kind::FORBIDDEN, kind::VALIDATION, kind::NOT_FOUND] + LinkError
);
error_set!(
    /// Closing the account: a citizen's only; something pending.
    pub CloseAccountErrors = [kind::FORBIDDEN, crate::errors::ACCOUNT_CLOSE_PENDING]
);
error_set!(
    /// Adding a family member.
    pub AddPersonErrors = [kind::FORBIDDEN] + PeopleError
);

/// Everything the city holds about a citizen: `citizen_id`, `generated_at` (RFC 3339) and one
/// member per part (`profile`, `people`, `preferences`, `appointments`, `waitlist`,
/// `payment_accounts`, `vehicles`, `orders`, `incidents`, `air_alerts`), each as that service's
/// own route shows it, and `channel` (Service Account conversations, subscribe-message grants).
#[derive(Debug, poem_openapi::NewType)]
#[oai(from_parameter = false, from_multipart = false, to_header = false)]
pub struct MyDataExport(serde_json::Value);

/// The data export as a ZIP archive.
#[derive(poem_openapi::ApiResponse)]
pub enum ExportZip {
    /// The archive.
    #[oai(status = 200, content_type = "application/zip")]
    Ok(
        poem_openapi::payload::Binary<Vec<u8>>,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// The signed-in citizen's own data.
pub(super) struct MeApi {
    pub(super) state: Arc<IdentityState>,
}

impl MeApi {
    async fn profile<E: city_platform::ErrorSet>(&self, citizen: &CitizenId) -> Result<Json<CitizenView>, Failure<E>> {
        let c = store::citizen(&self.state.db, citizen).await?.ok_or_else(|| Problem::not_found("citizen"))?;
        Ok(Json(citizen_view(c, &self.state)))
    }
}

#[OpenApi(tag = "IdentityTags::Identity")]
impl MeApi {
    /// Show my profile
    #[oai(path = "/v1/me", method = "get", operation_id = "get_me")]
    async fn me(&self, auth: CitizenAuth) -> Result<Json<CitizenView>, Failure<CitizenRead>> {
        self.profile(&citizen_of(&auth.0)).await
    }

    /// Download what the city holds about me
    ///
    /// One JSON document (PIPL art. 45): the profile, family members and notice preferences
    /// (masked as shown), booking appointments and waitlist entries, payment accounts, bound
    /// vehicles and orders, incident reports and air-quality alert subscriptions, each read from
    /// the owning service's own route with this request's own credential; and the Service
    /// Account conversations and subscribe-message grants the channel holds. 503 when a service
    /// cannot give its part (never a partial document). Audited.
    #[oai(path = "/v1/me/export", method = "get", operation_id = "export_my_data")]
    async fn export(&self, auth: CitizenAuth, req: &poem::Request) -> Result<Json<MyDataExport>, Failure<CitizenOnly>> {
        let authorization = req.header("authorization").unwrap_or_default();
        let doc = crate::export::export(&self.state, &auth.0.citizen_id, authorization).await?;
        Ok(Json(MyDataExport(serde_json::Value::Object(doc))))
    }

    /// Download my data with my photos (ZIP)
    ///
    /// The same document as `GET /v1/me/export`, as `export.json`, plus every photo of the
    /// caller's reports (those `GET /v1/incidents/mine` lists) as
    /// `photos/<report id>/<photo id>.jpg`, in one ZIP archive. 503 when a service cannot give
    /// its part or a photo (never a partial archive). Audited.
    #[oai(path = "/v1/me/export.zip", method = "get", operation_id = "export_my_data_zip")]
    async fn export_zip(&self, auth: CitizenAuth, req: &poem::Request) -> Result<ExportZip, Failure<CitizenOnly>> {
        let authorization = req.header("authorization").unwrap_or_default();
        let bytes = crate::export::export_zip(&self.state, &auth.0.citizen_id, authorization).await?;
        let disposition = "attachment; filename=\"city-services-my-data.zip\"".to_owned();
        Ok(ExportZip::Ok(poem_openapi::payload::Binary(bytes), disposition, "no-store".to_owned()))
    }

    /// Close my account
    ///
    /// PIPL art. 47. Refused with 409 `/problems/account-close-pending`, the account left open,
    /// when a payment is in flight (field `orders`: the pending order ids; nothing changed) or an
    /// upcoming appointment cannot be cancelled any more (field `appointments`; the others were
    /// cancelled). Otherwise every upcoming appointment is cancelled (a paid fee is refunded the
    /// usual way), the profile, family members, e-mail, preferences and WeChat links are erased,
    /// every session is revoked, and the other services erase or anonymise what they hold
    /// (payments keeps its orders without the citizen's ids). Audited. A second call is harmless: its session is gone, so it is 401 (`Idempotency-Key`
    /// does not apply, it replays only POST), and nothing more changes. Signing in again with
    /// WeChat makes a new citizen with no records.
    #[oai(path = "/v1/me", method = "delete", operation_id = "close_my_account")]
    async fn close(&self, auth: CitizenAuth, req: &poem::Request) -> Result<Done, Failure<CloseAccountErrors>> {
        let authorization = req.header("authorization").unwrap_or_default();
        crate::erasure::close_account(&self.state, &auth.0.citizen_id, authorization).await?;
        Ok(Done::NoContent)
    }

    /// Bind my phone number
    ///
    /// Exchanges a phone-number code from the Mini Program's `getPhoneNumber` button. The number
    /// is stored encrypted and shown masked.
    #[oai(path = "/v1/me/phone", method = "post", operation_id = "bind_my_phone")]
    async fn bind_phone(
        &self,
        auth: CitizenAuth,
        body: JsonBody<CodeRequest>,
    ) -> Result<Json<CitizenView>, Failure<BindPhoneErrors>> {
        let citizen = citizen_of(&auth.0);
        signin::bind_phone(&self.state, &citizen, body.0.code.trim()).await?;
        self.profile(&citizen).await
    }

    /// Link my Service Account
    ///
    /// While signed in, attaches the Service Account identity behind an OAuth code to this
    /// citizen, for people whose apps give no unionid. 409 when that identity already belongs to
    /// another citizen.
    #[oai(path = "/v1/me/links/service-account", method = "post", operation_id = "link_my_service_account")]
    async fn link_oa(
        &self,
        auth: CitizenAuth,
        body: JsonBody<CodeRequest>,
    ) -> Result<Json<CitizenView>, Failure<LinkErrors>> {
        let citizen = citizen_of(&auth.0);
        signin::link_service_account(&self.state, &citizen, body.0.code.trim()).await?;
        self.profile(&citizen).await
    }

    /// List my family members
    #[oai(path = "/v1/me/people", method = "get", operation_id = "list_my_people")]
    async fn list_people(&self, auth: CitizenAuth) -> Result<Json<Vec<PersonView>>, Failure<CitizenOnly>> {
        let rows = store::people(&self.state.db, &citizen_of(&auth.0)).await?;
        Ok(Json(rows.into_iter().map(person_view).collect()))
    }

    /// Add a family member
    ///
    /// Real name and resident ID number (checked: GB 11643 check character and a real date of
    /// birth; 422 naming `id_number` otherwise). Sex and date of birth come from the number. At
    /// most 5 per citizen (409 `/problems/people-limit`); the same number twice is 409
    /// `/problems/person-exists`. The name is checked with the real-name authority. One number
    /// sits on at most `identity.max_accounts_per_id_number` accounts (409
    /// `/problems/id-number-accounts-limit`); when it is already on another account, send
    /// `phone_code` for the phone first recorded for it (409 `/problems/phone-proof-required`
    /// without one).
    #[oai(path = "/v1/me/people", method = "post", operation_id = "create_my_person")]
    async fn add_person(
        &self,
        auth: CitizenAuth,
        body: JsonBody<NewPersonRequest>,
    ) -> Result<Created<PersonView>, Failure<AddPersonErrors>> {
        let b = body.0;
        let input = PersonInput {
            name: b.name,
            id_number: b.id_number.into_string(),
            relation: b.relation.as_str(),
            phone: b.phone,
            phone_code: b.phone_code,
        };
        let row = people::add(&self.state, &citizen_of(&auth.0), input).await?;
        Ok(Created::Created(Json(person_view(row))))
    }

    /// Show one of my family members
    ///
    /// 404 for anyone else's.
    #[oai(path = "/v1/me/people/:person_id", method = "get", operation_id = "get_my_person")]
    async fn get_person(
        &self,
        auth: CitizenAuth,
        person_id: Path<String>,
    ) -> Result<Json<PersonView>, Failure<CitizenRead>> {
        let row = store::person_of(&self.state.db, &citizen_of(&auth.0), &person_id.0)
            .await?
            .ok_or_else(|| Problem::not_found("person"))?;
        Ok(Json(person_view(row)))
    }

    /// Remove one of my family members
    #[oai(path = "/v1/me/people/:person_id", method = "delete", operation_id = "delete_my_person")]
    async fn delete_person(&self, auth: CitizenAuth, person_id: Path<String>) -> Result<Done, Failure<CitizenRead>> {
        if people::remove(&self.state, &citizen_of(&auth.0), &person_id.0).await? {
            Ok(Done::NoContent)
        } else {
            Err(Problem::not_found("person").into())
        }
    }
}
