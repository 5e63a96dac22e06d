//! The finance office's bill file: `biller_id,account_no,period,amount_yuan,due_date` with a
//! header row. A file is imported whole or not at all, so every bad row is reported at once.

use chrono::NaiveDate;

/// One good row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// Biller id.
    pub biller_id: String,
    /// Account number (户号).
    pub account_no: String,
    /// Billing period, e.g. `2026-10`.
    pub period: String,
    /// Amount due, fen.
    pub amount_fen: i64,
    /// Due date.
    pub due_date: NaiveDate,
}

/// A bad row: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line number in the file.
    pub line: u64,
    /// The column at fault, when one is.
    pub column: Option<&'static str>,
    /// What is wrong.
    pub message: String,
}

/// The columns, in order.
pub const COLUMNS: [&str; 5] = ["biller_id", "account_no", "period", "amount_yuan", "due_date"];

/// Parses a whole file; `Err` lists every bad row. `known_biller` says which biller ids exist.
/// A record of a CSV import with its line number, or the row error when it cannot be read or has
/// the wrong number of columns; shared by the bill file and the fines file.
pub(crate) fn whole_row(
    record: Result<csv::StringRecord, csv::Error>,
    columns: usize,
) -> Result<(u64, csv::StringRecord), RowError> {
    let record = record.map_err(|err| RowError {
        line: err.position().map_or(0, csv::Position::line),
        column: None,
        message: "unreadable row (encoding or quoting)".into(),
    })?;
    let line = record.position().map_or(0, csv::Position::line);
    if record.len() != columns {
        return Err(RowError {
            line,
            column: None,
            message: format!("expected {columns} columns, found {}", record.len()),
        });
    }
    Ok((line, record))
}

pub fn parse_bills(data: &[u8], known_biller: impl Fn(&str) -> bool) -> Result<Vec<BillRow>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(data);
    let mut errors = Vec::new();
    match reader.headers() {
        Ok(h) if h.iter().map(|c| c.trim_start_matches('\u{feff}')).eq(COLUMNS.iter().copied()) => {}
        Ok(_) => errors.push(RowError {
            line: 1,
            column: None,
            message: format!("the header must be {}", COLUMNS.join(",")),
        }),
        Err(err) => errors.push(RowError { line: 1, column: None, message: err.to_string() }),
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for record in reader.records() {
        let (line, record) = match whole_row(record, COLUMNS.len()) {
            Ok(row) => row,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        let mut bad = |column: &'static str, message: &str| {
            errors.push(RowError { line, column: Some(column), message: message.into() });
        };
        let biller_id = record[0].to_owned();
        let account_no = record[1].to_owned();
        let period = record[2].to_owned();
        let mut ok = true;
        if !known_biller(&biller_id) {
            bad("biller_id", "unknown biller");
            ok = false;
        }
        if account_no.is_empty() || account_no.len() > 32 || !account_no.chars().all(|c| c.is_ascii_alphanumeric()) {
            bad("account_no", "must be 1-32 letters or digits");
            ok = false;
        }
        if period.is_empty() || period.len() > 20 {
            bad("period", "must be 1-20 characters");
            ok = false;
        }
        let amount = city_wechat::pay_client::yuan_to_fen(&record[3]).filter(|f| *f > 0);
        if amount.is_none() {
            bad("amount_yuan", "must be a positive amount in yuan with at most two decimals");
            ok = false;
        }
        let due = NaiveDate::parse_from_str(&record[4], "%Y-%m-%d").ok();
        if due.is_none() {
            bad("due_date", "must be a date YYYY-MM-DD");
            ok = false;
        }
        if ok && !seen.insert((biller_id.clone(), account_no.clone(), period.clone())) {
            bad("period", "the same account and period appear twice in the file");
            ok = false;
        }
        if let (true, Some(amount_fen), Some(due_date)) = (ok, amount, due) {
            rows.push(BillRow { line, biller_id, account_no, period, amount_fen, due_date });
        }
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

    #[test]
    fn a_good_file_parses_with_amounts_in_fen() {
        let file = "biller_id,account_no,period,amount_yuan,due_date\ncd-power,3100123456,2026-11,123.4,2026-12-10\n";
        let rows = parse_bills(file.as_bytes(), |b| b == "cd-power").unwrap();
        assert_eq!(rows[0].amount_fen, 12340);
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let file = "biller_id,account_no,period,amount_yuan,due_date\n\
                    cd-power,3100123456,2026-11,abc,2026-12-10\n\
                    cd-power,3100123456,2026-12,10.00,2026-12-10\n\
                    nobody,1,2026-11,1.00,tomorrow\n";
        let errors = parse_bills(file.as_bytes(), |b| b == "cd-power").unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 4, 4]);
        assert_eq!(errors[0].column, Some("amount_yuan"));
    }
}
