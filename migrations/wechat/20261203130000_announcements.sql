-- Service Account announcements (issue #21): written by an editor, approved by another
-- (two-person rule, enforced here too), then broadcast once.
-- status: pending (awaiting approval) -> approved -> sending (one sender's claim) -> sent.
-- The conditional update approved -> sending is what makes a double click, a retry or a second
-- replica send once; WeChat's clientmsgid (the announcement id) covers a sender that died
-- between WeChat's answer and ours.
CREATE TABLE announcements (
    id TEXT PRIMARY KEY,
    -- The articles, JSON: [{title, digest, body, cover_media_id}].
    articles TEXT NOT NULL,
    -- A district code, or '' for every follower.
    district TEXT NOT NULL,
    status TEXT NOT NULL,
    author_id TEXT NOT NULL,
    author_name TEXT NOT NULL,
    approver_id TEXT,
    approver_name TEXT,
    approved_at BIGINT,
    claimed_at BIGINT,
    msg_id BIGINT,
    sent_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    CHECK (approver_id IS NULL OR approver_id <> author_id)
);
CREATE INDEX announcements_created ON announcements (created_at);
CREATE UNIQUE INDEX announcements_msg ON announcements (msg_id);

-- MASSSENDJOBFINISH results by WeChat's msg_id: kept apart, since the event may arrive before
-- the sender has stored the msg_id it was given.
CREATE TABLE announcement_jobs (
    msg_id BIGINT PRIMARY KEY,
    status TEXT NOT NULL,
    total_count BIGINT NOT NULL,
    filter_count BIGINT NOT NULL,
    sent_count BIGINT NOT NULL,
    error_count BIGINT NOT NULL,
    finished_at BIGINT NOT NULL
);

-- The WeChat tag of each district, and who we put in it, so a follower who moved is untagged.
CREATE TABLE announcement_district_tags (
    district TEXT PRIMARY KEY,
    tag_id BIGINT NOT NULL
);
CREATE TABLE announcement_tag_members (
    district TEXT NOT NULL,
    openid TEXT NOT NULL,
    PRIMARY KEY (district, openid)
);
