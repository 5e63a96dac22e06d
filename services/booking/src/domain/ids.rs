//! Ids that cross module boundaries (handler → use case → store), typed so an appointment's id
//! cannot be passed where a slot's is meant. UUIDv7 text underneath, as in SQL and JSON.

use std::fmt;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An appointment's id.
    AppointmentId
);
id_type!(
    /// A numbered slot's id.
    SlotId
);
id_type!(
    /// A session's (a doctor's half-day) id.
    SessionId
);
