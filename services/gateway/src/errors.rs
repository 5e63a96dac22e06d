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

/// `--gateway` reached a service that did not answer within `gateway.upstream_timeout_secs`.
pub const UPSTREAM_TIMEOUT: ErrorKind = ErrorKind::new(
    504,
    "upstream-timeout",
    "Service timed out",
    "后端服务超时",
    "The service behind this path did not answer in time (services running apart); try again shortly.",
);

/// Every replica of the service behind a prefix failed recently and is set aside.
pub const NO_HEALTHY_REPLICA: ErrorKind = ErrorKind::new(
    503,
    "upstream-no-healthy-replica",
    "Service temporarily unavailable",
    "后端服务暂不可用",
    "Every replica of the service behind this path failed recently; the gateway tries them again after `gateway.eject_secs`.",
);

/// Every kind the gateway itself raises.
pub const KINDS: &[&ErrorKind] = &[&UPSTREAM_UNAVAILABLE, &UPSTREAM_TIMEOUT, &NO_HEALTHY_REPLICA];
