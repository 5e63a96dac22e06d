//! The demo's bills and fines (issue #25), on top of `seeds/payments/demo.json`: a bill for each
//! prepaid demo account too, and for each demo plate a fine in every surcharge state as of
//! today in Beijing: on time, on its last day, late (3 % a day) and capped at the fine itself.
//!
//! They go in the way a city's data does: the finance office's bill file and the traffic
//! police's fines file, through the import use cases. The same file again changes nothing; a
//! later day's file finds its decisions and periods known and leaves them as they are.
//! Demo profile only, with `seed_demo_data` and `demo_activity`.

use chrono::{Datelike, Duration, NaiveDate};
use city_platform::config::Profile;
use city_platform::Settings;

use crate::usecases::imports::{self, FinesImported, Imported};
use crate::PaymentsState;

/// The demo plates with the engine numbers the seed registers them with.
const PLATES: [(&str, &str, &str); 2] =
    [("川A12345", "02", "LFV2A1K50123456"), ("川AD12345", "52", "TZ220XS0A8Y654321")];

/// Whether these settings want the demo's bills and fines.
pub fn enabled(settings: &Settings) -> bool {
    settings.profile == Profile::Demo && settings.seed_demo_data && settings.demo_activity
}

/// The fines file: `(decision, plate index, yuan, days since the decision, violation, location)`.
pub fn fines_file(today: NaiveDate) -> String {
    let rows: [(&str, usize, &str, i64, &str, &str); 5] = [
        ("5101041000012350", 0, "150.00", 15, "未按规定让行 (failing to yield)", "天府大道北段"),
        ("5101041000012351", 0, "200.00", 70, "超速行驶 (speeding)", "成都绕城高速"),
        ("5101041000012352", 1, "200.00", 6, "违反禁令标志指示 (ignoring a no-entry sign)", "红星路三段"),
        ("5101041000012353", 1, "150.00", 15, "未按规定让行 (failing to yield)", "人民北路"),
        ("5101041000012354", 1, "50.00", 30, "机动车违反规定停放 (illegal parking)", "蜀都大道"),
    ];
    let mut csv = String::from("decision_no,plate,plate_type,engine_no,fine_yuan,decided_on,violation,location\n");
    for (decision, plate, yuan, days, violation, location) in rows {
        let (plate, plate_type, engine) = PLATES[plate];
        let decided = today - Duration::days(days);
        csv.push_str(&format!("{decision},{plate},{plate_type},{engine},{yuan},{decided},{violation},{location}\n"));
    }
    csv
}

/// The bill file: last month's bill of each prepaid demo account, due in ten days.
pub fn bills_file(today: NaiveDate) -> String {
    let last_month = today.with_day(1).and_then(|d| d.pred_opt()).unwrap_or(today);
    let period = format!("{:04}-{:02}", last_month.year(), last_month.month());
    let due = today + Duration::days(10);
    format!(
        "biller_id,account_no,period,amount_yuan,due_date\n\
         cd-power,3100654321,{period},96.40,{due}\n\
         cd-gas,G7700112,{period},58.20,{due}\n"
    )
}

/// At start, when the settings want it: imports both files (a file already imported, or whose
/// rows are known, changes nothing).
pub async fn start(state: &PaymentsState) {
    if !enabled(&state.platform.settings) {
        return;
    }
    let today = state.clock.today();
    let name = format!("demo-fines-{today}.csv");
    match imports::import_fines(state, fines_file(today).as_bytes(), &name, None).await {
        Ok(FinesImported::Now { new_fines, .. }) => tracing::info!(new_fines, "payments: demo fines imported"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "payments: demo fines not imported"),
    }
    let name = format!("demo-bills-{today}.csv");
    match imports::import_bills(state, bills_file(today).as_bytes(), &name, None, &|_, _| {}).await {
        Ok(Imported::Now { rows, .. }) => tracing::info!(rows, "payments: demo bills imported"),
        Ok(Imported::Before { .. }) => {}
        // This month's bills are there already (an earlier start): nothing to add.
        Err(imports::ImportError::BadRows(_)) => {}
        Err(e) => tracing::warn!(error = %e, "payments: demo bills not imported"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fine_import::parse_fines;
    use crate::domain::fines::fine_quote;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn each_plate_has_a_fine_in_every_surcharge_state_with_the_seed() {
        let today = d("2026-12-03");
        let rows = parse_fines(fines_file(today).as_bytes()).unwrap();
        // The seed's own fines: 川A12345 3 and 20 days old, 川AD12345 80 days old.
        let seeded = [("川A12345", 20000, 3), ("川A12345", 10000, 20), ("川AD12345", 5000, 80)];
        for (plate, _, _) in PLATES {
            let mut states = std::collections::BTreeSet::new();
            let ours = rows.iter().filter(|r| r.plate.as_str() == plate).map(|r| (r.fine_fen, r.decided_on));
            let seed = seeded.iter().filter(|s| s.0 == plate).map(|s| (s.1, today - Duration::days(s.2)));
            for (fine, decided) in ours.chain(seed) {
                let q = fine_quote(fine, decided, today);
                states.insert(match (q.late_days, q.surcharge_fen) {
                    (0, _) if (today - decided).num_days() == 15 => "last day",
                    (0, _) => "on time",
                    (_, s) if s == fine => "capped",
                    _ => "late",
                });
            }
            assert_eq!(states.len(), 4, "{plate}: {states:?}");
        }
    }

    #[test]
    fn the_bill_file_names_last_month() {
        assert!(bills_file(d("2026-01-15")).contains(",2025-12,"));
        assert!(bills_file(d("2026-12-03")).contains("cd-gas,G7700112,2026-11,58.20,2026-12-13"));
    }
}
