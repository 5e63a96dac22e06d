-- Citizens and their WeChat identities (one row per app and openid), sessions, family members,
-- staff, API keys and the audit log. Personal data is sealed (AES-GCM) and masked copies are
-- kept for listing; ID numbers are matched by keyed hash.

CREATE TABLE citizens (
    id TEXT PRIMARY KEY,
    unionid TEXT UNIQUE,
    phone_sealed TEXT,
    phone_masked TEXT,
    people_count BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE wechat_identities (
    appid TEXT NOT NULL,
    openid TEXT NOT NULL,
    unionid TEXT,
    citizen_id TEXT NOT NULL REFERENCES citizens (id),
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (appid, openid)
);
CREATE INDEX wechat_identities_citizen ON wechat_identities (citizen_id);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX sessions_subject ON sessions (subject_id);

CREATE TABLE people (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES citizens (id),
    name_sealed TEXT NOT NULL,
    name_masked TEXT NOT NULL,
    relation TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    id_number_sealed TEXT NOT NULL,
    id_number_hash TEXT NOT NULL,
    id_number_masked TEXT NOT NULL,
    phone_sealed TEXT,
    phone_masked TEXT,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (citizen_id, id_number_hash)
);

CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    scopes TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until_ms BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    service TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    request_id TEXT,
    at_ms BIGINT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
