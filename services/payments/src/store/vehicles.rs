//! The vehicle registry (plate, plate type, keyed hash of the engine code), the fines file that
//! feeds it together with the fines, and citizens' bound vehicles.

use city_platform::audit::{self, AuditEntry};
use city_platform::ids::new_id;
use sqlx::AnyConnection;

use super::{Store, StoreError};

/// A registered vehicle.
#[derive(Debug, Clone)]
pub struct VehicleRow {
    /// Changes when another engine is registered for the plate.
    pub id: String,
    /// HMAC of plate, plate type and engine code (`domain::vehicles::engine_hash`).
    pub engine_hash: String,
}

/// A fine with its vehicle, as the fines file (or the demo seed) brings it.
pub struct NewFine<'a> {
    /// Decision number.
    pub decision_no: &'a str,
    /// Plate, normal form.
    pub plate: &'a str,
    /// Plate type code.
    pub plate_type: &'a str,
    /// The vehicle's engine hash (`None`: the fine alone, found by decision number only).
    pub engine_hash: Option<&'a str>,
    /// The fine, fen.
    pub fine_fen: i64,
    /// Beijing date served, `YYYY-MM-DD`.
    pub decided_on: String,
    /// What happened.
    pub violation: &'a str,
    /// Where.
    pub location: &'a str,
}

/// The file a batch of fines came in, recorded with it.
pub struct FineFile<'a> {
    /// Import id.
    pub import_id: &'a str,
    /// The file's SHA-256, hex.
    pub file_sha256: &'a str,
    /// Its name, for the record.
    pub file_name: &'a str,
    /// `cli` or the staff id.
    pub imported_by: &'a str,
    /// The audit entry, for a file a person imported.
    pub audit: Option<AuditEntry>,
}

/// How recording fines went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinesRecorded {
    /// Recorded; how many decisions were new (a known decision number is left as it is).
    Recorded {
        /// New fines.
        new_fines: usize,
    },
    /// A concurrent import of the same file won; nothing changed.
    Raced,
}

/// A citizen's bound vehicle.
#[derive(Debug, Clone)]
pub struct VehicleBindingRow {
    /// Binding id.
    pub id: String,
    /// The registry's id of the car bound.
    pub vehicle_id: String,
    /// Plate, normal form.
    pub plate: String,
    /// Plate type code.
    pub plate_type: String,
    /// The citizen's label.
    pub label: Option<String>,
    /// Bound, UTC ms.
    pub created_at_ms: i64,
    /// False when an import has since registered another engine for the plate.
    pub current: bool,
}

type BindingTuple = (String, String, String, String, Option<String>, i64, Option<String>);

fn binding_from((id, vehicle_id, plate, plate_type, label, created_at_ms, vehicle): BindingTuple) -> VehicleBindingRow {
    VehicleBindingRow { id, vehicle_id, plate, plate_type, label, created_at_ms, current: vehicle.is_some() }
}

const BINDING_SELECT: &str = "SELECT b.id, b.vehicle_id, b.plate, b.plate_type, b.label, b.created_at_ms, v.id
     FROM vehicle_bindings b LEFT JOIN vehicles v ON v.id = b.vehicle_id";

/// Registers (or re-registers) a vehicle; its id stays while the engine does. Returns the id.
async fn upsert_vehicle(
    conn: &mut AnyConnection,
    plate: &str,
    plate_type: &str,
    engine_hash: &str,
    at_ms: i64,
) -> Result<String, sqlx::Error> {
    let (id,): (String,) = sqlx::query_as(
        "INSERT INTO vehicles (id, plate, plate_type, engine_hash, updated_at_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (plate, plate_type) DO UPDATE SET
            id = CASE WHEN vehicles.engine_hash = excluded.engine_hash THEN vehicles.id ELSE excluded.id END,
            engine_hash = excluded.engine_hash, updated_at_ms = excluded.updated_at_ms
         RETURNING id",
    )
    .bind(new_id())
    .bind(plate)
    .bind(plate_type)
    .bind(engine_hash)
    .bind(at_ms)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Writes fines and their vehicles inside the caller's transaction; how many fines were new.
/// Each fine is tied to the vehicle its row names, so a plate's later car never sees it.
pub(super) async fn record_fines_on(
    conn: &mut AnyConnection,
    fines: &[NewFine<'_>],
    at_ms: i64,
) -> Result<usize, sqlx::Error> {
    let mut new_fines = 0;
    for f in fines {
        let vehicle_id = match f.engine_hash {
            Some(engine_hash) => Some(upsert_vehicle(conn, f.plate, f.plate_type, engine_hash, at_ms).await?),
            None => None,
        };
        new_fines += sqlx::query(
            "INSERT INTO fines (id, decision_no, plate, plate_type, fine_fen, decided_on, violation, location, status, vehicle_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'unpaid', $9) ON CONFLICT (decision_no) DO NOTHING",
        )
        .bind(new_id())
        .bind(f.decision_no)
        .bind(f.plate)
        .bind(f.plate_type)
        .bind(f.fine_fen)
        .bind(&f.decided_on)
        .bind(f.violation)
        .bind(f.location)
        .bind(vehicle_id)
        .execute(&mut *conn)
        .await?
        .rows_affected() as usize;
    }
    Ok(new_fines)
}

impl Store {
    /// The import of a fines file with this SHA-256, if any.
    pub async fn fine_import_by_hash(&self, file_sha256: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM fine_imports WHERE file_sha256 = $1")
            .bind(file_sha256)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.0))
    }

    /// Records fines and the vehicle registry entries they bring in one transaction, with the
    /// file they came in (claimed first, so the same file twice records once).
    pub async fn record_fines(
        &self,
        file: Option<&FineFile<'_>>,
        fines: &[NewFine<'_>],
        at_ms: i64,
    ) -> Result<FinesRecorded, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(file) = file {
            let claimed = sqlx::query(
                "INSERT INTO fine_imports (id, file_sha256, file_name, rows_imported, imported_by, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (file_sha256) DO NOTHING",
            )
            .bind(file.import_id)
            .bind(file.file_sha256)
            .bind(file.file_name)
            .bind(i64::try_from(fines.len()).unwrap_or(i64::MAX))
            .bind(file.imported_by)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                return Ok(FinesRecorded::Raced);
            }
        }
        let new_fines = record_fines_on(&mut tx, fines, at_ms).await?;
        if let Some(entry) = file.and_then(|f| f.audit.as_ref()) {
            audit::record(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(FinesRecorded::Recorded { new_fines })
    }

    /// The registered vehicle of a plate.
    pub async fn vehicle(&self, plate: &str, plate_type: &str) -> Result<Option<VehicleRow>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, engine_hash FROM vehicles WHERE plate = $1 AND plate_type = $2")
                .bind(plate)
                .bind(plate_type)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row.map(|(id, engine_hash)| VehicleRow { id, engine_hash }))
    }

    /// Binds a vehicle to a citizen (again: the binding, now to this vehicle, label kept unless
    /// a new one is given).
    pub async fn bind_vehicle(
        &self,
        citizen_id: &str,
        vehicle_id: &str,
        plate: &str,
        plate_type: &str,
        label: Option<&str>,
        at_ms: i64,
    ) -> Result<VehicleBindingRow, StoreError> {
        sqlx::query(
            "INSERT INTO vehicle_bindings (id, citizen_id, vehicle_id, plate, plate_type, label, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (citizen_id, plate, plate_type) DO UPDATE SET
                vehicle_id = excluded.vehicle_id, label = COALESCE(excluded.label, vehicle_bindings.label)",
        )
        .bind(new_id())
        .bind(citizen_id)
        .bind(vehicle_id)
        .bind(plate)
        .bind(plate_type)
        .bind(label)
        .bind(at_ms)
        .execute(&self.db.pool)
        .await?;
        let row: BindingTuple =
            sqlx::query_as(&format!("{BINDING_SELECT} WHERE b.citizen_id = $1 AND b.plate = $2 AND b.plate_type = $3"))
                .bind(citizen_id)
                .bind(plate)
                .bind(plate_type)
                .fetch_one(&self.db.pool)
                .await?;
        Ok(binding_from(row))
    }

    /// A citizen's bound vehicles, oldest binding first.
    pub async fn vehicle_bindings_of(&self, citizen_id: &str) -> Result<Vec<VehicleBindingRow>, StoreError> {
        let rows: Vec<BindingTuple> =
            sqlx::query_as(&format!("{BINDING_SELECT} WHERE b.citizen_id = $1 ORDER BY b.created_at_ms, b.id"))
                .bind(citizen_id)
                .fetch_all(&self.db.pool)
                .await?;
        Ok(rows.into_iter().map(binding_from).collect())
    }

    /// One of a citizen's bound vehicles (another's is as absent as a missing one).
    pub async fn vehicle_binding(&self, citizen_id: &str, id: &str) -> Result<Option<VehicleBindingRow>, StoreError> {
        let row: Option<BindingTuple> =
            sqlx::query_as(&format!("{BINDING_SELECT} WHERE b.citizen_id = $1 AND b.id = $2"))
                .bind(citizen_id)
                .bind(id)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row.map(binding_from))
    }

    /// Removes one of a citizen's bound vehicles; false when there was none.
    pub async fn unbind_vehicle(&self, citizen_id: &str, id: &str) -> Result<bool, StoreError> {
        let gone = sqlx::query("DELETE FROM vehicle_bindings WHERE id = $1 AND citizen_id = $2")
            .bind(id)
            .bind(citizen_id)
            .execute(&self.db.pool)
            .await?
            .rows_affected();
        Ok(gone == 1)
    }
}
