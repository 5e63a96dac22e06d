//! What the use cases refuse with, one enum per use case so each operation documents only the
//! errors it can return. The API layer turns them into problems (`api::problems`); nothing
//! here knows HTTP.

use crate::domain::access::Refusal;
use crate::domain::State;
use crate::photos::PhotoError;
use crate::store::StoreError;

/// A field that breaks a rule, named as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field (`description`, `location.lat`, `attribute[size]`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Invalid {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Why a report could not be filed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A field breaks a rule (category, text, answers, photos, pin).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The pin lies in none of the city's districts; `hint` says when lat/lon look swapped.
    #[error("the pin lies in none of the city's districts{hint}")]
    OutsideCity {
        /// The latitude field's name.
        field: &'static str,
        /// `""`, or a note that the coordinates look swapped.
        hint: &'static str,
    },
    /// An emergency (by category or by a keyword of the text): the caller must ring `number`
    /// now; nothing was filed.
    #[error("an emergency: call {number}")]
    Emergency {
        /// 110, 119, 120 or 122.
        number: String,
        /// The emergency's code (`fire`, `medical`, `violence`, `traffic_accident`).
        code: String,
        /// The field that made it one: `category` or `description`.
        field: &'static str,
    },
    /// The content-safety check refused the text.
    #[error("the text was refused by the content-safety check")]
    ContentRejected,
    /// The reporter filed another report within the repeat window.
    #[error("one report per {seconds} seconds")]
    RepeatReport {
        /// The window, in seconds.
        seconds: i64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why "me too" was refused.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// No such report.
    #[error("no such report")]
    NotFound,
    /// The access rules refuse it (own report, closed report).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No such report, or one the caller may not see.
    #[error("no such report")]
    NotFound,
    /// The caller may not read it this way (not a clerk).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a clerk's action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// No such report.
    #[error("no such report")]
    NotFound,
    /// The access rules refuse it (not a clerk: 403; outside their scope: as not found).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// `If-Match` named a version that is no longer current.
    #[error("you edited version {expected}; it is now at version {current}")]
    StaleVersion {
        /// The version the clerk read.
        expected: i64,
        /// The report's version now.
        current: i64,
    },
    /// The workflow does not allow this state change.
    #[error("a report in `{from}` cannot move to `{to}`")]
    BadTransition {
        /// The current state.
        from: State,
        /// The asked-for state.
        to: State,
    },
    /// Only an open report can be merged.
    #[error("only an open report can be merged")]
    MergeNotOpen,
    /// Moderation asked for text that is not held.
    #[error("its moderation is `{moderation}`")]
    TextNotHeld {
        /// The report's moderation verdict.
        moderation: String,
    },
    /// A field breaks a rule (template, text, merge target, routing).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Another change landed between reading and writing.
    #[error("someone changed this report at the same time")]
    ConcurrentEdit,
    /// The content-safety check did not answer about a public update; nothing unchecked is published.
    #[error("content safety unavailable: {0}")]
    SafetyUnavailable(String),
    /// A stored report or the catalogue is inconsistent (a bug or a bad migration).
    #[error("inconsistent data: {0}")]
    Corrupt(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a photo upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The bytes are not a usable image, or too large.
    #[error(transparent)]
    Photo(#[from] PhotoError),
    /// Writing the files failed.
    #[error("writing the photo failed: {0}")]
    Io(#[from] std::io::Error),
    /// The image worker stopped.
    #[error("the image worker failed")]
    Worker,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

macro_rules! from_sqlx {
    ($($t:ty),*) => {$(
        impl From<sqlx::Error> for $t {
            fn from(e: sqlx::Error) -> Self {
                Self::Store(StoreError::from(e))
            }
        }
    )*};
}
from_sqlx!(FileError, FollowError, ReadError, ActError, UploadError);
