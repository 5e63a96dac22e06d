//! Conversations with city agents (issue #20): what the assistant cannot answer, or a citizen
//! asking for a person, becomes a conversation routed to an agent of its skill group; agents
//! reply as customer-service messages within WeChat's 48-hour window.
//!
//! Layout: [`domain`] (rules and words, pure), [`store`] (`crate::store::conversations`: SQL, the routing transaction),
//! [`kinds`] (error kinds), [`views`] (DTOs), `api` (`/v1/conversations`, `/v1/agents`), `events` (server-sent events across replicas),
//! this module (the use cases the callback and the API call).
//!
//! Invariants: a conversation is assigned to one agent at a time and no agent holds more than
//! their maximum (the store's conditional updates); a follower has at most one open
//! conversation per account; a push (by its dedupe key) adds one message whatever the retries.

pub mod api;
pub mod domain;
pub(crate) mod events;
pub mod kinds;
pub mod views;

/// The SQL, kept with the service's other stores.
pub use crate::store::conversations as store;

use std::sync::Arc;
use std::time::Duration;

use city_platform::audit::AuditEntry;
use city_platform::config::ConversationSettings;
use city_platform::time::now_ms;
use city_platform::{Db, Platform};

use self::domain::Handover;
use self::store::{ConversationRow, Incoming};
use crate::accounts::Accounts;
use crate::services::CityServices;

/// What conversations need, shared by the callback, the API and the background tasks.
pub struct Conversations {
    pub(crate) db: Db,
    pub(crate) platform: Platform,
    pub(crate) settings: ConversationSettings,
    /// Every Service Account; messages go out through the one the citizen wrote to.
    pub(crate) accounts: Arc<Accounts>,
    pub(crate) services: Arc<dyn CityServices>,
    pub(crate) events: events::Hub,
}

/// A score is taken as the answer to the satisfaction question this long after the close.
const SURVEY_MS: i64 = 24 * 3600 * 1000;
/// A follower WeChat gave no unionid is asked about again after this long.
const NO_UNIONID_MS: i64 = 10 * 60 * 1000;
/// How long classifying a new conversation may wait for the other services.
const CLASSIFY_BUDGET: Duration = Duration::from_millis(1500);

impl Conversations {
    /// Conversations over the channel's store and clients.
    pub fn new(db: Db, platform: Platform, accounts: Arc<Accounts>, services: Arc<dyn CityServices>) -> Arc<Self> {
        let settings = platform.settings.channel.conversations.clone();
        let events = events::Hub::new();
        let me = Arc::new(Self { db, platform, settings, accounts, services, events });
        events::start(&me);
        me
    }

    /// A citizen's text to `account` (appid): an emergency first, then a satisfaction score, then an open
    /// conversation continued, then a request for a person, then the FAQ (`faq`), else a new
    /// conversation. The words to answer in the passive reply, if any.
    pub async fn on_text(
        &self,
        account: &str,
        openid: &str,
        dedupe_key: &str,
        text: &str,
        faq: Option<&str>,
    ) -> Result<Option<String>, sqlx::Error> {
        let at = now_ms();
        let incoming = Incoming { account, openid, dedupe_key, kind: "text", content: text, at };
        if let Some(e) = domain::emergency(text) {
            // Kept too: the agent who takes it sees what was reported.
            self.keep(&incoming, None).await?;
            return Ok(Some(domain::emergency_reply(e)));
        }
        if let Some(score) = domain::satisfaction_score(text) {
            if store::record_satisfaction(&self.db, account, openid, score, at - SURVEY_MS).await?.is_some() {
                return Ok(Some(domain::satisfaction_thanks(score)));
            }
        }
        let open = store::open_for(&self.db, account, openid).await?.is_some();
        if !open && !domain::wants_person(text) {
            if let Some(answer) = faq {
                return Ok(Some(answer.to_owned()));
            }
        }
        self.hand_over(&incoming, domain::topic_of_text(text)).await
    }

    /// An image or voice message: into the follower's conversation.
    pub async fn on_media(
        &self,
        account: &str,
        openid: &str,
        dedupe_key: &str,
        kind: &str,
        media_id: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let incoming = Incoming { account, openid, dedupe_key, kind, content: media_id, at: now_ms() };
        self.hand_over(&incoming, None).await
    }

    /// A location message: kept in an open conversation only (the assistant answers it anyway).
    pub async fn on_location(
        &self,
        account: &str,
        openid: &str,
        dedupe_key: &str,
        latitude: f64,
        longitude: f64,
    ) -> Result<(), sqlx::Error> {
        if store::open_for(&self.db, account, openid).await?.is_some() {
            let place = format!("{latitude:.5},{longitude:.5}");
            let incoming = Incoming { account, openid, dedupe_key, kind: "location", content: &place, at: now_ms() };
            self.keep(&incoming, None).await?;
        }
        Ok(())
    }

    /// The menu's "talk to a person" key (`TALK_TO_AGENT`, or `TALK_TO_AGENT_<GROUP>`).
    pub async fn on_talk_key(
        &self,
        account: &str,
        openid: &str,
        dedupe_key: &str,
        key: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let incoming = Incoming {
            account,
            openid,
            dedupe_key,
            kind: "text",
            content: "[菜单 Menu] 人工客服 Talk to a person",
            at: now_ms(),
        };
        self.hand_over(&incoming, domain::topic_of_key(key)).await
    }

    /// Keeps the message; when it opened a conversation, routes it and says so.
    async fn hand_over(&self, m: &Incoming<'_>, topic: Option<&'static str>) -> Result<Option<String>, sqlx::Error> {
        let kept = self.keep(m, topic).await?;
        if !kept.opened && kept.new_message {
            // A conversation under way: the agent answers.
            return Ok(None);
        }
        let Some(conv) = store::conversation(&self.db, &kept.conversation_id).await? else { return Ok(None) };
        Ok(Some(domain::handover_reply(self.handover_of(&conv).await?, &self.settings)))
    }

    /// Keeps the message in the follower's conversation (opening and routing one if none).
    async fn keep(&self, m: &Incoming<'_>, topic: Option<&'static str>) -> Result<store::Kept, sqlx::Error> {
        let (topic, citizen) = if store::open_for(&self.db, m.account, m.openid).await?.is_some() {
            ("general", None)
        } else {
            self.classify(m.account, m.openid, topic).await
        };
        let kept = store::keep_incoming(&self.db, m, topic, citizen.as_deref()).await?;
        if kept.new_message {
            if kept.opened {
                self.dispatch_for(topic, m.account).await?;
            }
            self.changed(&kept.conversation_id).await;
        }
        Ok(kept)
    }

    /// The group of a new conversation: what the message says, else the citizen's recent
    /// activity (an appointment tomorrow, something unpaid, an open ticket), else general; and the citizen.
    async fn classify(
        &self,
        account: &str,
        openid: &str,
        said: Option<&'static str>,
    ) -> (&'static str, Option<String>) {
        let lookup = async {
            let citizen = self.citizen_of(account, openid).await?;
            if said.is_some() {
                return Some((said, citizen));
            }
            let tomorrow = tomorrow_beijing(now_ms());
            if let Ok(Some(a)) = self.services.next_appointment(&citizen).await {
                if a.when.starts_with(&tomorrow) {
                    return Some((Some("booking"), citizen));
                }
            }
            if self.services.unpaid(&citizen).await.is_ok_and(|b| !b.is_empty()) {
                return Some((Some("payments"), citizen));
            }
            if self.services.open_tickets(&citizen).await.is_ok_and(|t| !t.is_empty()) {
                return Some((Some("incidents"), citizen));
            }
            Some((None, citizen))
        };
        match tokio::time::timeout(CLASSIFY_BUDGET, lookup).await {
            Ok(Some((topic, citizen))) => (topic.unwrap_or("general"), Some(citizen)),
            _ => (said.unwrap_or("general"), None),
        }
    }

    /// The citizen behind `account`'s follower `openid`: identity knows the city account's
    /// openids; for any account, the unionid WeChat gives (`/cgi-bin/user/info`, kept a while)
    /// finds the same citizen whichever account they wrote to.
    pub(crate) async fn citizen_of(&self, account: &str, openid: &str) -> Option<String> {
        if let Ok(Some(citizen)) = self.services.citizen_for_openid(openid).await {
            return Some(citizen);
        }
        let unionid = self.unionid_of(account, openid).await?;
        self.services.citizen_for_unionid(&unionid).await.ok().flatten()
    }

    /// The follower's unionid: the one kept, else WeChat's answer (kept; "none" only for
    /// [`NO_UNIONID_MS`], as the follower may bind or sign in later).
    async fn unionid_of(&self, account: &str, openid: &str) -> Option<String> {
        let now = now_ms();
        match store::kept_unionid(&self.db, account, openid).await {
            Ok(Some((Some(unionid), _))) => return Some(unionid),
            Ok(Some((None, at))) if now - at < NO_UNIONID_MS => return None,
            _ => {}
        }
        let client = &self.accounts.by_appid(account)?.api;
        match client.follower_unionid(openid).await {
            Ok(unionid) => {
                if let Err(e) = store::keep_unionid(&self.db, account, openid, unionid.as_deref(), now).await {
                    tracing::warn!(error = %e, "could not keep a follower's unionid");
                }
                unionid
            }
            Err(e) => {
                tracing::warn!(error = %e, "WeChat's user/info did not answer; the follower's context is partial");
                None
            }
        }
    }

    async fn handover_of(&self, conv: &ConversationRow) -> Result<Handover, sqlx::Error> {
        if conv.state == "assigned" {
            return Ok(Handover::Assigned);
        }
        if !domain::in_service_hours(&self.settings, now_ms()) {
            return Ok(Handover::OffHours);
        }
        let position = conv.queue_position.unwrap_or(1);
        let online = store::online_in(&self.db, &conv.topic, &conv.handled_by_account).await?;
        if online == 0 {
            return Ok(Handover::OffHours);
        }
        let wait_minutes = domain::expected_wait_minutes(position, online, self.settings.handling_minutes);
        Ok(Handover::Queued { position, wait_minutes })
    }

    /// Assigns waiting conversations of `topic`, of every account, while agents of the group
    /// serving that account have room, oldest first.
    pub async fn dispatch(&self, topic: &str) -> Result<usize, sqlx::Error> {
        let mut n = 0;
        for a in self.accounts.all() {
            n += self.dispatch_for(topic, &a.appid).await?;
        }
        Ok(n)
    }

    /// [`Conversations::dispatch`] for the conversations handled by `account`'s agents.
    pub async fn dispatch_for(&self, topic: &str, account: &str) -> Result<usize, sqlx::Error> {
        let mut n = 0;
        while let Some((conv, _agent)) = store::assign_next(&self.db, topic, account).await? {
            n += 1;
            self.changed(&conv).await;
        }
        Ok(n)
    }

    /// [`Conversations::dispatch`] for each group.
    pub async fn dispatch_groups(&self, groups: &[String]) -> Result<(), sqlx::Error> {
        for g in groups {
            self.dispatch(g).await?;
        }
        Ok(())
    }

    /// Tells agents' event streams (on every replica) that the conversation changed.
    pub(crate) async fn changed(&self, conversation_id: &str) {
        events::publish(self, conversation_id).await;
    }

    /// Closes a conversation, asks the satisfaction question, and lets the next waiting one in.
    pub async fn close(
        &self,
        id: &str,
        agent: Option<&str>,
        outcome: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, sqlx::Error> {
        self.close_saying(id, agent, outcome, None, audit).await
    }

    /// [`Conversations::close`], telling the citizen `notice` first. Only the call that closed
    /// it speaks, so replicas sweeping at once tell the citizen once.
    async fn close_saying(
        &self,
        id: &str,
        agent: Option<&str>,
        outcome: &str,
        notice: Option<String>,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let Some(held) = store::close(&self.db, id, agent, outcome, now, audit).await? else { return Ok(false) };
        let conv = store::conversation(&self.db, id).await?;
        if let Some(conv) = &conv {
            // The notice (if any), then the one satisfaction question, from the account written to.
            for text in notice.into_iter().chain([domain::satisfaction_question()]) {
                let delivery = self.send_text(&conv.account, &conv.openid, &text).await;
                store::add_outgoing(
                    &self.db,
                    id,
                    &conv.openid,
                    "system",
                    None,
                    "text",
                    &text,
                    delivery.as_str(),
                    now,
                    None,
                )
                .await?;
            }
        }
        self.changed(id).await;
        if let Some(agent) = held {
            if let Some(a) = store::agent(&self.db, &agent).await? {
                self.dispatch_groups(&a.groups).await?;
            }
        }
        Ok(true)
    }

    /// Sends a customer-service text from `account` (the appid the citizen wrote to); what
    /// became of it.
    pub(crate) async fn send_text(&self, account: &str, openid: &str, text: &str) -> Delivery {
        match self.accounts.messages(account).send_custom_text(openid, text).await {
            Ok(()) => Delivery::Sent,
            Err(e) if e.errcode() == Some(45015) => Delivery::WindowClosed,
            Err(e) => {
                tracing::warn!(error = %e, "customer-service message not delivered");
                Delivery::Failed
            }
        }
    }

    /// One round of the background work: idle conversations closed (the citizen told), and
    /// every group's queue offered to agents with room (covers a trigger lost with a replica).
    pub async fn sweep(&self) -> Result<(), sqlx::Error> {
        if self.settings.idle_close_minutes > 0 {
            let before = now_ms() - i64::from(self.settings.idle_close_minutes) * 60_000;
            for id in store::idle(&self.db, before).await? {
                self.close_saying(&id, None, "no-reply", Some(domain::idle_closed()), None).await?;
            }
        }
        for g in domain::GROUPS {
            self.dispatch(g).await?;
        }
        Ok(())
    }

    /// Runs [`Conversations::sweep`] every `every` until shutdown.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        let mut shutdown = self.platform.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.wait() => return,
                }
                let Some(me) = weak.upgrade() else { return };
                if let Err(e) = me.sweep().await {
                    tracing::warn!(error = %e, "conversation sweep failed");
                }
            }
        });
    }
}

/// What became of a message to the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// WeChat took it.
    Sent,
    /// WeChat refused it: outside the 48-hour window (45015).
    WindowClosed,
    /// Another failure.
    Failed,
}

impl Delivery {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::WindowClosed => "window-closed",
            Delivery::Failed => "failed",
        }
    }
}

/// Tomorrow's date in Beijing, `YYYY-MM-DD` (booking writes appointments' times so).
fn tomorrow_beijing(now: i64) -> String {
    let day = (now + 8 * 3600 * 1000).div_euclid(24 * 3600 * 1000) + 1;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tomorrow_in_beijing() {
        // 2026-12-03 20:00 UTC is 04:00 on the 4th in Beijing: tomorrow is the 5th.
        assert_eq!(super::tomorrow_beijing(1_796_328_000_000), "2026-12-05");
        assert_eq!(super::tomorrow_beijing(1_796_263_200_000), "2026-12-04");
    }
}
