-- Pushes already handled, by WeChat's dedupe key (MsgId, or sender + CreateTime + event for
-- events): the unique row is what makes a retried push have one effect across replicas.
-- `reply` keeps the passive reply so a retry gets the same answer.
CREATE TABLE wechat_pushes_seen (
    dedupe_key TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    reply TEXT
);
CREATE INDEX wechat_pushes_seen_received ON wechat_pushes_seen (received_at);

-- One row per follower of the Service Account (openid for our OA appid).
CREATE TABLE wechat_followers (
    openid TEXT PRIMARY KEY,
    subscribed BOOLEAN NOT NULL,
    subscribed_at BIGINT,
    unsubscribed_at BIGINT,
    -- The 48-hour customer-service window runs from here.
    last_interaction_at BIGINT NOT NULL,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    located_at BIGINT
);

-- Messages the FAQ could not answer, kept for staff.
CREATE TABLE wechat_conversations (
    id TEXT PRIMARY KEY,
    openid TEXT NOT NULL,
    msg_type TEXT NOT NULL,
    content TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    answered BOOLEAN NOT NULL
);
CREATE INDEX wechat_conversations_open ON wechat_conversations (answered, received_at);

-- Mini Program subscribe-message authorizations: each accepted `wx.requestSubscribeMessage`
-- adds one send of that template; each send uses one.
CREATE TABLE wechat_subscriptions (
    citizen_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    remaining BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (citizen_id, template_id)
);

-- Notification deliveries: one row per (notification, channel, recipient), so an event
-- delivered twice is sent once.
CREATE TABLE notify_deliveries (
    notification_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (notification_id, channel, recipient)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (status, next_attempt_at);

-- Deliveries that used up their retries, with the last error, for staff to look at.
CREATE TABLE notify_dead_letters (
    notification_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    payload TEXT NOT NULL,
    dead_at BIGINT NOT NULL,
    PRIMARY KEY (notification_id, channel, recipient)
);
