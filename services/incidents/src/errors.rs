//! The incidents service's own error kinds: one row each (status, code, English and Chinese
//! title, meaning). The common kinds (`validation`, `not-found`, `forbidden`, ...) are the
//! platform's (`city_platform::problem::kind`); codes and English titles here are what clients
//! already switch on, so they never change.

use city_platform::problem::ErrorKind;

/// A photo over the service's own size limit.
pub const PHOTO_TOO_LARGE: ErrorKind = ErrorKind::new(
    413,
    "photo-too-large",
    "The photo is too large",
    "照片过大",
    "The uploaded photo is larger than the service accepts (10 MB); `errors` names `photo`.",
);
/// An upload that is not a usable image.
pub const NOT_AN_IMAGE: ErrorKind = ErrorKind::new(
    422,
    "not-an-image",
    "The file is not a usable image",
    "文件不是可用的图片",
    "The upload is not a JPEG, PNG, WebP or GIF by its bytes, or does not decode.",
);
/// A pin in none of the city's districts.
pub const OUTSIDE_CITY: ErrorKind = ErrorKind::new(
    422,
    "outside-city",
    "The pin is outside the city",
    "位置不在本市范围内",
    "The report's pin lies in none of the city's districts (the detail says when latitude and longitude look swapped).",
);
/// Text refused by WeChat's content-safety check.
pub const CONTENT_REJECTED: ErrorKind = ErrorKind::new(
    422,
    "content-rejected",
    "The text was refused by the content-safety check",
    "内容未通过安全检测",
    "WeChat's content-safety check judged the description risky; rewrite it without the flagged content.",
);
/// A second report from the same reporter within the repeat window.
pub const REPEAT_REPORT: ErrorKind = ErrorKind::new(
    429,
    "repeat-report",
    "You reported moments ago",
    "您刚刚提交过报告",
    "One report per reporter every few seconds; `Retry-After` says when the next one is accepted.",
);
/// "Me too" on one's own report.
pub const OWN_REPORT: ErrorKind = ErrorKind::new(
    409,
    "own-report",
    "You reported this yourself",
    "这是您自己提交的报告",
    "A citizen cannot follow their own report: they already get its updates.",
);
/// "Me too" on a closed report.
pub const REPORT_CLOSED: ErrorKind = ErrorKind::new(
    409,
    "report-closed",
    "This report is closed",
    "该报告已关闭",
    "Only an open report can be followed; file a new report instead.",
);
/// A state change the workflow does not allow.
pub const BAD_TRANSITION: ErrorKind = ErrorKind::new(
    409,
    "bad-transition",
    "That state change is not allowed",
    "不允许该状态变更",
    "A closed report can only be reopened, and only an open report can be merged.",
);
/// `If-Match` names a version that is no longer current.
pub const STALE_VERSION: ErrorKind = ErrorKind::new(
    412,
    "stale-version",
    "Someone changed this report first",
    "报告已被他人修改",
    "The `If-Match` version is no longer the report's; reload it and apply the change again.",
);
/// Two clerks changed the report at the same moment.
pub const CONCURRENT_EDIT: ErrorKind = ErrorKind::new(
    409,
    "concurrent-edit",
    "Someone changed this report at the same time",
    "报告正被他人同时修改",
    "Another clerk's change to the report landed first; reload it and apply the change again.",
);
/// A moderation decision on text that is not held.
pub const TEXT_NOT_HELD: ErrorKind = ErrorKind::new(
    409,
    "text-not-held",
    "This report's text is not held for review",
    "该报告的文字未在审核中",
    "Only text the content-safety check held (`review` or `pending`) can be approved or rejected.",
);

/// Filing an emergency (violence): nothing is filed, call the police.
pub const EMERGENCY_110: ErrorKind = ErrorKind::new(
    422,
    "emergency-110",
    "An emergency: call 110 now. Nothing was filed",
    "紧急情况请立即拨打 110 报警，本报告未提交",
    "The category or the description names violence or a crime in progress; reports are not watched in real time, so nothing is filed and the caller is told to ring 110.",
);
/// Filing an emergency (fire): nothing is filed, call the fire service.
pub const EMERGENCY_119: ErrorKind = ErrorKind::new(
    422,
    "emergency-119",
    "A fire: call 119 now. Nothing was filed",
    "火警请立即拨打 119，本报告未提交",
    "The category or the description names a fire or smoke; nothing is filed and the caller is told to ring 119.",
);
/// Filing an emergency (medical): nothing is filed, call an ambulance.
pub const EMERGENCY_120: ErrorKind = ErrorKind::new(
    422,
    "emergency-120",
    "A medical emergency: call 120 now. Nothing was filed",
    "急救请立即拨打 120，本报告未提交",
    "The category or the description names an injury or a person in danger; nothing is filed and the caller is told to ring 120.",
);
/// Filing an emergency (traffic accident): nothing is filed, call the traffic police.
pub const EMERGENCY_122: ErrorKind = ErrorKind::new(
    422,
    "emergency-122",
    "A traffic accident: call 122 now. Nothing was filed",
    "交通事故请立即拨打 122，本报告未提交",
    "The category or the description names a traffic accident; nothing is filed and the caller is told to ring 122.",
);

/// Every kind of this service, for `docs/errors.md` and the check that no code is defined twice.
pub const KINDS: &[&ErrorKind] = &[
    &EMERGENCY_110,
    &EMERGENCY_119,
    &EMERGENCY_120,
    &EMERGENCY_122,
    &PHOTO_TOO_LARGE,
    &NOT_AN_IMAGE,
    &OUTSIDE_CITY,
    &CONTENT_REJECTED,
    &REPEAT_REPORT,
    &OWN_REPORT,
    &REPORT_CLOSED,
    &BAD_TRANSITION,
    &STALE_VERSION,
    &CONCURRENT_EDIT,
    &TEXT_NOT_HELD,
];
