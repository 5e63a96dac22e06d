//! The channel's own error kinds, for `docs/errors.md` and the OpenAPI document.
//!
//! None yet: its one JSON operation fails only in the platform's common ways (`validation`,
//! `forbidden`, and what the edge answers), and the XML callback answers WeChat in plain text.
//! A kind the channel comes to raise is added here, once, with its code, status and titles.

use city_platform::problem::ErrorKind;

/// Every kind of this service's own (the platform's common kinds are not repeated).
pub const KINDS: &[&ErrorKind] = &[];
