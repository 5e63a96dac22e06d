-- Retries of a push are recognised by a claim in the shared cache (Redis SET NX when
-- distributed), so the per-push claim row is gone from the reply path. What a push writes is
-- idempotent instead: a kept conversation carries the push's dedupe key, unique, so a retry that
-- slipped past the cache (an evicted or lost key) still keeps one conversation.
ALTER TABLE wechat_conversations ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX wechat_conversations_dedupe ON wechat_conversations (dedupe_key);
DROP TABLE wechat_pushes_seen;
