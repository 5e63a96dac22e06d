-- The booking service's transaction on PostgreSQL (services/booking/src/store/appointments.rs),
-- for the load harness's floor: the slot taken by a conditional UPDATE, then the appointment
-- and its outbox event inserted in the same statement only when the slot was taken.
-- :one_row = 0 books a new slot each time (a sequence hands them out); 1 sends every client
-- after slot s1, as the hot-slot stampede does: one winner, every later try takes nothing.
\set now 1764700000000
BEGIN;
WITH slot AS (
    SELECT CASE WHEN :one_row = 1 THEN 's1' ELSE 's' || nextval('slot_seq') END AS id
), taken AS (
    UPDATE slots SET status = 'booked', appointment_id = 'a-' || slots.id
    WHERE slots.id = (SELECT id FROM slot) AND slots.status = 'free'
    RETURNING slots.id, slots.appointment_id
), appt AS (
    INSERT INTO appointments (id, slot_id, citizen_id, person_id, id_number_hash, status, created_at, updated_at)
    SELECT taken.appointment_id, taken.id, 'c' || :client_id, 'p' || :client_id, 'h' || :client_id, 'booked', :now, :now
    FROM taken
    RETURNING id
)
INSERT INTO platform_outbox (id, topic, payload, created_at)
SELECT 'o-' || appt.id, 'booking.booked', '{"appointment_id":"' || appt.id || '"}', :now FROM appt;
COMMIT;
