//! The gateway's own error kinds (the services' are in theirs, the common ones in the platform's).

use city_platform::ErrorKind;

/// `--gateway` could not reach the service behind a prefix.
pub const UPSTREAM_UNAVAILABLE: ErrorKind = ErrorKind::new(
    502,
    "upstream-unavailable",
    "Service unavailable",
    "后端服务不可用",
    "The gateway could not reach the service behind this path (services running apart); try again shortly.",
);

/// Every kind the gateway itself raises.
pub const KINDS: &[&ErrorKind] = &[&UPSTREAM_UNAVAILABLE];
