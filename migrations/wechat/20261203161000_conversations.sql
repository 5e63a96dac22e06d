-- Conversations with city agents (issue #20). One file for SQLite and PostgreSQL: no booleans
-- (0/1 BIGINT), no SERIAL, partial indexes both understand.

-- Staff with the `agent` role, as the channel routes to them. `skill_groups` and `languages` are
-- comma-wrapped lists (',booking,general,') so a LIKE finds a member on either database.
-- `active` counts assigned conversations; it only moves by conditional UPDATEs
-- (active < max_concurrent) in the same transaction as the assignment.
CREATE TABLE conversation_agents (
    staff_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    skill_groups TEXT NOT NULL,
    languages TEXT NOT NULL,
    max_concurrent BIGINT NOT NULL,
    active BIGINT NOT NULL,
    status TEXT NOT NULL,
    status_changed_at BIGINT NOT NULL,
    CHECK (active >= 0)
);

-- A follower's conversation: waiting (in its group's queue, FIFO by queued_at), assigned, closed.
-- `account` is the Service Account's appid the citizen wrote to (networked accounts later).
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    openid TEXT NOT NULL,
    -- The citizen behind the openid when the conversation opened, if they ever signed in.
    citizen_id TEXT,
    topic TEXT NOT NULL,
    state TEXT NOT NULL,
    agent_id TEXT,
    accepted_at BIGINT,
    queued_at BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    last_message_at BIGINT NOT NULL,
    -- The 48-hour customer-service window runs from here.
    last_citizen_at BIGINT NOT NULL,
    preview TEXT NOT NULL,
    outcome TEXT,
    closed_at BIGINT,
    -- 1 while the satisfaction question waits for the citizen's digit.
    survey_pending BIGINT NOT NULL,
    satisfaction BIGINT
);
-- At most one open conversation per follower and account, whatever the replicas do.
CREATE UNIQUE INDEX conversations_one_open ON conversations (account, openid) WHERE state <> 'closed';
CREATE INDEX conversations_queue ON conversations (state, topic, queued_at);
CREATE INDEX conversations_agent ON conversations (agent_id, state);
CREATE INDEX conversations_follower ON conversations (openid, closed_at);

-- Messages of a conversation are the kept messages, now from either side: a citizen's push
-- (unique dedupe_key, so a retried push lands once), the assistant's, an agent's.
ALTER TABLE wechat_conversations ADD COLUMN conversation_id TEXT;
ALTER TABLE wechat_conversations ADD COLUMN sender TEXT NOT NULL DEFAULT 'citizen';
ALTER TABLE wechat_conversations ADD COLUMN agent_id TEXT;
ALTER TABLE wechat_conversations ADD COLUMN delivery TEXT;
CREATE INDEX wechat_conversations_of ON wechat_conversations (conversation_id, received_at);

-- Transfers, kept with the conversation's history.
CREATE TABLE conversation_transfers (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    from_agent_id TEXT NOT NULL,
    to_agent_id TEXT,
    to_group TEXT,
    note TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX conversation_transfers_of ON conversation_transfers (conversation_id, at);

-- The shared library of canned replies.
CREATE TABLE conversation_canned_replies (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    topic TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
