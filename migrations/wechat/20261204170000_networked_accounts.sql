-- Networked Service Accounts (issue #20). One file for SQLite and PostgreSQL, like the others.

-- The account whose agents handle a conversation: the one the citizen wrote to (`account`,
-- which replies always come from) until a transfer moves it to another account's agents.
ALTER TABLE conversations ADD COLUMN handled_by_account TEXT NOT NULL DEFAULT '';
UPDATE conversations SET handled_by_account = account;
CREATE INDEX conversations_handled_queue ON conversations (state, topic, handled_by_account, queued_at);

-- The accounts an agent serves, as appids, comma-wrapped like skill_groups (',wx1,wx2,');
-- empty serves every account.
ALTER TABLE conversation_agents ADD COLUMN accounts TEXT NOT NULL DEFAULT '';

-- A transfer to another account's agents.
ALTER TABLE conversation_transfers ADD COLUMN to_account TEXT;
