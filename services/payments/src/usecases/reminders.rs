//! Reminders (issue #23): a new bill, a bill due in [`DUE_AHEAD_DAYS`] Beijing days, and a new
//! fine for a vehicle the citizen bound, each once per item and citizen (the reminder's key is
//! the store's primary key, written with the notice), through the channels the citizen chose
//! (the notifier asks identity). A paid item is never selected, so paying stops its reminders.

use chrono::Days;
use city_platform::money::Fen;
use serde_json::json;

use crate::store::reminders::Remindable;
use crate::store::StoreError;
use crate::PaymentsState;

/// How many days before the due date the due reminder goes.
pub const DUE_AHEAD_DAYS: u64 = 3;

/// The kinds of reminder, as the notice's `kind` and the key's prefix.
const BILL_NEW: &str = "bill_new";
const BILL_DUE: &str = "bill_due";
const FINE_NEW: &str = "fine_new";

/// One round: every reminder due now; how many were sent.
#[tracing::instrument(skip_all)]
pub async fn run_reminders(state: &PaymentsState) -> Result<usize, StoreError> {
    let store = &state.store;
    let now = state.clock.now_ms();
    let mut sent = 0;
    for item in store.bills_to_remind(BILL_NEW, None).await? {
        sent += usize::from(remind(state, BILL_NEW, &item, now).await?);
    }
    let due = state.clock.today().checked_add_days(Days::new(DUE_AHEAD_DAYS)).map(|d| d.format("%Y-%m-%d").to_string());
    if let Some(due) = due {
        for item in store.bills_to_remind(BILL_DUE, Some(&due)).await? {
            sent += usize::from(remind(state, BILL_DUE, &item, now).await?);
        }
    }
    for item in store.fines_to_remind(FINE_NEW).await? {
        sent += usize::from(remind(state, FINE_NEW, &item, now).await?);
    }
    Ok(sent)
}

async fn remind(state: &PaymentsState, what: &str, item: &Remindable, now: i64) -> Result<bool, StoreError> {
    let key = format!("{what}:{}:{}", item.item_id, item.citizen_id);
    let amount = Fen(item.amount_fen);
    let (title_zh, title_en, body_zh, body_en) = match what {
        BILL_NEW => (
            "新账单",
            "New bill",
            format!("{} 期账单 {amount}，请在 {} 前缴纳。", item.label, item.detail),
            format!("Your bill for {} is {amount}, due by {}.", item.label, item.detail),
        ),
        BILL_DUE => (
            "账单即将到期",
            "Bill due soon",
            format!("{} 期账单 {amount} 将于 {} 到期。", item.label, item.detail),
            format!("Your bill for {} ({amount}) is due on {}.", item.label, item.detail),
        ),
        _ => (
            "新的交通罚款",
            "New traffic fine",
            format!("决定书 {}：{}，罚款 {amount}。", item.label, item.detail),
            format!("Decision {}: {}, fine {amount}.", item.label, item.detail),
        ),
    };
    let notice = json!({
        "notification_id": format!("payments:{key}"),
        "citizen_id": item.citizen_id,
        "kind": format!("payments.{what}"),
        "title_zh": title_zh, "title_en": title_en, "body_zh": body_zh, "body_en": body_en,
        "data": {"item_id": item.item_id, "amount_fen": item.amount_fen},
        "channels": ["miniprogram", "oa_template"],
    });
    let sent = state.store.remind_once(&key, &item.citizen_id, &notice, now).await?;
    if sent {
        tracing::info!(item_id = %item.item_id, citizen_id = %item.citizen_id, "reminder {what} sent");
    }
    Ok(sent)
}
