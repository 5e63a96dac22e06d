//! Where the incidents service's typed errors become problems: one `match` per error type,
//! each variant to a kind of the tables (`crate::errors` and the platform's
//! `problem::kind`), and the sets of kinds each operation documents. Store failures are logged
//! here and leave as the opaque 500 (or 503 when the database is not answering).

use city_platform::problem::kind::{self, ErrorKind};
use city_platform::{ErrorSet, IntoProblem, Problem};

use crate::domain::access::Refusal;
use crate::errors;
use crate::photos::{self, PhotoError};
use crate::reports::{ActError, FileError, FollowError, Invalid, ReadError, UploadError};
use crate::store::StoreError;

impl IntoProblem for Invalid {
    fn into_problem(self) -> Problem {
        Problem::invalid(self.field, self.message)
    }
}

impl IntoProblem for StoreError {
    fn into_problem(self) -> Problem {
        Problem::from(self.into_sqlx())
    }
}

impl ErrorSet for StoreError {
    fn kinds() -> Vec<&'static ErrorKind> {
        Vec::new()
    }
}

impl IntoProblem for Refusal {
    fn into_problem(self) -> Problem {
        match self {
            Refusal::SignInRequired => Problem::unauthorized("this needs a sign-in"),
            Refusal::Forbidden(why) => Problem::forbidden(why),
            Refusal::Hidden => Problem::not_found("report"),
            Refusal::OwnReport => Problem::of(&errors::OWN_REPORT).with_detail("you already get its updates"),
            Refusal::Closed => Problem::of(&errors::REPORT_CLOSED).with_detail("file a new report instead"),
        }
    }
}

impl IntoProblem for FileError {
    fn into_problem(self) -> Problem {
        match self {
            FileError::Invalid(i) => i.into_problem(),
            FileError::OutsideCity { field, hint } => Problem::of(&errors::OUTSIDE_CITY)
                .with_detail(format!("the pin lies in none of the city's districts{hint}"))
                .with_field(field, format!("outside every district{hint}")),
            FileError::Emergency { number, code, field } => {
                let kind = match number.as_str() {
                    "110" => &errors::EMERGENCY_110,
                    "119" => &errors::EMERGENCY_119,
                    "120" => &errors::EMERGENCY_120,
                    // The catalogue admits only the four numbers (`domain::catalogue`).
                    _ => &errors::EMERGENCY_122,
                };
                Problem::of(kind)
                    .with_detail(format!("call {number} ({code}); this portal does not take emergencies"))
                    .with_field(field, format!("call {number}"))
            }
            FileError::ContentRejected => Problem::of(&errors::CONTENT_REJECTED)
                .with_field("description", "rewrite the description without the flagged content"),
            FileError::RepeatReport { seconds } => {
                let mut p = Problem::of(&errors::REPEAT_REPORT)
                    .with_detail(format!("one report per {seconds} seconds; wait and try again"));
                p.retry_after = Some(seconds.max(0) as u64);
                p
            }
            FileError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for FileError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![
            &kind::VALIDATION,
            &errors::EMERGENCY_110,
            &errors::EMERGENCY_119,
            &errors::EMERGENCY_120,
            &errors::EMERGENCY_122,
            &errors::OUTSIDE_CITY,
            &errors::CONTENT_REJECTED,
            &errors::REPEAT_REPORT,
        ]
    }
}

impl IntoProblem for FollowError {
    fn into_problem(self) -> Problem {
        match self {
            FollowError::NotFound => Problem::not_found("report"),
            FollowError::Refused(r) => r.into_problem(),
            FollowError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for FollowError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::NOT_FOUND, &errors::OWN_REPORT, &errors::REPORT_CLOSED]
    }
}

impl IntoProblem for ReadError {
    fn into_problem(self) -> Problem {
        match self {
            ReadError::NotFound => Problem::not_found("report"),
            ReadError::Refused(r) => r.into_problem(),
            ReadError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for ReadError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::FORBIDDEN, &kind::NOT_FOUND]
    }
}

impl IntoProblem for ActError {
    fn into_problem(self) -> Problem {
        match self {
            ActError::NotFound => Problem::not_found("report"),
            ActError::Refused(r) => r.into_problem(),
            ActError::StaleVersion { expected, current } => Problem::of(&errors::STALE_VERSION).with_detail(format!(
                "you edited version {expected}; it is now at version {current}; reload and retry"
            )),
            ActError::BadTransition { from, to } => Problem::of(&errors::BAD_TRANSITION)
                .with_detail(format!("a report in `{from}` cannot move to `{to}`"))
                .with_field("state", format!("not allowed from {from}")),
            ActError::MergeNotOpen => {
                let mut p = Problem::of(&errors::BAD_TRANSITION);
                p.title = "Only an open report can be merged".into();
                p
            }
            ActError::TextNotHeld { moderation } => {
                Problem::of(&errors::TEXT_NOT_HELD).with_detail(format!("its moderation is `{moderation}`"))
            }
            ActError::Invalid(i) => i.into_problem(),
            ActError::SafetyUnavailable(why) => {
                tracing::warn!(why, "content-safety check unavailable; a public update was not published");
                Problem::unavailable("the content check is not answering; try again shortly")
            }
            ActError::ConcurrentEdit => {
                Problem::of(&errors::CONCURRENT_EDIT).with_detail("reload the report and apply your change again")
            }
            ActError::Corrupt(why) => {
                tracing::error!(error = %why, "incident data inconsistent");
                Problem::internal()
            }
            ActError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for ActError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![
            &kind::FORBIDDEN,
            &kind::NOT_FOUND,
            &kind::VALIDATION,
            &errors::STALE_VERSION,
            &errors::BAD_TRANSITION,
            &errors::CONCURRENT_EDIT,
            &errors::TEXT_NOT_HELD,
        ]
    }
}

impl IntoProblem for UploadError {
    fn into_problem(self) -> Problem {
        match self {
            UploadError::Photo(e @ PhotoError::TooManyPixels(..)) => {
                Problem::of(&errors::PHOTO_TOO_LARGE).with_field("photo", e.to_string())
            }
            UploadError::Photo(e @ PhotoError::TooLarge) => {
                Problem::of(&errors::PHOTO_TOO_LARGE).with_field("photo", e.to_string())
            }
            UploadError::Photo(e) => Problem::of(&errors::NOT_AN_IMAGE).with_field("photo", e.to_string()),
            UploadError::Io(e) => Problem::internal_from(&e),
            UploadError::Worker => {
                tracing::error!("the image worker stopped");
                Problem::internal()
            }
            UploadError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for UploadError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&errors::PHOTO_TOO_LARGE, &errors::NOT_AN_IMAGE]
    }
}

/// The upload is over [`photos::MAX_BYTES`] before it is even read.
pub fn photo_too_large() -> Problem {
    Problem::of(&errors::PHOTO_TOO_LARGE).with_field("photo", format!("at most {} MB", photos::MAX_BYTES / 1024 / 1024))
}

city_platform::error_set!(
    /// Uploading a photo: citizens only; the photo's own checks.
    pub UploadErrors = [kind::FORBIDDEN] + UploadError
);
city_platform::error_set!(
    /// Fetching a photo of a filed report.
    pub PhotoErrors = [kind::NOT_FOUND]
);
city_platform::error_set!(
    /// Public reads with a checked parameter (nearby, the map).
    pub QueryErrors = [kind::VALIDATION]
);
city_platform::error_set!(
    /// Reading one report publicly.
    pub PublicReadErrors = [kind::NOT_FOUND, kind::VALIDATION]
);
city_platform::error_set!(
    /// Filing a report: citizens only.
    pub CreateErrors = [kind::FORBIDDEN] + FileError
);
city_platform::error_set!(
    /// A citizen's own list.
    pub MineErrors = [kind::FORBIDDEN, kind::VALIDATION]
);
city_platform::error_set!(
    /// "Me too": citizens only.
    pub FollowErrors = [kind::FORBIDDEN] + FollowError
);
city_platform::error_set!(
    /// The clerk queue and its export.
    pub QueueErrors = [kind::FORBIDDEN, kind::VALIDATION]
);
city_platform::error_set!(
    /// Clerk-only lists without parameters.
    pub ClerkOnlyErrors = [kind::FORBIDDEN]
);
