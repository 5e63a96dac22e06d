-- Billers (utilities and the traffic police) and the simulated biller's own books.
CREATE TABLE billers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,               -- electricity | water | gas | traffic
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    min_topup_fen BIGINT NOT NULL DEFAULT 0
);

-- The simulated biller's accounts (户号). `posting_mode` makes its posting succeed (ok),
-- fail transiently (fail), time out (timeout) or reject for good (reject): a test knob.
CREATE TABLE sim_accounts (
    biller_id TEXT NOT NULL,
    account_no TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    address TEXT NOT NULL,
    prepaid BOOLEAN NOT NULL,
    balance_fen BIGINT NOT NULL DEFAULT 0,
    posting_mode TEXT NOT NULL DEFAULT 'ok',
    PRIMARY KEY (biller_id, account_no)
);

-- Payments the simulated biller has posted (销账), keyed by our order number (its idempotency key).
CREATE TABLE sim_postings (
    out_trade_no TEXT PRIMARY KEY,
    biller_id TEXT NOT NULL,
    account_no TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    posted_at_ms BIGINT NOT NULL
);

-- A citizen's bound accounts.
CREATE TABLE bindings (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL,
    biller_id TEXT NOT NULL,
    account_no TEXT NOT NULL,
    label TEXT,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (citizen_id, biller_id, account_no)
);

-- Bills per period; imported from CSV or seeded.
CREATE TABLE bills (
    id TEXT PRIMARY KEY,
    biller_id TEXT NOT NULL,
    account_no TEXT NOT NULL,
    period TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    due_date TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'unpaid',   -- unpaid | paid
    import_id TEXT,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (biller_id, account_no, period)
);
CREATE INDEX bills_account ON bills (biller_id, account_no);

-- Bill files imported; the hash makes a re-import of the same file a no-op.
CREATE TABLE bill_imports (
    id TEXT PRIMARY KEY,
    file_sha256 TEXT NOT NULL UNIQUE,
    file_name TEXT NOT NULL,
    rows_imported BIGINT NOT NULL,
    imported_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- Traffic fines (penalty decisions), as the traffic police system reports them.
CREATE TABLE fines (
    id TEXT PRIMARY KEY,
    decision_no TEXT NOT NULL UNIQUE,
    plate TEXT NOT NULL,
    plate_type TEXT NOT NULL,
    fine_fen BIGINT NOT NULL,
    decided_on TEXT NOT NULL,                -- Beijing date the decision was served
    violation TEXT NOT NULL,
    location TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'unpaid'    -- unpaid | paid
);
CREATE INDEX fines_plate ON fines (plate, plate_type);

-- Orders. `active_key` (item kind + id) is unique while the order is pending or paid, so one
-- payable item has one stable out_trade_no at a time; it is cleared when an order closes.
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    out_trade_no TEXT NOT NULL UNIQUE,
    active_key TEXT UNIQUE,
    citizen_id TEXT NOT NULL,
    item_kind TEXT NOT NULL,                 -- bill | fine | topup
    item_id TEXT NOT NULL,
    biller_id TEXT NOT NULL,
    account_no TEXT NOT NULL,
    description TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    breakdown TEXT NOT NULL,                 -- JSON: principal, surcharge, late days
    payer_openid TEXT NOT NULL,
    state TEXT NOT NULL,                     -- pending | paid | closed
    prepay_id TEXT,
    time_expire TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    transaction_id TEXT UNIQUE,
    paid_at_ms BIGINT,
    posting_state TEXT NOT NULL DEFAULT 'none', -- none | pending | posted | rejected
    posting_attempts BIGINT NOT NULL DEFAULT 0,
    next_posting_at_ms BIGINT,
    posted_at_ms BIGINT,
    refunded_fen BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX orders_citizen ON orders (citizen_id, created_at_ms);
CREATE INDEX orders_state ON orders (state, created_at_ms);

-- Refunds; `out_refund_no` is the idempotency key at WeChat Pay.
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    out_refund_no TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,                     -- processing | success | closed | abnormal
    requested_by TEXT NOT NULL,
    refund_id TEXT,
    created_at_ms BIGINT NOT NULL,
    succeeded_at_ms BIGINT
);
CREATE INDEX refunds_order ON refunds (order_id);

-- Double-entry money log: every movement is two rows that sum to zero, written once per
-- (order, entry key). Accounts: wechat_clearing, biller_payable:<biller>.
CREATE TABLE ledger (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    entry_key TEXT NOT NULL,
    account TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    UNIQUE (order_id, entry_key, account)
);
