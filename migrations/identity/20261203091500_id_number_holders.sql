-- Issue #15: one resident ID number sits on a bounded number of accounts, and an account that is
-- not the first must prove the phone first recorded for it. One row per ID number: how many
-- accounts hold it (kept in the same transaction as each add and remove, so concurrent adds
-- cannot pass the bound) and that phone, sealed.
CREATE TABLE id_number_holders (
    id_number_hash TEXT PRIMARY KEY,
    n_accounts BIGINT NOT NULL DEFAULT 0,
    phone_sealed TEXT,
    created_at_ms BIGINT NOT NULL
);

INSERT INTO id_number_holders (id_number_hash, n_accounts, phone_sealed, created_at_ms)
SELECT p.id_number_hash,
       COUNT(DISTINCT p.citizen_id),
       (SELECT q.phone_sealed FROM people q
        WHERE q.id_number_hash = p.id_number_hash AND q.phone_sealed IS NOT NULL
        ORDER BY q.created_at_ms, q.id LIMIT 1),
       MIN(p.created_at_ms)
FROM people p
GROUP BY p.id_number_hash;
