//! A citizen's family members (就诊人): real name and resident ID number checked (GB 11643, then
//! the real-name authority), sex and date of birth read from the number, personal data sealed
//! and shown masked, at most [`MAX_PEOPLE`] per citizen, the same number once.
//!
//! Real names cannot be borrowed (issue #15): one number sits on at most
//! `identity.max_accounts_per_id_number` accounts, and every account after the first must show a
//! WeChat phone-number code for the phone first recorded for the number (the person's own phone,
//! or the first account's), so knowing someone's ID number is not enough to add them.

use city_platform::time::city_date;

use crate::domain::citizen_id::CitizenId;
use crate::domain::id_number::IdNumber;
use crate::domain::mask;
use crate::domain::real_name::RealNameVerdict;
use crate::state::IdentityState;
use crate::store::{self, AddPersonError, HolderRule, NewPerson, PersonRow};
use crate::wechat::WechatRefusal;

/// At most this many family members per citizen.
pub const MAX_PEOPLE: i64 = 5;

/// A family member to add, as the citizen typed it.
#[derive(Debug)]
pub struct PersonInput {
    /// Real name as on the ID card.
    pub name: String,
    /// Resident ID number.
    pub id_number: String,
    /// Relation to the citizen (`self`, `spouse`, ...).
    pub relation: &'static str,
    /// Mainland mobile number, if given.
    pub phone: Option<String>,
    /// A WeChat phone-number code, when the number is already on another account.
    pub phone_code: Option<String>,
}

/// Why a family member was not added.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    /// A field breaks a rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Already [`MAX_PEOPLE`].
    #[error("at most {MAX_PEOPLE} people per citizen")]
    Limit,
    /// The same ID number is already on the list.
    #[error("this ID number is already on the list")]
    Duplicate,
    /// The name is not the number's holder's, says the real-name authority.
    #[error("the name does not match the ID number")]
    RealNameMismatch,
    /// The real-name authority did not answer.
    #[error(transparent)]
    RealNameUnavailable(#[from] crate::domain::real_name::RealNameUnavailable),
    /// The number already sits on the most accounts allowed.
    #[error("this ID number is already on {0} accounts")]
    TooManyAccounts(u32),
    /// The number is on another account: a phone-number code is needed (`phone_code`).
    #[error("this ID number is on another account; prove its phone with phone_code")]
    PhoneProofRequired,
    /// The code's phone is not the one first recorded for the number (or none was).
    #[error("the phone does not match the one recorded for this ID number")]
    PhoneMismatch,
    /// WeChat refused the phone-number code.
    #[error(transparent)]
    Wechat(#[from] WechatRefusal),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl From<AddPersonError> for PeopleError {
    fn from(e: AddPersonError) -> Self {
        match e {
            AddPersonError::Limit => Self::Limit,
            AddPersonError::Duplicate => Self::Duplicate,
            // Lost a race for the last place, or to another account's first add.
            AddPersonError::TooManyAccounts => Self::TooManyAccounts(0),
            AddPersonError::HeldElsewhere => Self::PhoneProofRequired,
            AddPersonError::Db(e) => Self::Store(e),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> PeopleError {
    PeopleError::Invalid { field, message: message.into() }
}

/// Adds a family member after checking the name, the ID number and the phone.
#[tracing::instrument(skip_all, fields(citizen_id = %citizen_id, person_id = tracing::field::Empty))]
pub async fn add(s: &IdentityState, citizen_id: &CitizenId, input: PersonInput) -> Result<PersonRow, PeopleError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(invalid("name", "the real name as on the ID card"));
    }
    let today = city_date(chrono::Utc::now());
    let id = IdNumber::parse(&input.id_number, today).map_err(|e| invalid("id_number", e.to_string()))?;
    let phone = match input.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(p) => Some(mask::parse_mobile(p).map_err(|m| invalid("phone", m))?),
        None => None,
    };
    let id_number_hash = s.sealer.keyed_hash(id.as_str());
    let max_accounts = s.platform.settings.identity.max_accounts_per_id_number;
    let holders = store::id_number_holders(&s.db, citizen_id, &id_number_hash).await?;
    if holders.n_other_accounts >= i64::from(max_accounts) {
        return Err(PeopleError::TooManyAccounts(max_accounts));
    }
    let phone_proven = holders.n_other_accounts > 0;
    if phone_proven {
        let code = input.phone_code.as_deref().map(str::trim).filter(|c| !c.is_empty());
        let code = code.ok_or(PeopleError::PhoneProofRequired)?;
        let shown = phone_of_code(s, code).await?;
        let recorded = holders.first_phone_sealed.as_deref().and_then(|sealed| s.sealer.open(sealed).ok());
        if recorded.as_deref() != Some(shown.as_str()) {
            tracing::warn!("a family member's phone proof did not match");
            return Err(PeopleError::PhoneMismatch);
        }
    }
    if s.real_name.check(name, &id).await? == RealNameVerdict::Mismatch {
        return Err(PeopleError::RealNameMismatch);
    }
    // The phone first recorded for the number: the person's own, else this account's.
    let first_phone_sealed = match phone.as_deref() {
        Some(p) => Some(s.sealer.seal(p)),
        None => store::citizen_phone_sealed(&s.db, citizen_id).await?,
    };
    let new = NewPerson {
        name_sealed: s.sealer.seal(name),
        name_masked: mask::name(name),
        relation: input.relation.into(),
        sex: id.sex().as_str().into(),
        birth_date: id.birth_date().format("%Y-%m-%d").to_string(),
        id_number_sealed: s.sealer.seal(id.as_str()),
        id_number_hash,
        id_number_masked: id.masked(),
        phone_sealed: phone.as_deref().map(|p| s.sealer.seal(p)),
        phone_masked: phone.as_deref().map(mask::phone),
    };
    let rule = HolderRule { max_accounts: i64::from(max_accounts), phone_proven };
    let row = store::add_person(&s.db, citizen_id, &new, MAX_PEOPLE, rule, first_phone_sealed.as_deref())
        .await
        .map_err(|e| match e {
            AddPersonError::TooManyAccounts => PeopleError::TooManyAccounts(max_accounts),
            other => other.into(),
        })?;
    tracing::Span::current().record("person_id", row.id.as_str());
    tracing::info!(person_id = %row.id, "family member added");
    Ok(row)
}

/// The phone number behind a Mini Program phone-number code, as 11 digits (or `+<country>...`).
async fn phone_of_code(s: &IdentityState, code: &str) -> Result<String, WechatRefusal> {
    let w = &s.wechat;
    let code = code.to_owned();
    let info = w
        .mp_tokens
        .call(|token| {
            let code = code.clone();
            async move { w.client.phone_number(&token, &code, &w.mp_appid).await }
        })
        .await
        .map_err(WechatRefusal::of("phone_code"))?;
    Ok(if info.country_code == "86" { info.pure_phone_number } else { info.phone_number })
}

/// Removes one of the citizen's family members; whether there was one.
#[tracing::instrument(skip_all, fields(citizen_id = %citizen_id, person_id = %person_id))]
pub async fn remove(s: &IdentityState, citizen_id: &CitizenId, person_id: &str) -> Result<bool, sqlx::Error> {
    let gone = store::delete_person(&s.db, citizen_id, person_id).await?;
    if gone {
        tracing::info!(person_id = %person_id, "family member removed");
    }
    Ok(gone)
}
