-- Booking fees (挂号费) that booking asked to be paid online, fed by its events: the payable
-- item of kind `booking`. `booking.fee_due` inserts the row once (a redelivery changes
-- nothing); a payment marks it paid; `booking.expired` / `booking.cancelled` of an unpaid
-- booking void it, leaving a tombstone when they overtake the fee_due event.
CREATE TABLE booking_fees (
    booking_id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL,
    hospital_id TEXT NOT NULL,               -- whom the ledger owes; 'hospitals' when booking does not say
    amount_fen BIGINT NOT NULL,
    description TEXT NOT NULL,
    pay_before_ms BIGINT NOT NULL,           -- the hold's end, UTC ms; orders expire no later
    status TEXT NOT NULL,                    -- due | paid | void
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX booking_fees_citizen ON booking_fees (citizen_id, status);

-- The posting job looks for due postings on every round.
CREATE INDEX orders_posting ON orders (posting_state, next_posting_at_ms);
