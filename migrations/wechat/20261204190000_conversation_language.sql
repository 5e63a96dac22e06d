-- The language a conversation is in (issue #20: agents have Chinese and English skills). Set from
-- the citizen's first text: `en` when it has Latin letters and no Chinese, else `zh`. One file for
-- SQLite and PostgreSQL, like the others.
ALTER TABLE conversations ADD COLUMN language TEXT NOT NULL DEFAULT 'zh';
