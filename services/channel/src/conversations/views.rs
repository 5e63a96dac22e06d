//! The DTOs of `/v1/conversations` and `/v1/agents` (the contract the console is built on), and
//! the errors of their operations as problems.

use std::collections::HashMap;
use std::sync::RwLock;

use city_platform::problem::{kind, ErrorKind, ErrorSet};
use city_platform::{IntoProblem, Matching, Problem};
use poem_openapi::Object;
use serde::Deserialize;

use super::domain::{mask_openid, WINDOW_MS};
use super::kinds::*;
use super::store::{AgentRow, CannedRow, ConversationRow, MessageRow, TransferRow};

city_platform::pattern!(
    /// An agent's status as set.
    pub AgentStatusName = "^(online|away)$"
);
city_platform::pattern!(
    /// How a conversation ended.
    pub OutcomeName = "^(resolved|referred|no-reply|spam)$"
);

/// An agent.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationAgent")]
pub struct AgentView {
    /// The staff member's id.
    pub staff_id: String,
    /// Their sign-in name.
    pub display_name: String,
    /// `online` or `away`.
    pub status: String,
    /// Skill groups: booking, payments, incidents, air, general.
    pub groups: Vec<String>,
    /// `zh`, `en`.
    pub languages: Vec<String>,
    /// Most conversations at once.
    pub max_concurrent: i64,
    /// Conversations assigned now.
    pub active: i64,
    /// The Service Accounts served, by key (`city`, `health`, ...); empty: every account.
    pub accounts: Vec<String>,
}

impl From<AgentRow> for AgentView {
    fn from(a: AgentRow) -> Self {
        Self {
            staff_id: a.staff_id,
            display_name: a.display_name,
            status: a.status,
            groups: a.groups,
            languages: a.languages,
            max_concurrent: a.max_concurrent,
            active: a.active,
            accounts: a.accounts.iter().map(|appid| account_ref(appid).key).collect(),
        }
    }
}

/// Agents.
#[derive(Debug, Object)]
#[oai(rename = "ConversationAgentList")]
pub struct AgentList {
    /// By name.
    pub items: Vec<AgentView>,
}

/// An agent's status.
#[derive(Debug, Object, Deserialize)]
#[oai(rename = "ConversationStatusInput")]
pub struct StatusInput {
    /// `online` (routed to) or `away`.
    pub status: Matching<AgentStatusName>,
}

/// An admin's settings for an agent.
#[derive(Debug, Object, Deserialize)]
#[oai(rename = "ConversationAgentInput")]
pub struct AgentInput {
    /// Skill groups (booking, payments, incidents, air, general), at least one.
    #[oai(validator(min_items = 1, max_items = 5))]
    pub groups: Vec<String>,
    /// Languages (`zh`, `en`), at least one.
    #[oai(validator(min_items = 1, max_items = 2))]
    pub languages: Vec<String>,
    /// Most conversations at once, 1 to 50.
    #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
    pub max_concurrent: i64,
    /// The Service Accounts served, by key (`city`, `health`, ...); absent or empty: every account.
    #[oai(default, validator(max_items = 50))]
    #[serde(default)]
    pub accounts: Vec<String>,
}

/// A Service Account.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ServiceAccountRef")]
pub struct AccountView {
    /// Its key (`city`, or a departmental one such as `health`).
    pub key: String,
    /// Its appid.
    pub appid: String,
    /// Its name, Chinese and English.
    pub name: String,
}

/// appid → (key, name) of the accounts the channel handles, for the views (filled at start;
/// every channel of a process is configured alike, so one table serves them).
static ACCOUNTS: RwLock<Option<HashMap<String, (String, String)>>> = RwLock::new(None);

/// Makes the accounts' keys and names known to the views.
pub(crate) fn register_accounts(accounts: impl Iterator<Item = (String, String, String)>) {
    let mut table = ACCOUNTS.write().unwrap_or_else(|e| e.into_inner());
    let map = table.get_or_insert_with(HashMap::new);
    for (appid, key, name) in accounts {
        map.insert(appid, (key, name));
    }
}

/// The account with `appid`, as shown (the appid itself as key for one no longer configured).
pub fn account_ref(appid: &str) -> AccountView {
    let table = ACCOUNTS.read().unwrap_or_else(|e| e.into_inner());
    let (key, name) = table
        .as_ref()
        .and_then(|m| m.get(appid).cloned())
        .unwrap_or_else(|| (appid.to_owned(), ACCOUNT_NAME.to_owned()));
    AccountView { key, appid: appid.to_owned(), name }
}

/// The follower, masked.
#[derive(Debug, Clone, Object)]
#[oai(rename = "FollowerRef")]
pub struct FollowerView {
    /// The openid, masked (`o6_w…Xy1`).
    pub openid_masked: String,
    /// Whether they signed in to the portal.
    pub signed_in: bool,
}

/// A conversation in a list.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationSummary")]
pub struct Summary {
    /// Its id.
    pub id: String,
    /// The account the citizen wrote to: replies come from it.
    pub account: AccountView,
    /// The account whose agents handle it (the same unless transferred to another's).
    pub handled_by_account: AccountView,
    /// Who.
    pub follower: FollowerView,
    /// Skill group.
    pub group: String,
    /// `zh` or `en`, from the citizen's first text; agents speaking it are offered it first.
    pub language: String,
    /// `waiting`, `assigned` or `closed`.
    pub state: String,
    /// The agent holding it.
    #[oai(skip_serializing_if_is_none)]
    pub agent_id: Option<String>,
    /// Opened (UTC ms).
    pub opened_at_ms: i64,
    /// Last message either way (UTC ms).
    pub last_message_at_ms: i64,
    /// When the 48-hour reply window closes: the citizen's last message + 48 h (UTC ms).
    pub window_closes_at_ms: i64,
    /// The last text, up to 60 characters.
    pub preview: String,
    /// Place in the group's queue (1 = next) while waiting.
    #[oai(skip_serializing_if_is_none)]
    pub queue_position: Option<i64>,
    /// How it was closed.
    #[oai(skip_serializing_if_is_none)]
    pub outcome: Option<String>,
    /// The citizen's score, 1–5.
    #[oai(skip_serializing_if_is_none)]
    pub satisfaction: Option<i64>,
}

/// The name shown for an account no longer configured.
pub const ACCOUNT_NAME: &str = "城市服务 City Services";

impl From<ConversationRow> for Summary {
    fn from(c: ConversationRow) -> Self {
        Self {
            follower: FollowerView { openid_masked: mask_openid(&c.openid), signed_in: c.citizen_id.is_some() },
            account: account_ref(&c.account),
            handled_by_account: account_ref(&c.handled_by_account),
            id: c.id,
            group: c.topic,
            language: c.language,
            state: c.state,
            agent_id: c.agent_id,
            opened_at_ms: c.opened_at,
            last_message_at_ms: c.last_message_at,
            window_closes_at_ms: c.last_citizen_at + WINDOW_MS,
            preview: c.preview,
            queue_position: c.queue_position,
            outcome: c.outcome,
            satisfaction: c.satisfaction,
        }
    }
}

/// A page of conversations.
#[derive(Debug, Object)]
#[oai(rename = "ConversationSummaryPage")]
pub struct SummaryPage {
    /// The page.
    pub items: Vec<Summary>,
    /// How many match.
    pub total: i64,
}

/// A message.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationMessage")]
pub struct MessageView {
    /// Its id.
    pub id: String,
    /// `citizen`, `agent`, `assistant` or `system`.
    pub from: String,
    /// The agent who wrote it.
    #[oai(skip_serializing_if_is_none)]
    pub agent_id: Option<String>,
    /// `text`, `image`, `voice`, `location` or `template`.
    pub kind: String,
    /// The text (a media id for image and voice; `lat,lon` for a location).
    pub text: String,
    /// When (UTC ms).
    pub at_ms: i64,
    /// `sent`, `window-closed`, `failed`; absent for the citizen's.
    #[oai(skip_serializing_if_is_none)]
    pub delivery: Option<String>,
}

impl From<MessageRow> for MessageView {
    fn from(m: MessageRow) -> Self {
        Self {
            id: m.id,
            from: m.sender,
            agent_id: m.agent_id,
            kind: m.kind,
            text: m.text,
            at_ms: m.at,
            delivery: m.delivery,
        }
    }
}

/// A transfer.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationTransfer")]
pub struct TransferView {
    /// From whom.
    pub from_agent_id: String,
    /// To an agent.
    #[oai(skip_serializing_if_is_none)]
    pub to_agent_id: Option<String>,
    /// To a group's queue.
    #[oai(skip_serializing_if_is_none)]
    pub to_group: Option<String>,
    /// To another account's agents (its key).
    #[oai(skip_serializing_if_is_none)]
    pub to_account: Option<String>,
    /// Why.
    pub note: String,
    /// When (UTC ms).
    pub at_ms: i64,
}

impl From<TransferRow> for TransferView {
    fn from(t: TransferRow) -> Self {
        Self {
            from_agent_id: t.from_agent_id,
            to_agent_id: t.to_agent_id,
            to_group: t.to_group,
            to_account: t.to_account.map(|a| account_ref(&a).key),
            note: t.note,
            at_ms: t.at,
        }
    }
}

/// The citizen's next appointment, masked.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationAppointmentContext")]
pub struct AppointmentContext {
    /// Hospital, department, doctor.
    pub place: String,
    /// When, Beijing time.
    pub when: String,
    /// Who for, masked.
    pub patient: String,
}

/// Something unpaid.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationUnpaidContext")]
pub struct UnpaidContext {
    /// `bill` or `booking`.
    pub kind: String,
    /// What for.
    pub description: String,
    /// Amount, fen.
    pub amount_fen: i64,
    /// Last day to pay (Beijing), if any.
    #[oai(skip_serializing_if_is_none)]
    pub due_date: Option<String>,
}

/// An open ticket.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationTicketContext")]
pub struct TicketContext {
    /// The ticket's id.
    pub id: String,
    /// What it is about.
    pub summary: String,
    /// Its status.
    pub status: String,
}

/// A district.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationDistrictContext")]
pub struct DistrictContext {
    /// Division code.
    pub code: String,
    /// Name, Chinese and English.
    pub name: String,
}

/// Air at the follower's last location.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationAirContext")]
pub struct AirContext {
    /// The index, when published.
    #[oai(skip_serializing_if_is_none)]
    pub aqi: Option<i64>,
    /// Category in words.
    pub level: String,
}

/// The follower's situation across the services, masked.
#[derive(Debug, Clone, Object, Default)]
#[oai(rename = "FollowerContext")]
pub struct Context {
    /// Signed in to the portal.
    pub signed_in: bool,
    /// Next appointment.
    #[oai(skip_serializing_if_is_none)]
    pub next_appointment: Option<AppointmentContext>,
    /// Unpaid bills and fines.
    pub unpaid: Vec<UnpaidContext>,
    /// Open incident tickets.
    pub open_tickets: Vec<TicketContext>,
    /// District of the last location.
    #[oai(skip_serializing_if_is_none)]
    pub district: Option<DistrictContext>,
    /// Air there.
    #[oai(skip_serializing_if_is_none)]
    pub air: Option<AirContext>,
}

/// A conversation with its history and context.
#[derive(Debug, Object)]
#[oai(rename = "Conversation")]
pub struct ConversationView {
    /// The summary's fields.
    #[oai(flatten)]
    pub summary: Summary,
    /// Messages, oldest first.
    pub messages: Vec<MessageView>,
    /// Transfers, oldest first.
    pub transfers: Vec<TransferView>,
    /// The follower's context.
    pub context: Context,
}

/// A reply: free text or a canned reply.
#[derive(Debug, Object, Deserialize)]
#[oai(rename = "ConversationReplyInput")]
pub struct ReplyInput {
    /// The text, 1 to 600 characters.
    #[oai(skip_serializing_if_is_none, validator(min_length = 1, max_length = 600))]
    pub text: Option<String>,
    /// A canned reply's id instead.
    #[oai(skip_serializing_if_is_none, validator(min_length = 1, max_length = 64))]
    pub canned_reply_id: Option<String>,
}

/// A template message's text.
#[derive(Debug, Object, Deserialize)]
#[oai(rename = "ConversationTemplateInput")]
pub struct TemplateInput {
    /// 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub text: String,
}

/// Where to transfer.
#[derive(Debug, Object, Deserialize)]
#[oai(rename = "ConversationTransferInput")]
pub struct TransferInput {
    /// To this agent (who must have room).
    #[oai(skip_serializing_if_is_none)]
    pub to_agent_id: Option<String>,
    /// Or to this group's queue.
    #[oai(skip_serializing_if_is_none)]
    pub to_group: Option<String>,
    /// To another Service Account's agents (its key, e.g. `health`): the conversation joins
    /// that account's queue of `to_group` (its own group when absent); replies keep coming
    /// from the account the citizen wrote to.
    #[oai(skip_serializing_if_is_none, validator(max_length = 32))]
    pub to_account: Option<String>,
    /// For the next agent, up to 500 characters.
    #[oai(default, validator(max_length = 500))]
    #[serde(default)]
    pub note: String,
}

/// How the conversation ended.
#[derive(Debug, Object, Deserialize)]
#[oai(rename = "ConversationCloseInput")]
pub struct CloseInput {
    /// `resolved`, `referred`, `no-reply` or `spam`.
    pub outcome: Matching<OutcomeName>,
}

/// A canned reply.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationCanned")]
pub struct CannedView {
    /// Its id.
    pub id: String,
    /// Short title.
    pub title: String,
    /// The text.
    pub text: String,
    /// Its group.
    pub group: String,
}

impl From<CannedRow> for CannedView {
    fn from(c: CannedRow) -> Self {
        Self { id: c.id, title: c.title, text: c.text, group: c.group }
    }
}

/// Canned replies.
#[derive(Debug, Object)]
#[oai(rename = "ConversationCannedList")]
pub struct CannedList {
    /// By group then title.
    pub items: Vec<CannedView>,
}

/// A new canned reply.
#[derive(Debug, Object, Deserialize)]
#[oai(rename = "ConversationCannedInput")]
pub struct CannedInput {
    /// 1 to 60 characters.
    #[oai(validator(min_length = 1, max_length = 60))]
    pub title: String,
    /// 1 to 600 characters.
    #[oai(validator(min_length = 1, max_length = 600))]
    pub text: String,
    /// Its group.
    pub group: String,
}

/// What a conversation operation can fail with.
#[derive(Debug)]
pub enum ConvError {
    /// Not an agent (or not an admin where one is needed).
    Forbidden(String),
    /// A field is wrong.
    Invalid(&'static str, String),
    /// No such conversation (or not one the caller may see).
    NotFound,
    /// Accepting one another agent holds.
    Taken,
    /// The agent holds their maximum.
    Full,
    /// Not assigned to the caller.
    NotYours,
    /// WeChat answered 45015; the message was kept as window-closed.
    WindowClosed,
    /// WeChat did not take it.
    Wechat,
    /// The store failed.
    Store(sqlx::Error),
}

impl From<sqlx::Error> for ConvError {
    fn from(e: sqlx::Error) -> Self {
        ConvError::Store(e)
    }
}

impl From<Problem> for ConvError {
    fn from(p: Problem) -> Self {
        ConvError::Forbidden(p.detail.unwrap_or_default())
    }
}

impl IntoProblem for ConvError {
    fn into_problem(self) -> Problem {
        match self {
            ConvError::Forbidden(why) => Problem::forbidden(why),
            ConvError::Invalid(field, why) => Problem::invalid(field, why),
            ConvError::NotFound => Problem::of(&UNKNOWN_CONVERSATION),
            ConvError::Taken => Problem::of(&CONVERSATION_TAKEN),
            ConvError::Full => Problem::of(&AGENT_AT_CAPACITY),
            ConvError::NotYours => Problem::of(&NOT_YOUR_CONVERSATION),
            ConvError::WindowClosed => Problem::of(&REPLY_WINDOW_CLOSED),
            ConvError::Wechat => Problem::unavailable("WeChat did not take the message; try again shortly"),
            ConvError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for ConvError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::FORBIDDEN, &kind::VALIDATION, &UNKNOWN_CONVERSATION]
    }
}

city_platform::error_set!(
    /// Agents' operations: not an agent, a bad field.
    pub AgentErrors = [kind::FORBIDDEN, kind::VALIDATION]
);
city_platform::error_set!(
    /// Accepting: taken by another agent, or the caller is full.
    pub AcceptErrors = [CONVERSATION_TAKEN, AGENT_AT_CAPACITY] + ConvError
);
city_platform::error_set!(
    /// Replying: not the caller's, or WeChat's 48-hour window closed.
    pub ReplyErrors = [NOT_YOUR_CONVERSATION, REPLY_WINDOW_CLOSED] + ConvError
);
city_platform::error_set!(
    /// Transferring or closing: not the caller's, or the target agent is full.
    pub MoveErrors = [NOT_YOUR_CONVERSATION, AGENT_AT_CAPACITY] + ConvError
);
