//! Family members (就诊人): sealed personal data, at most a limit per citizen.

use city_platform::db::is_unique_violation;
use city_platform::ids::new_id;
use city_platform::time::now_ms;
use city_platform::Db;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::domain::citizen_id::CitizenId;

/// A family member as stored (sealed fields stay sealed here).
#[derive(Debug, Clone)]
pub struct PersonRow {
    /// Id.
    pub id: String,
    /// Masked name.
    pub name_masked: String,
    /// Relation to the citizen.
    pub relation: String,
    /// `male` / `female`.
    pub sex: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Masked ID number.
    pub id_number_masked: String,
    /// Keyed hash of the ID number.
    pub id_number_hash: String,
    /// Masked phone.
    pub phone_masked: Option<String>,
    /// Created.
    pub created_at_ms: i64,
}

/// A new family member, sealed.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Sealed name.
    pub name_sealed: String,
    /// Masked name.
    pub name_masked: String,
    /// Relation.
    pub relation: String,
    /// Sex.
    pub sex: String,
    /// Birth date.
    pub birth_date: String,
    /// Sealed ID number.
    pub id_number_sealed: String,
    /// Keyed hash.
    pub id_number_hash: String,
    /// Masked ID number.
    pub id_number_masked: String,
    /// Sealed phone.
    pub phone_sealed: Option<String>,
    /// Masked phone.
    pub phone_masked: Option<String>,
}

/// Who else holds an ID number: the accounts besides the asking one, and the phone first
/// recorded for the number (sealed).
#[derive(Debug, Clone, Default)]
pub struct IdNumberHolders {
    /// Accounts other than the asking one with this number among their family members.
    pub n_other_accounts: i64,
    /// The phone first recorded for the number, sealed.
    pub first_phone_sealed: Option<String>,
}

/// Who holds the ID number behind `id_number_hash`, seen from `citizen_id`.
pub async fn id_number_holders(
    db: &Db,
    citizen_id: &CitizenId,
    id_number_hash: &str,
) -> Result<IdNumberHolders, sqlx::Error> {
    let n_other_accounts: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(DISTINCT citizen_id) AS BIGINT) FROM people WHERE id_number_hash = $1 AND citizen_id <> $2",
    )
    .bind(id_number_hash)
    .bind(citizen_id.as_str())
    .fetch_one(&db.pool)
    .await?;
    let first_phone_sealed: Option<String> =
        sqlx::query_scalar("SELECT phone_sealed FROM id_number_holders WHERE id_number_hash = $1")
            .bind(id_number_hash)
            .fetch_optional(&db.pool)
            .await?
            .flatten();
    Ok(IdNumberHolders { n_other_accounts, first_phone_sealed })
}

/// The citizen's own bound phone, sealed.
pub async fn citizen_phone_sealed(db: &Db, citizen_id: &CitizenId) -> Result<Option<String>, sqlx::Error> {
    Ok(sqlx::query_scalar("SELECT phone_sealed FROM citizens WHERE id = $1")
        .bind(citizen_id.as_str())
        .fetch_optional(&db.pool)
        .await?
        .flatten())
}

/// How many accounts may hold one ID number, and whether this add proved the first phone.
#[derive(Debug, Clone, Copy)]
pub struct HolderRule {
    /// At most this many accounts per ID number.
    pub max_accounts: i64,
    /// The caller proved the phone first recorded for the number.
    pub phone_proven: bool,
}

/// Why a family member was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddPersonError {
    /// Already five.
    #[error("at most 5 people per citizen")]
    Limit,
    /// The same ID number is already on the list.
    #[error("this ID number is already on the list")]
    Duplicate,
    /// The ID number already sits on the most accounts allowed.
    #[error("the ID number is on too many accounts")]
    TooManyAccounts,
    /// Another account took the number meanwhile, and this add did not prove the phone.
    #[error("the ID number is held by another account")]
    HeldElsewhere,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

const PERSON_COLUMNS: &str =
    "id, name_masked, relation, sex, birth_date, id_number_masked, id_number_hash, phone_masked, created_at_ms";

fn person(r: AnyRow) -> PersonRow {
    PersonRow {
        id: r.get("id"),
        name_masked: r.get("name_masked"),
        relation: r.get("relation"),
        sex: r.get("sex"),
        birth_date: r.get("birth_date"),
        id_number_masked: r.get("id_number_masked"),
        id_number_hash: r.get("id_number_hash"),
        phone_masked: r.get("phone_masked"),
        created_at_ms: r.get("created_at_ms"),
    }
}

/// The citizen's family members, oldest first.
pub async fn people(db: &Db, citizen_id: &CitizenId) -> Result<Vec<PersonRow>, sqlx::Error> {
    let rows =
        sqlx::query(&format!("SELECT {PERSON_COLUMNS} FROM people WHERE citizen_id = $1 ORDER BY created_at_ms, id"))
            .bind(citizen_id.as_str())
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().map(person).collect())
}

/// One of the citizen's family members (`None` for anyone else's).
pub async fn person_of(db: &Db, citizen_id: &CitizenId, person_id: &str) -> Result<Option<PersonRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = $1 AND citizen_id = $2"))
        .bind(person_id)
        .bind(citizen_id.as_str())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(person))
}

/// Adds a family member, at most `limit` per citizen and `rule.max_accounts` accounts per ID
/// number (conditional counter updates, so concurrent adds cannot exceed either). The first
/// account to add a number records its phone (`first_phone_sealed`); a later one must have
/// proven it (`rule.phone_proven`).
pub async fn add_person(
    db: &Db,
    citizen_id: &CitizenId,
    p: &NewPerson,
    limit: i64,
    rule: HolderRule,
    first_phone_sealed: Option<&str>,
) -> Result<PersonRow, AddPersonError> {
    let mut tx = db.begin_write().await?;
    // The same number twice on one list is a duplicate, not a second account.
    let mine: Option<String> =
        sqlx::query_scalar("SELECT id FROM people WHERE citizen_id = $1 AND id_number_hash = $2")
            .bind(citizen_id.as_str())
            .bind(&p.id_number_hash)
            .fetch_optional(&mut *tx)
            .await?;
    if mine.is_some() {
        return Err(AddPersonError::Duplicate);
    }
    sqlx::query(
        "INSERT INTO id_number_holders (id_number_hash, n_accounts, phone_sealed, created_at_ms) VALUES ($1, 0, $2, $3)
         ON CONFLICT (id_number_hash) DO NOTHING",
    )
    .bind(&p.id_number_hash)
    .bind(first_phone_sealed)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    // Also takes the number's row lock on PostgreSQL: adds of one number queue here.
    let holders: Option<i64> = sqlx::query_scalar(
        "UPDATE id_number_holders SET n_accounts = n_accounts + 1, phone_sealed = COALESCE(phone_sealed, $3)
         WHERE id_number_hash = $1 AND n_accounts < $2 RETURNING n_accounts",
    )
    .bind(&p.id_number_hash)
    .bind(rule.max_accounts)
    .bind(first_phone_sealed)
    .fetch_optional(&mut *tx)
    .await?;
    match holders {
        None => return Err(AddPersonError::TooManyAccounts),
        Some(n) if n > 1 && !rule.phone_proven => return Err(AddPersonError::HeldElsewhere),
        Some(_) => {}
    }
    let counted: Option<i64> = sqlx::query_scalar(
        "UPDATE citizens SET people_count = people_count + 1 WHERE id = $1 AND people_count < $2 RETURNING people_count",
    )
    .bind(citizen_id.as_str())
    .bind(limit)
    .fetch_optional(&mut *tx)
    .await?;
    if counted.is_none() {
        return Err(AddPersonError::Limit);
    }
    let id = new_id();
    let inserted = sqlx::query(
        "INSERT INTO people (id, citizen_id, name_sealed, name_masked, relation, sex, birth_date, id_number_sealed,
         id_number_hash, id_number_masked, phone_sealed, phone_masked, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(citizen_id.as_str())
    .bind(&p.name_sealed)
    .bind(&p.name_masked)
    .bind(&p.relation)
    .bind(&p.sex)
    .bind(&p.birth_date)
    .bind(&p.id_number_sealed)
    .bind(&p.id_number_hash)
    .bind(&p.id_number_masked)
    .bind(&p.phone_sealed)
    .bind(&p.phone_masked)
    .bind(now_ms())
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(AddPersonError::Duplicate),
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    let row = sqlx::query(&format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = $1"))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(person(row))
}

/// Removes one of the citizen's family members; whether there was one.
pub async fn delete_person(db: &Db, citizen_id: &CitizenId, person_id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let hash: Option<String> =
        sqlx::query_scalar("DELETE FROM people WHERE id = $1 AND citizen_id = $2 RETURNING id_number_hash")
            .bind(person_id)
            .bind(citizen_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let gone = hash.is_some();
    if let Some(hash) = hash {
        sqlx::query(
            "UPDATE id_number_holders SET n_accounts = n_accounts - 1 WHERE id_number_hash = $1 AND n_accounts > 0",
        )
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE citizens SET people_count = people_count - 1 WHERE id = $1")
            .bind(citizen_id.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(gone)
}
