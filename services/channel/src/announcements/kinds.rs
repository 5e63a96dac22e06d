//! The error kinds of announcements (listed in the channel's `ERROR_KINDS`).

use city_platform::problem::ErrorKind;

/// The id names no announcement.
pub const UNKNOWN_ANNOUNCEMENT: ErrorKind = ErrorKind::new(
    404,
    "unknown-announcement",
    "No such announcement",
    "公告不存在",
    "The announcement id names no announcement.",
);
/// The author asked to approve their own announcement.
pub const OWN_ANNOUNCEMENT: ErrorKind = ErrorKind::new(
    403,
    "own-announcement",
    "You cannot approve your own announcement",
    "不能审批自己撰写的公告",
    "Two-person rule: a second editor, not the author, approves an announcement before it is sent.",
);
/// The announcement was approved or sent already.
pub const ANNOUNCEMENT_DECIDED: ErrorKind = ErrorKind::new(
    409,
    "announcement-decided",
    "The announcement was approved already",
    "公告已审批",
    "Only a pending announcement can be approved.",
);
/// Sending before approval.
pub const ANNOUNCEMENT_NOT_APPROVED: ErrorKind = ErrorKind::new(
    409,
    "announcement-not-approved",
    "The announcement has not been approved",
    "公告尚未审批",
    "A second editor must approve an announcement before it can be sent.",
);
/// WeChat's monthly broadcast limit is used up for every follower targeted (errcode 45028).
pub const BROADCAST_QUOTA_USED: ErrorKind = ErrorKind::new(
    409,
    "broadcast-quota-used",
    "Everyone targeted had their broadcasts this month",
    "目标粉丝本月群发次数已用完",
    "A follower receives at most 4 broadcasts per calendar month (Asia/Shanghai); every follower this \
     announcement targets has had theirs. Send next month, or as template messages to those concerned.",
);
/// The preview's openid does not follow the Service Account.
pub const NOT_A_FOLLOWER: ErrorKind = ErrorKind::new(
    422,
    "not-a-follower",
    "That openid does not follow the Service Account",
    "该 openid 未关注服务号",
    "A preview goes to a follower's openid (the editor's own); follow the Service Account first.",
);
/// WeChat refused a cover image.
pub const BAD_COVER: ErrorKind = ErrorKind::new(
    422,
    "bad-cover",
    "WeChat refused the cover image",
    "封面图片不被接受",
    "A cover is a JPEG, PNG or GIF of at most 10 MB uploaded through POST /v1/announcements/covers.",
);
