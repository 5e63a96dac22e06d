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

/// Why a family member was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddPersonError {
    /// Already five.
    #[error("at most 5 people per citizen")]
    Limit,
    /// The same ID number is already on the list.
    #[error("this ID number is already on the list")]
    Duplicate,
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

/// Adds a family member, at most `limit` per citizen (a conditional counter update, so
/// concurrent adds cannot exceed it).
pub async fn add_person(
    db: &Db,
    citizen_id: &CitizenId,
    p: &NewPerson,
    limit: i64,
) -> Result<PersonRow, AddPersonError> {
    let mut tx = db.begin_write().await?;
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
    let gone = sqlx::query("DELETE FROM people WHERE id = $1 AND citizen_id = $2")
        .bind(person_id)
        .bind(citizen_id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if gone {
        sqlx::query("UPDATE citizens SET people_count = people_count - 1 WHERE id = $1")
            .bind(citizen_id.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(gone)
}
