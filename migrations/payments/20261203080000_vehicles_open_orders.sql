-- Issue #15: fines only for those who know the car, and orders that never block another citizen.

-- The vehicle registry, fed by the fines import: a plate with its type and a keyed hash
-- (HMAC-SHA256) of the last six characters of its engine number (发动机号后六位), which the
-- traffic police's own app asks for before it shows a plate's violations. The characters
-- themselves are never stored. `id` changes when an import brings another engine for the plate
-- (the plate went to another car), so a binding to the old car stops showing the new one's fines.
CREATE TABLE vehicles (
    id TEXT PRIMARY KEY,
    plate TEXT NOT NULL,
    plate_type TEXT NOT NULL,
    engine_hash TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (plate, plate_type)
);

-- A citizen's bound vehicles: the six characters proved once, then the fines without asking again.
CREATE TABLE vehicle_bindings (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    plate TEXT NOT NULL,
    plate_type TEXT NOT NULL,
    label TEXT,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (citizen_id, plate, plate_type)
);

-- Fine files imported; the hash makes a re-import of the same file a no-op.
CREATE TABLE fine_imports (
    id TEXT PRIMARY KEY,
    file_sha256 TEXT NOT NULL UNIQUE,
    file_name TEXT NOT NULL,
    rows_imported BIGINT NOT NULL,
    imported_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- One open order per item AND citizen (it was per item, so anyone's open order blocked the
-- owner for 30 minutes). Whoever pays first settles the item; a later payment of a settled item
-- is marked `posting_state = 'duplicate'`, never posted, and refunded.
UPDATE orders SET active_key = active_key || ':' || citizen_id WHERE active_key IS NOT NULL;
CREATE INDEX orders_item ON orders (item_kind, item_id);
