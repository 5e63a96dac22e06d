//! The channel's own error kinds, for `docs/errors.md` and the OpenAPI document.
//!
//! The subscribe-message grant fails only in the platform's common ways (`validation`,
//! `forbidden`, and what the edge answers), and the XML callback answers WeChat in plain text.
//! Announcements have kinds of their own, defined in [`crate::announcements::kinds`] and listed
//! here once.

use city_platform::problem::ErrorKind;

use crate::announcements::kinds as announcements;
use crate::conversations::kinds as conversations;

/// Every kind of this service's own (the platform's common kinds are not repeated).
pub const KINDS: &[&ErrorKind] = &[
    &announcements::UNKNOWN_ANNOUNCEMENT,
    &announcements::OWN_ANNOUNCEMENT,
    &announcements::ANNOUNCEMENT_DECIDED,
    &announcements::ANNOUNCEMENT_NOT_APPROVED,
    &announcements::BROADCAST_QUOTA_USED,
    &announcements::NOT_A_FOLLOWER,
    &announcements::BAD_COVER,
    &conversations::UNKNOWN_CONVERSATION,
    &conversations::CONVERSATION_TAKEN,
    &conversations::AGENT_AT_CAPACITY,
    &conversations::NOT_YOUR_CONVERSATION,
    &conversations::REPLY_WINDOW_CLOSED,
    &crate::links::UNKNOWN_ACCOUNT,
    &crate::links::LINKS_FULL,
    &crate::links::ALREADY_LINKED,
    &crate::links::NOT_LINKED,
];
