//! The ids that cross module boundaries: an order's id (ours) and its out_trade_no (our number
//! at WeChat Pay). Both are strings underneath; the types keep one from being passed as the other.

use std::fmt;
use std::ops::Deref;

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The text form, as stored and sent.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text form, by value.
            pub fn into_string(self) -> String {
                self.0
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

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

string_id!(
    /// An order's id (UUIDv7 text).
    OrderId
);

string_id!(
    /// Our number for an order at WeChat Pay (a kind letter and 31 characters of the order id).
    OutTradeNo
);
