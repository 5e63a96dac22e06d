//! `/v1/me/email`, `/v1/me/preferences`: the citizen's e-mail address and which channels each
//! kind of notice goes on (issue #23). The confirmation and unsubscribe links work without
//! sign-in: they are opened from a mail client.

use std::sync::Arc;

use city_platform::auth::CitizenAuth;
use city_platform::problem::{kind, ErrorKind, IntoProblem};
use city_platform::{error_set, ErrorSet, Failure, JsonBody, Problem};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::IdentityTags;
use crate::contacts::{self, ContactsError};
use crate::domain::citizen_id::CitizenId;
use crate::state::IdentityState;

/// An address to confirm.
#[derive(Debug, Object, Deserialize)]
pub struct EmailRequest {
    /// The address; a confirmation link is mailed to it and it is kept only once confirmed.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
}

/// Where the confirmation went.
#[derive(Debug, Object)]
pub struct EmailPendingView {
    /// The address, masked (`c***@example.cn`).
    pub email_masked: String,
    /// Always `confirmation_sent`: the address counts once its link is opened.
    pub status: String,
}

/// A confirmed address.
#[derive(Debug, Object)]
pub struct EmailConfirmedView {
    /// The address, masked.
    pub email_masked: String,
}

/// The channels of one kind of notice.
#[derive(Debug, Object, Deserialize)]
pub struct NoticePreference {
    /// The kind of notice, one of those `GET /v1/me/preferences` lists.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub kind: String,
    /// `oa_template` (Service Account), `miniprogram` (subscribe message), `email`; empty: none.
    #[oai(validator(max_items = 3))]
    pub channels: Vec<String>,
}

/// The citizen's channels.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PreferencesView {
    /// The confirmed address, masked; absent when there is none (e-mail then goes nowhere).
    pub email_masked: Option<String>,
    /// Every kind of notice with its channels; `chosen` false: the sending service's choice.
    pub kinds: Vec<KindPreferenceView>,
}

/// One kind of notice.
#[derive(Debug, Object)]
pub struct KindPreferenceView {
    /// The kind (`payments.bill_due`).
    pub kind: String,
    /// The channels chosen (empty when not chosen).
    pub channels: Vec<String>,
    /// Whether the citizen chose.
    pub chosen: bool,
}

/// The confirmation mail is on its way.
#[derive(ApiResponse)]
pub(super) enum EmailAccepted {
    /// The link was mailed; the address is kept once it is opened.
    #[oai(status = 202)]
    Accepted(Json<EmailPendingView>),
}

error_set!(
    /// Contacts: a field's rule, or a citizen route called with a staff token.
    pub ContactsErrors = [kind::FORBIDDEN] + ContactsError
);
error_set!(
    /// A link opened from a mail: an unknown or expired token.
    pub LinkErrors = [] + ContactsError
);

impl IntoProblem for ContactsError {
    fn into_problem(self) -> Problem {
        match self {
            ContactsError::Invalid { field, message } => Problem::invalid(field, message),
            ContactsError::Store(_) => Problem::internal_from(&self),
        }
    }
}

impl ErrorSet for ContactsError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::VALIDATION]
    }
}

/// E-mail and preferences.
pub(super) struct ContactsApi {
    pub(super) state: Arc<IdentityState>,
}

impl ContactsApi {
    async fn view(&self, citizen: &CitizenId) -> Result<PreferencesView, ContactsError> {
        let chosen = contacts::preferences(&self.state, citizen).await?;
        let kinds = contacts::KINDS
            .iter()
            .map(|k| match chosen.iter().find(|(kind, _)| kind == k) {
                Some((_, channels)) => {
                    KindPreferenceView { kind: (*k).to_owned(), channels: channels.clone(), chosen: true }
                }
                None => KindPreferenceView { kind: (*k).to_owned(), channels: vec![], chosen: false },
            })
            .collect();
        Ok(PreferencesView { email_masked: contacts::email_masked(&self.state, citizen).await?, kinds })
    }
}

#[OpenApi(tag = "IdentityTags::Identity")]
impl ContactsApi {
    /// Add my e-mail address
    ///
    /// Mails a confirmation link (valid 24 hours) to the address; it is kept, replacing any
    /// earlier one, once the link is opened.
    #[oai(path = "/v1/me/email", method = "post", operation_id = "create_my_email")]
    async fn add_email(
        &self,
        auth: CitizenAuth,
        body: JsonBody<EmailRequest>,
    ) -> Result<EmailAccepted, Failure<ContactsErrors>> {
        let citizen = CitizenId::new(auth.0.citizen_id.clone());
        let masked = contacts::request_email(&self.state, &citizen, &body.0.email).await?;
        Ok(EmailAccepted::Accepted(Json(EmailPendingView { email_masked: masked, status: "confirmation_sent".into() })))
    }

    /// Confirm an e-mail address
    ///
    /// The link mailed by `POST /v1/me/email`; works once, without sign-in.
    #[oai(path = "/v1/me/email/confirm", method = "get", operation_id = "confirm_my_email")]
    async fn confirm_email(
        &self,
        /// The token from the mailed link.
        token: Query<Option<String>>,
    ) -> Result<Json<EmailConfirmedView>, Failure<LinkErrors>> {
        let masked = contacts::confirm_email(&self.state, token.0.as_deref().unwrap_or_default()).await?;
        Ok(Json(EmailConfirmedView { email_masked: masked }))
    }

    /// Unsubscribe from e-mail (one click)
    ///
    /// The `List-Unsubscribe` link of every mail (RFC 8058 one-click: a mail client POSTs
    /// `List-Unsubscribe=One-Click`, which is not read). No sign-in: the token names the citizen.
    /// E-mail stops for `kind`, or for every kind without it. A second call changes nothing.
    #[oai(path = "/v1/me/email/unsubscribe", method = "post", operation_id = "unsubscribe_my_email")]
    async fn unsubscribe(
        &self,
        /// The token from the mail's link.
        token: Query<Option<String>>,
        /// The kind of notice the mail was.
        kind: Query<Option<String>>,
    ) -> Result<Json<EmailUnsubscribedView>, Failure<LinkErrors>> {
        contacts::unsubscribe(&self.state, token.0.as_deref().unwrap_or_default(), kind.0.as_deref()).await?;
        Ok(Json(EmailUnsubscribedView { unsubscribed: true }))
    }

    /// Unsubscribe from e-mail (the link in the mail's text)
    ///
    /// The same as the one-click POST, for a person opening the link in a browser.
    #[oai(path = "/v1/me/email/unsubscribe", method = "get", operation_id = "unsubscribe_my_email_by_link")]
    async fn unsubscribe_link(
        &self,
        /// The token from the mail's link.
        token: Query<Option<String>>,
        /// The kind of notice the mail was.
        kind: Query<Option<String>>,
    ) -> Result<Json<EmailUnsubscribedView>, Failure<LinkErrors>> {
        self.unsubscribe(token, kind).await
    }

    /// Show my notice channels
    #[oai(path = "/v1/me/preferences", method = "get", operation_id = "get_my_preferences")]
    async fn get_preferences(&self, auth: CitizenAuth) -> Result<Json<PreferencesView>, Failure<ContactsErrors>> {
        let citizen = CitizenId::new(auth.0.citizen_id.clone());
        Ok(Json(self.view(&citizen).await?))
    }

    /// Choose the channels of a kind of notice
    ///
    /// The notifier sends that kind on these channels only (e-mail only to a confirmed address).
    #[oai(path = "/v1/me/preferences", method = "put", operation_id = "update_my_preferences")]
    async fn put_preferences(
        &self,
        auth: CitizenAuth,
        body: JsonBody<NoticePreference>,
    ) -> Result<Json<PreferencesView>, Failure<ContactsErrors>> {
        let citizen = CitizenId::new(auth.0.citizen_id.clone());
        contacts::set_preference(&self.state, &citizen, &body.0.kind, &body.0.channels).await?;
        Ok(Json(self.view(&citizen).await?))
    }
}

/// Unsubscribed.
#[derive(Debug, Object)]
pub struct EmailUnsubscribedView {
    /// Always true.
    pub unsubscribed: bool,
}
