//! The error kinds of conversations (listed in the channel's `ERROR_KINDS`).

use city_platform::problem::ErrorKind;

/// The id names no conversation the caller may see.
pub const UNKNOWN_CONVERSATION: ErrorKind = ErrorKind::new(
    404,
    "unknown-conversation",
    "No such conversation",
    "会话不存在",
    "The id names no conversation you may see (agents see their own and their groups').",
);
/// Accepting a conversation another agent holds, or one closed.
pub const CONVERSATION_TAKEN: ErrorKind = ErrorKind::new(
    409,
    "conversation-taken",
    "Another agent has this conversation",
    "该会话已由其他客服接待",
    "Only a waiting conversation, or one assigned to you, can be accepted.",
);
/// The agent (the caller, or a transfer's target) holds their maximum of conversations.
pub const AGENT_AT_CAPACITY: ErrorKind = ErrorKind::new(
    409,
    "agent-at-capacity",
    "The agent holds their maximum of conversations",
    "客服接待会话已达上限",
    "Close a conversation first, or transfer to an agent with room or to a group's queue.",
);
/// Replying to, transferring or closing a conversation not assigned to the caller.
pub const NOT_YOUR_CONVERSATION: ErrorKind = ErrorKind::new(
    409,
    "not-your-conversation",
    "This conversation is not assigned to you",
    "该会话未分配给您",
    "Accept it first; only the assigned agent replies, transfers or closes it.",
);
/// WeChat refused the customer-service message: more than 48 hours since the citizen wrote.
pub const REPLY_WINDOW_CLOSED: ErrorKind = ErrorKind::new(
    409,
    "reply-window-closed",
    "The 48-hour reply window has closed",
    "48 小时回复时限已过",
    "WeChat delivers customer-service messages only within 48 hours of the citizen's last message \
     (errcode 45015). The message is kept as window-closed; send a template message \
     (POST /v1/conversations/{id}/template) or wait for the citizen to write again.",
);
