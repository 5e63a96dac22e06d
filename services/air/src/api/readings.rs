//! The readings body: JSON or CSV, turned into labelled rows of cells before each row is checked.

use city_platform::{JsonBody, Problem};
use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::ApiRequest;

use crate::ingest::{self, CheckedReading, RawReading};

use super::dto::{ReadingBatch, RejectedRow};

/// Most rows one request may carry (JSON or CSV); larger backfills go in several requests.
pub const MAX_BATCH_ROWS: usize = 20_000;

/// A CSV body (`text/csv`): header `station_code,observed_at,pollutant,value,unit[,correction]`.
pub struct CsvBody(pub String);

impl Payload for CsvBody {
    const CONTENT_TYPE: &'static str = "text/csv; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        matches!(content_type.parse::<mime::Mime>(), Ok(ct) if ct.type_() == "text" && ct.subtype() == "csv")
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn register(_registry: &mut Registry) {}
}

impl ParsePayload for CsvBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
        String::from_utf8(data)
            .map(CsvBody)
            .map_err(|_| Problem::malformed(Some("body"), "the CSV is not UTF-8").into())
    }
}

/// Readings as JSON or CSV.
#[derive(ApiRequest)]
pub enum ReadingsBody {
    /// A JSON batch.
    Json(JsonBody<ReadingBatch>),
    /// A CSV batch for bulk backfill.
    Csv(CsvBody),
}

pub(crate) fn csv_rows(text: &str) -> Result<Vec<(usize, Vec<String>)>, Problem> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| Problem::malformed(Some("body"), format!("CSV header: {e}")))?.clone();
    let columns = ["station_code", "observed_at", "pollutant", "value", "unit", "correction"];
    let positions: Vec<Option<usize>> =
        columns.iter().map(|c| headers.iter().position(|h| h.eq_ignore_ascii_case(c))).collect();
    if let Some(i) = positions.iter().take(5).position(Option::is_none) {
        return Err(Problem::invalid("body", format!("the CSV header lacks the column `{}`", columns[i])));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| Problem::malformed(Some(&format!("line {line}")), e.to_string()))?;
        let cell = |k: usize| positions[k].and_then(|p| record.get(p)).unwrap_or("").to_owned();
        rows.push((line, (0..6).map(cell).collect()));
    }
    Ok(rows)
}

/// A row of a batch: its label (`readings[3]`, `line 4`), the prefix of its field names, and its
/// cells (station, observed_at, pollutant, value, unit, correction).
pub(crate) type LabelledRow = (String, String, [String; 6]);

/// The rows of a JSON or CSV batch, labelled the way rejections name them.
pub(crate) fn labelled_rows(body: ReadingsBody) -> Result<Vec<LabelledRow>, Problem> {
    Ok(match body {
        ReadingsBody::Json(JsonBody(batch)) => batch
            .readings
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let value = if r.value.is_finite() { format!("{}", r.value) } else { "NaN".into() };
                let cells = [
                    r.station_code,
                    r.observed_at,
                    r.pollutant,
                    value,
                    r.unit,
                    r.correction.unwrap_or(false).to_string(),
                ];
                (format!("readings[{i}]"), format!("readings[{i}]."), cells)
            })
            .collect(),
        ReadingsBody::Csv(CsvBody(text)) => csv_rows(&text)?
            .into_iter()
            .map(|(line, cells)| {
                let mut it = cells.into_iter();
                let cells: [String; 6] = std::array::from_fn(|_| it.next().unwrap_or_default());
                (format!("line {line}"), format!("line {line}: "), cells)
            })
            .collect(),
    })
}

/// A row that passed its checks: label, field prefix, the reading, whether it is a correction.
pub(crate) type CheckedRow<'a> = (&'a String, &'a String, CheckedReading, bool);

/// Checks each row on its own; the bad ones are rejected and named, the rest go on.
pub(crate) fn check_rows(rows: &[LabelledRow], now: i64) -> (Vec<CheckedRow<'_>>, Vec<RejectedRow>) {
    let mut rejected = Vec::new();
    let mut checked = Vec::with_capacity(rows.len());
    for (label, prefix, cells) in rows {
        let correction = match cells[5].to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" => false,
            "true" | "1" | "yes" => true,
            _ => {
                rejected.push(RejectedRow {
                    row: label.clone(),
                    field: format!("{prefix}correction"),
                    message: "expected true or false".into(),
                });
                continue;
            }
        };
        let raw = RawReading {
            station_code: &cells[0],
            observed_at: &cells[1],
            pollutant: &cells[2],
            value: &cells[3],
            unit: &cells[4],
        };
        match ingest::check(&raw, now) {
            Ok(r) => checked.push((label, prefix, r, correction)),
            Err(e) => rejected.push(RejectedRow {
                row: label.clone(),
                field: format!("{prefix}{}", e.field),
                message: e.message,
            }),
        }
    }
    (checked, rejected)
}
