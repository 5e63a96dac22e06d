//! A citizen's family members (就诊人): real name and resident ID number checked (GB 11643),
//! sex and date of birth read from the number, personal data sealed and shown masked, at most
//! [`MAX_PEOPLE`] per citizen, the same number once.

use city_platform::time::city_date;

use crate::domain::citizen_id::CitizenId;
use crate::domain::id_number::IdNumber;
use crate::domain::mask;
use crate::state::IdentityState;
use crate::store::{self, AddPersonError, NewPerson, PersonRow};

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
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl From<AddPersonError> for PeopleError {
    fn from(e: AddPersonError) -> Self {
        match e {
            AddPersonError::Limit => Self::Limit,
            AddPersonError::Duplicate => Self::Duplicate,
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
    let new = NewPerson {
        name_sealed: s.sealer.seal(name),
        name_masked: mask::name(name),
        relation: input.relation.into(),
        sex: id.sex().as_str().into(),
        birth_date: id.birth_date().format("%Y-%m-%d").to_string(),
        id_number_sealed: s.sealer.seal(id.as_str()),
        id_number_hash: s.sealer.keyed_hash(id.as_str()),
        id_number_masked: id.masked(),
        phone_sealed: phone.as_deref().map(|p| s.sealer.seal(p)),
        phone_masked: phone.as_deref().map(mask::phone),
    };
    let row = store::add_person(&s.db, citizen_id, &new, MAX_PEOPLE).await?;
    tracing::Span::current().record("person_id", row.id.as_str());
    tracing::info!(person_id = %row.id, "family member added");
    Ok(row)
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
