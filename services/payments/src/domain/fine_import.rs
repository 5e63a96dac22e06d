//! The traffic police's fines file: `decision_no,plate,plate_type,engine_no,fine_yuan,decided_on,
//! violation,location` with a header row. It feeds both the fines and the vehicle registry (the
//! engine number is reduced to its last six characters and hashed on the way in). A file is
//! imported whole or not at all, so every bad row is reported at once.

use chrono::NaiveDate;

use super::import::{whole_row, RowError};
use super::vehicles::EngineCode;
use super::{decision_no, plate_type, Plate};

/// One good row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FineImportRow {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// Decision number (决定书编号).
    pub decision_no: String,
    /// The plate.
    pub plate: Plate,
    /// Plate type code.
    pub plate_type: &'static str,
    /// The last six characters of the engine number.
    pub engine: EngineCode,
    /// The fine, fen.
    pub fine_fen: i64,
    /// Beijing date the decision was served.
    pub decided_on: NaiveDate,
    /// What happened.
    pub violation: String,
    /// Where.
    pub location: String,
}

/// The columns, in order.
pub const COLUMNS: [&str; 8] =
    ["decision_no", "plate", "plate_type", "engine_no", "fine_yuan", "decided_on", "violation", "location"];

/// Parses a whole file; `Err` lists every bad row.
pub fn parse_fines(data: &[u8]) -> Result<Vec<FineImportRow>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(data);
    match reader.headers() {
        Ok(h) if h.iter().map(|c| c.trim_start_matches('\u{feff}')).eq(COLUMNS.iter().copied()) => {}
        Ok(_) => {
            return Err(vec![RowError {
                line: 1,
                column: None,
                message: format!("the header must be {}", COLUMNS.join(",")),
            }])
        }
        Err(err) => return Err(vec![RowError { line: 1, column: None, message: err.to_string() }]),
    }
    let mut errors = Vec::new();
    let mut rows: Vec<FineImportRow> = Vec::new();
    for record in reader.records() {
        let (line, record) = match whole_row(record, COLUMNS.len()) {
            Ok(row) => row,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        let mut found: Vec<RowError> = Vec::new();
        // A macro, not a closure: `found` is read between the pushes.
        macro_rules! bad {
            ($column:expr, $message:expr) => {
                found.push(RowError { line, column: Some($column), message: String::from($message) })
            };
        }
        let decision = decision_no(&record[0]);
        if decision.is_none() {
            bad!("decision_no", "must be 15-20 digits");
        }
        let plate = Plate::parse(&record[1]);
        if plate.is_none() {
            bad!("plate", "not a plate number");
        }
        let kind = plate_type(&record[2]);
        if kind.is_none() {
            bad!("plate_type", "not a plate type code");
        }
        let engine = EngineCode::of_engine_number(&record[3]);
        if engine.is_none() {
            bad!("engine_no", "must be 6-30 letters or digits");
        }
        let fine = city_wechat::pay_client::yuan_to_fen(&record[4]).filter(|f| *f > 0);
        if fine.is_none() {
            bad!("fine_yuan", "must be a positive amount in yuan with at most two decimals");
        }
        let decided = NaiveDate::parse_from_str(&record[5], "%Y-%m-%d").ok();
        if decided.is_none() {
            bad!("decided_on", "must be a date YYYY-MM-DD");
        }
        for (i, column) in [(6, "violation"), (7, "location")] {
            if record[i].is_empty() || record[i].chars().count() > 200 {
                bad!(column, "must be 1-200 characters");
            }
        }
        let (Some(decision_no), Some(plate), Some(plate_type), Some(engine), Some(fine_fen), Some(decided_on), true) =
            (decision, plate, kind, engine, fine, decided, found.is_empty())
        else {
            errors.append(&mut found);
            continue;
        };
        if rows.iter().any(|r| r.decision_no == decision_no) {
            bad!("decision_no", "the same decision appears twice in the file");
        } else if rows.iter().any(|r| r.plate == plate && r.plate_type == plate_type && r.engine != engine) {
            // One car per plate in a file: two engines for one plate cannot both be right.
            bad!("engine_no", "another row gives this plate another engine number");
        }
        if !found.is_empty() {
            errors.append(&mut found);
            continue;
        }
        rows.push(FineImportRow {
            line,
            decision_no,
            plate,
            plate_type,
            engine,
            fine_fen,
            decided_on,
            violation: record[6].to_owned(),
            location: record[7].to_owned(),
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "decision_no,plate,plate_type,engine_no,fine_yuan,decided_on,violation,location\n";

    #[test]
    fn a_good_file_parses_with_the_engine_number_cut_to_six() {
        let file = format!("{HEADER}510104100009999901,川A54321,02,LJ4A0098765Z,200,2026-11-20,闯红灯,人民南路\n");
        let rows = parse_fines(file.as_bytes()).unwrap();
        assert_eq!(rows[0].fine_fen, 20000);
        assert_eq!(rows[0].engine, EngineCode::parse("98765Z").unwrap());
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn every_bad_row_is_named_and_one_plate_cannot_have_two_engines() {
        let file = format!(
            "{HEADER}510104100009999901,川A54321,02,LJ4A0098765Z,200,2026-11-20,闯红灯,人民南路\n\
             12,ABC,99,123,x,tomorrow,,\n\
             510104100009999902,川A54321,02,LJ4A0011111Z,200,2026-11-20,闯红灯,人民南路\n"
        );
        let errors = parse_fines(file.as_bytes()).unwrap_err();
        let at: Vec<(u64, Option<&str>)> = errors.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(
            at,
            [
                (3, Some("decision_no")),
                (3, Some("plate")),
                (3, Some("plate_type")),
                (3, Some("engine_no")),
                (3, Some("fine_yuan")),
                (3, Some("decided_on")),
                (3, Some("violation")),
                (3, Some("location")),
                (4, Some("engine_no")),
            ]
        );
    }
}
