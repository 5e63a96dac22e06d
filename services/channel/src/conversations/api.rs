//! `/v1/agents` and `/v1/conversations`: staff with the `agent` role (admins hold every role;
//! only admins configure agents and write canned replies). Citizens and other staff get 403.
//! An agent sees the conversations assigned to them and those of their skill groups.

use std::sync::Arc;
use std::time::Duration;

use city_platform::audit::AuditEntry;
use city_platform::auth::{Role, Staff, StaffAuth};
use city_platform::coords::Gcj02;
use city_platform::time::now_ms;
use city_platform::{Failure, JsonBody, Matching};
use poem::web::sse::Event;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use serde_json::json;

use super::domain::{GROUPS, LANGUAGES};
use super::store::{self, AgentRow, ConversationRow, Filter, TransferTo};
use super::views::*;
use super::Conversations;
use super::Delivery;

city_platform::pattern!(
    /// Whose conversations an agent lists.
    pub ViewName = "^(mine|queue|all)$"
);
city_platform::pattern!(
    /// A conversation's state, as a filter.
    pub StateName = "^(waiting|assigned|closed)$"
);

#[derive(Tags)]
enum ConversationTags {
    /// Conversations with city agents: the Service Account's chats the assistant hands over.
    Conversations,
    /// Agents: their status, skill groups and load.
    Agents,
}

/// The conversation operations.
pub struct ConversationsApi {
    pub(crate) conversations: Arc<Conversations>,
}

/// The agent operations.
pub struct AgentsApi {
    pub(crate) conversations: Arc<Conversations>,
}

/// A created message or canned reply.
#[derive(ApiResponse)]
pub enum CreatedMessage {
    /// Sent (or, for a template, handed to WeChat).
    #[oai(status = 201)]
    Created(Json<MessageView>),
}

/// A created canned reply.
#[derive(ApiResponse)]
pub enum CreatedCanned {
    /// Added to the shared library.
    #[oai(status = 201)]
    Created(Json<CannedView>),
}

/// The caller as an agent (made on first sight). 403 without the role. An admin who is not an
/// agent reads as one of no group, never stored, so they are not routed to.
async fn agent_of(c: &Conversations, staff: &Staff) -> Result<AgentRow, ConvError> {
    staff.require(&[Role::Agent])?;
    if !staff.roles.contains(&Role::Agent) {
        return Ok(store::agent(&c.db, &staff.staff_id).await?.unwrap_or_else(|| AgentRow {
            staff_id: staff.staff_id.clone(),
            display_name: staff.username.clone(),
            groups: Vec::new(),
            languages: Vec::new(),
            max_concurrent: 0,
            active: 0,
            status: "away".into(),
            accounts: Vec::new(),
        }));
    }
    Ok(store::ensure_agent(
        &c.db,
        &staff.staff_id,
        &staff.username,
        i64::from(c.settings.default_max_concurrent),
        now_ms(),
    )
    .await?)
}

fn is_admin(staff: &Staff) -> bool {
    staff.roles.contains(&Role::Admin)
}

/// Admins see every conversation; an agent those assigned to them, and those of their groups
/// handled by an account they serve.
fn may_see(staff: &Staff, agent: &AgentRow, conv: &ConversationRow) -> bool {
    let serves = agent.accounts.is_empty() || agent.accounts.contains(&conv.handled_by_account);
    is_admin(staff)
        || conv.agent_id.as_deref() == Some(&agent.staff_id)
        || (serves && agent.groups.contains(&conv.topic))
}

/// The appid of the account with this key (or appid); 422 naming `field` otherwise.
fn account_appid(c: &Conversations, field: &'static str, key: &str) -> Result<String, ConvError> {
    match c.accounts.find(key) {
        Some(a) => Ok(a.appid.clone()),
        None => {
            let keys: Vec<&str> = c.accounts.all().iter().map(|a| a.key.as_str()).collect();
            Err(ConvError::Invalid(field, format!("`{key}`: one of {}", keys.join(", "))))
        }
    }
}

/// The conversation if the caller may see it; 404 otherwise (its existence is not told).
async fn visible(c: &Conversations, staff: &Staff, agent: &AgentRow, id: &str) -> Result<ConversationRow, ConvError> {
    match store::conversation(&c.db, id).await? {
        Some(conv) if may_see(staff, agent, &conv) => Ok(conv),
        _ => Err(ConvError::NotFound),
    }
}

/// The conversation if it is assigned to the caller.
async fn held(c: &Conversations, staff: &Staff, agent: &AgentRow, id: &str) -> Result<ConversationRow, ConvError> {
    let conv = visible(c, staff, agent, id).await?;
    if conv.state != "assigned" || conv.agent_id.as_deref() != Some(&agent.staff_id) {
        return Err(ConvError::NotYours);
    }
    Ok(conv)
}

fn check_group(field: &'static str, g: &str) -> Result<(), ConvError> {
    if GROUPS.contains(&g) {
        Ok(())
    } else {
        Err(ConvError::Invalid(field, format!("one of {}", GROUPS.join(", "))))
    }
}

impl ConversationsApi {
    async fn full(&self, conv: ConversationRow) -> Result<ConversationView, ConvError> {
        let c = &self.conversations;
        let messages = store::messages(&c.db, &conv.id).await?.into_iter().map(Into::into).collect();
        let transfers = store::transfers(&c.db, &conv.id).await?.into_iter().map(Into::into).collect();
        let context = self.context(&conv).await;
        Ok(ConversationView { summary: conv.into(), messages, transfers, context })
    }

    /// The follower's context from the other services; what does not answer in time is left out.
    async fn context(&self, conv: &ConversationRow) -> Context {
        let c = &self.conversations;
        let mut ctx = Context::default();
        let lookup = async {
            let citizen = match &conv.citizen_id {
                Some(id) => Some(id.clone()),
                None => c.citizen_of(&conv.account, &conv.openid).await,
            };
            if let Some(citizen) = citizen {
                ctx.signed_in = true;
                if let Ok(Some(a)) = c.services.next_appointment(&citizen).await {
                    ctx.next_appointment =
                        Some(AppointmentContext { place: a.place, when: a.when, patient: a.patient });
                }
                if let Ok(tickets) = c.services.open_tickets(&citizen).await {
                    ctx.open_tickets = tickets
                        .into_iter()
                        .map(|t| TicketContext { id: t.id, summary: t.category, status: t.status })
                        .collect();
                }
                if let Ok(bills) = c.services.unpaid(&citizen).await {
                    ctx.unpaid = bills
                        .into_iter()
                        .map(|b| UnpaidContext {
                            kind: b.kind,
                            description: b.description,
                            amount_fen: b.amount_fen,
                            due_date: b.due_date,
                        })
                        .collect();
                }
            }
            // The shared cache first (fresh on every replica; the store is written in batches).
            let located = match crate::followers::cached_location(&*c.platform.cache, &conv.openid).await {
                Some(at) => Some(at),
                None => crate::store::follower(&c.db, &conv.openid).await.ok().flatten().and_then(|f| f.location),
            };
            if let Some((lat, lon)) = located {
                if let Some(d) = Gcj02::parse(lat, lon).ok().and_then(|p| c.platform.districts.locate(p.to_wgs84())) {
                    ctx.district =
                        Some(DistrictContext { code: d.code.clone(), name: format!("{} {}", d.name_zh, d.name_en) });
                }
                if let Ok(Some(air)) = c.services.air_near(lat, lon).await {
                    ctx.air = Some(AirContext { aqi: air.aqi, level: air.category });
                }
            }
            ctx
        };
        tokio::time::timeout(Duration::from_secs(3), lookup).await.unwrap_or_default()
    }
}

#[OpenApi(tag = "ConversationTags::Agents")]
impl AgentsApi {
    /// Read your agent record
    ///
    /// Made on first call (away, group general, Chinese). Agents only.
    #[oai(path = "/v1/agents/me", method = "get", operation_id = "get_my_agent")]
    async fn me(&self, auth: StaffAuth) -> Result<Json<AgentView>, Failure<AgentErrors>> {
        Ok(Json(agent_of(&self.conversations, &auth.0).await?.into()))
    }

    /// Go online or away
    ///
    /// Online, waiting conversations of your groups are assigned to you up to your maximum.
    #[oai(path = "/v1/agents/me/status", method = "put", operation_id = "set_my_agent_status")]
    async fn set_status(
        &self,
        auth: StaffAuth,
        body: JsonBody<StatusInput>,
    ) -> Result<Json<AgentView>, Failure<AgentErrors>> {
        let c = &self.conversations;
        let me = agent_of(c, &auth.0).await?;
        store::set_status(&c.db, &me.staff_id, &body.0.status, now_ms()).await?;
        if body.0.status == "online" {
            c.dispatch_groups(&me.groups).await?;
        }
        let me = store::agent(&c.db, &me.staff_id).await?.unwrap_or(me);
        Ok(Json(me.into()))
    }

    /// List agents
    #[oai(path = "/v1/agents", method = "get", operation_id = "list_agents")]
    async fn list(&self, auth: StaffAuth) -> Result<Json<AgentList>, Failure<AgentErrors>> {
        let c = &self.conversations;
        agent_of(c, &auth.0).await?;
        Ok(Json(AgentList { items: store::agents(&c.db).await?.into_iter().map(Into::into).collect() }))
    }

    /// Configure an agent
    ///
    /// Skill groups, languages and the maximum of concurrent conversations. Admins only.
    #[oai(path = "/v1/agents/:staff_id", method = "put", operation_id = "configure_agent")]
    async fn configure(
        &self,
        auth: StaffAuth,
        staff_id: Path<String>,
        body: JsonBody<AgentInput>,
    ) -> Result<Json<AgentView>, Failure<AgentErrors>> {
        let c = &self.conversations;
        auth.0.require(&[Role::Admin])?;
        let mut groups = body.0.groups;
        for g in &groups {
            check_group("groups", g)?;
        }
        groups.sort();
        groups.dedup();
        let mut languages = body.0.languages;
        if let Some(l) = languages.iter().find(|l| !LANGUAGES.contains(&l.as_str())) {
            return Err(ConvError::Invalid("languages", format!("`{l}`: one of zh, en")).into());
        }
        languages.sort();
        languages.dedup();
        let mut accounts =
            body.0.accounts.iter().map(|k| account_appid(c, "accounts", k)).collect::<Result<Vec<_>, _>>()?;
        accounts.sort();
        accounts.dedup();
        let a =
            store::configure_agent(&c.db, &staff_id.0, &groups, &languages, body.0.max_concurrent, &accounts, now_ms())
                .await?;
        // More room, or new groups: waiting conversations may be theirs now.
        c.dispatch_groups(&a.groups).await?;
        Ok(Json(store::agent(&c.db, &a.staff_id).await?.unwrap_or(a).into()))
    }
}

#[OpenApi(prefix_path = "/v1/conversations", tag = "ConversationTags::Conversations")]
impl ConversationsApi {
    /// List conversations
    ///
    /// `view=mine` (assigned to you; the default), `queue` (waiting in your groups, next first),
    /// `all` (your groups'; every one for admins).
    #[oai(path = "/", method = "get", operation_id = "list_conversations")]
    async fn list_conversations(
        &self,
        auth: StaffAuth,
        /// `mine`, `queue` or `all`.
        view: Query<Option<Matching<ViewName>>>,
        /// `waiting`, `assigned` or `closed`.
        state: Query<Option<Matching<StateName>>>,
        /// 1 to 200 (50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// From 0.
        #[oai(validator(minimum(value = "0")))]
        offset: Query<Option<i64>>,
    ) -> Result<Json<SummaryPage>, Failure<ConvError>> {
        let c = &self.conversations;
        let me = agent_of(c, &auth.0).await?;
        let groups = (!is_admin(&auth.0)).then(|| me.groups.clone());
        let accounts = (!is_admin(&auth.0)).then(|| me.accounts.clone());
        let filter = match view.0.as_deref().unwrap_or("mine") {
            "mine" => {
                Filter { agent_id: Some(me.staff_id), state: state.0.map(Matching::into_string), ..Default::default() }
            }
            "queue" => {
                Filter { groups, accounts, state: Some("waiting".into()), queue_order: true, ..Default::default() }
            }
            _ => Filter { groups, accounts, state: state.0.map(Matching::into_string), ..Default::default() },
        };
        let (rows, total) = store::list(&c.db, &filter, limit.0.unwrap_or(50), offset.0.unwrap_or(0)).await?;
        Ok(Json(SummaryPage { items: rows.into_iter().map(Into::into).collect(), total }))
    }

    /// Conversation changes (server-sent events)
    ///
    /// Event `conversation`, data a conversation summary, whenever one you may see changes (new,
    /// assigned, a message, closed), from any replica. A comment line keeps the stream open.
    #[oai(path = "/events", method = "get", operation_id = "conversation_events")]
    async fn events(
        &self,
        auth: StaffAuth,
    ) -> Result<EventStream<futures::stream::BoxStream<'static, Summary>>, Failure<ConvError>> {
        let c = self.conversations.clone();
        let me = agent_of(&c, &auth.0).await?;
        let staff = auth.0;
        let rx = c.events.subscribe();
        let stream = futures::stream::unfold((rx, c, staff, me), |(mut rx, c, staff, mut me)| async move {
            loop {
                let id = match rx.recv().await {
                    Ok(id) => id,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                };
                // The agent's groups may have changed since the stream opened.
                if let Ok(Some(fresh)) = store::agent(&c.db, &me.staff_id).await {
                    me = fresh;
                }
                match store::conversation(&c.db, &id).await {
                    Ok(Some(conv)) if may_see(&staff, &me, &conv) => return Some((conv.into(), (rx, c, staff, me))),
                    _ => continue,
                }
            }
        });
        Ok(EventStream::new(Box::pin(stream) as futures::stream::BoxStream<'static, Summary>)
            .keep_alive(Duration::from_secs(15))
            .to_event(|s: Summary| Event::message(s.to_json_string()).event_type("conversation")))
    }

    /// Canned replies
    #[oai(path = "/canned-replies", method = "get", operation_id = "list_canned_replies")]
    async fn canned(&self, auth: StaffAuth) -> Result<Json<CannedList>, Failure<AgentErrors>> {
        let c = &self.conversations;
        agent_of(c, &auth.0).await?;
        Ok(Json(CannedList { items: store::canned(&c.db).await?.into_iter().map(Into::into).collect() }))
    }

    /// Add a canned reply
    ///
    /// To the library every agent shares. Admins only.
    #[oai(path = "/canned-replies", method = "post", operation_id = "create_canned_reply")]
    async fn add_canned(
        &self,
        auth: StaffAuth,
        body: JsonBody<CannedInput>,
    ) -> Result<CreatedCanned, Failure<AgentErrors>> {
        auth.0.require(&[Role::Admin])?;
        check_group("group", &body.0.group)?;
        let row =
            store::add_canned(&self.conversations.db, &body.0.title, &body.0.text, &body.0.group, now_ms()).await?;
        Ok(CreatedCanned::Created(Json(row.into())))
    }

    /// Read a conversation
    ///
    /// With its messages, transfers and the follower's context (masked).
    #[oai(path = "/:id", method = "get", operation_id = "get_conversation")]
    async fn get(&self, auth: StaffAuth, id: Path<String>) -> Result<Json<ConversationView>, Failure<ConvError>> {
        let c = &self.conversations;
        let me = agent_of(c, &auth.0).await?;
        let conv = visible(c, &auth.0, &me, &id.0).await?;
        Ok(Json(self.full(conv).await?))
    }

    /// Accept a conversation
    ///
    /// One assigned to you, or a waiting one of your groups (taken if you have room).
    #[oai(path = "/:id/accept", method = "post", operation_id = "accept_conversation")]
    async fn accept(&self, auth: StaffAuth, id: Path<String>) -> Result<Json<ConversationView>, Failure<AcceptErrors>> {
        let c = &self.conversations;
        let me = agent_of(c, &auth.0).await?;
        visible(c, &auth.0, &me, &id.0).await?;
        let entry =
            AuditEntry::by_staff(&auth.0, AUDIT_SERVICE, "accept_conversation", format!("conversation:{}", id.0))
                .with_change(None, Some(json!({"agent_id": me.staff_id})));
        match store::accept(&c.db, &id.0, &me.staff_id, now_ms(), Some(&entry)).await? {
            store::Accepted::Yours => {}
            store::Accepted::Taken => return Err(ConvError::Taken.into()),
            store::Accepted::Full => return Err(ConvError::Full.into()),
        }
        c.changed(&id.0).await;
        let conv = store::conversation(&c.db, &id.0).await?.ok_or(ConvError::NotFound)?;
        Ok(Json(self.full(conv).await?))
    }

    /// Reply
    ///
    /// Free text or a canned reply, as a WeChat customer-service message. When WeChat refuses it
    /// because the citizen last wrote more than 48 hours ago (45015), it is kept as
    /// `window-closed` and the answer is 409 `/problems/reply-window-closed`.
    #[oai(path = "/:id/messages", method = "post", operation_id = "reply_to_conversation")]
    async fn reply(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        body: JsonBody<ReplyInput>,
    ) -> Result<CreatedMessage, Failure<ReplyErrors>> {
        let c = &self.conversations;
        let me = agent_of(c, &auth.0).await?;
        let text = match (body.0.text, body.0.canned_reply_id) {
            (Some(t), None) if !t.trim().is_empty() => t,
            (None, Some(cid)) => match store::canned(&c.db).await?.into_iter().find(|r| r.id == cid) {
                Some(r) => r.text,
                None => return Err(ConvError::Invalid("canned_reply_id", "no such canned reply".into()).into()),
            },
            _ => return Err(ConvError::Invalid("text", "give text or canned_reply_id, one of them".into()).into()),
        };
        let conv = held(c, &auth.0, &me, &id.0).await?;
        // From the account the citizen wrote to, whichever account's agent answers.
        let delivery = c.send_text(&conv.account, &conv.openid, &text).await;
        // What was sent, not its words (they may name the citizen).
        let entry =
            AuditEntry::by_staff(&auth.0, AUDIT_SERVICE, "reply_conversation", format!("conversation:{}", conv.id))
                .with_change(None, Some(json!({"kind": "text", "delivery": delivery.as_str()})));
        let msg = store::add_outgoing(
            &c.db,
            &conv.id,
            &conv.openid,
            "agent",
            Some(&me.staff_id),
            "text",
            &text,
            delivery.as_str(),
            now_ms(),
            Some(&entry),
        )
        .await?;
        // Replying is accepting.
        store::accept(&c.db, &conv.id, &me.staff_id, now_ms(), None).await?;
        c.changed(&conv.id).await;
        match delivery {
            Delivery::Sent => Ok(CreatedMessage::Created(Json(msg.into()))),
            Delivery::WindowClosed => Err(ConvError::WindowClosed.into()),
            Delivery::Failed => Err(ConvError::Wechat.into()),
        }
    }

    /// Send a template message
    ///
    /// The fallback once the 48-hour window has closed: a service-notice template carrying the
    /// text, which WeChat delivers outside the window.
    #[oai(path = "/:id/template", method = "post", operation_id = "send_conversation_template")]
    async fn template(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        body: JsonBody<TemplateInput>,
    ) -> Result<CreatedMessage, Failure<ReplyErrors>> {
        let c = &self.conversations;
        let me = agent_of(c, &auth.0).await?;
        let conv = held(c, &auth.0, &me, &id.0).await?;
        let payload = json!({
            "template_id": TEMPLATE_ID,
            "client_msg_id": format!("conv-{}-{}", conv.id, now_ms()),
            "data": {
                "thing1": {"value": "市民服务回复 City Services reply"},
                "thing2": {"value": body.0.text},
            },
        });
        let delivery = match c.accounts.messages(&conv.account).send_template(&conv.openid, payload).await {
            Ok(()) => Delivery::Sent,
            Err(e) => {
                tracing::warn!(error = %e, "template message not delivered");
                Delivery::Failed
            }
        };
        let entry =
            AuditEntry::by_staff(&auth.0, AUDIT_SERVICE, "reply_conversation", format!("conversation:{}", conv.id))
                .with_change(None, Some(json!({"kind": "template", "delivery": delivery.as_str()})));
        let msg = store::add_outgoing(
            &c.db,
            &conv.id,
            &conv.openid,
            "agent",
            Some(&me.staff_id),
            "template",
            &body.0.text,
            delivery.as_str(),
            now_ms(),
            Some(&entry),
        )
        .await?;
        c.changed(&conv.id).await;
        match delivery {
            Delivery::Sent => Ok(CreatedMessage::Created(Json(msg.into()))),
            _ => Err(ConvError::Wechat.into()),
        }
    }

    /// Transfer
    ///
    /// To another agent (who must have room) or to a group's queue, with a note; the history
    /// stays with the conversation. `to_account` moves it to another Service Account's agents
    /// (the queue of `to_group`, or of its own group): the citizen stays in the same chat and
    /// replies keep coming from the account they wrote to.
    #[oai(path = "/:id/transfer", method = "post", operation_id = "transfer_conversation")]
    async fn transfer(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        body: JsonBody<TransferInput>,
    ) -> Result<Json<ConversationView>, Failure<MoveErrors>> {
        let c = &self.conversations;
        let me = agent_of(c, &auth.0).await?;
        let to_account = match &body.0.to_account {
            Some(k) => Some(account_appid(c, "to_account", k)?),
            None => None,
        };
        let to = match (body.0.to_agent_id, body.0.to_group) {
            (Some(_), _) if to_account.is_some() => {
                return Err(
                    ConvError::Invalid("to_account", "goes with to_group (or alone), not to_agent_id".into()).into()
                )
            }
            (Some(a), None) => {
                if a == me.staff_id {
                    return Err(ConvError::Invalid("to_agent_id", "that is you".into()).into());
                }
                if store::agent(&c.db, &a).await?.is_none() {
                    return Err(ConvError::Invalid("to_agent_id", "no such agent".into()).into());
                }
                TransferTo::Agent(a)
            }
            (None, Some(g)) => {
                check_group("to_group", &g)?;
                TransferTo::Group(g, to_account)
            }
            // To another account's agents, in the same group.
            (None, None) if to_account.is_some() => {
                let conv = held(c, &auth.0, &me, &id.0).await?;
                TransferTo::Group(conv.topic, to_account)
            }
            _ => {
                return Err(ConvError::Invalid("to_agent_id", "give to_agent_id or to_group, one of them".into()).into())
            }
        };
        let before = held(c, &auth.0, &me, &id.0).await?;
        // Where it went, not the note (free text).
        let after = match &to {
            TransferTo::Agent(a) => json!({"agent_id": a}),
            TransferTo::Group(g, account) => {
                json!({"group": g, "account": account.as_deref().unwrap_or(&before.handled_by_account)})
            }
        };
        let entry =
            AuditEntry::by_staff(&auth.0, AUDIT_SERVICE, "transfer_conversation", format!("conversation:{}", id.0))
                .with_change(
                    Some(json!({"agent_id": me.staff_id, "group": before.topic, "account": before.handled_by_account})),
                    Some(after),
                );
        if !store::transfer(&c.db, &id.0, &me.staff_id, &to, &body.0.note, now_ms(), Some(&entry)).await? {
            // We held it a moment ago: the target had no room (or it moved meanwhile).
            return Err(match to {
                TransferTo::Agent(_) => ConvError::Full,
                TransferTo::Group(..) => ConvError::NotYours,
            }
            .into());
        }
        c.changed(&id.0).await;
        if let TransferTo::Group(g, _) = &to {
            c.dispatch(g).await?;
        }
        // The place freed is offered to the queue.
        c.dispatch_groups(&me.groups).await?;
        let conv = store::conversation(&c.db, &id.0).await?.ok_or(ConvError::NotFound)?;
        Ok(Json(self.full(conv).await?))
    }

    /// Close
    ///
    /// With an outcome; the citizen is asked for a score (1–5) and the next waiting
    /// conversation of your groups comes to you.
    #[oai(path = "/:id/close", method = "post", operation_id = "close_conversation")]
    async fn close(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        body: JsonBody<CloseInput>,
    ) -> Result<Json<ConversationView>, Failure<MoveErrors>> {
        let c = &self.conversations;
        let me = agent_of(c, &auth.0).await?;
        let conv = visible(c, &auth.0, &me, &id.0).await?;
        // Admins close any open conversation; agents their own.
        let only = if is_admin(&auth.0) { None } else { Some(me.staff_id.as_str()) };
        let entry =
            AuditEntry::by_staff(&auth.0, AUDIT_SERVICE, "close_conversation", format!("conversation:{}", conv.id))
                .with_change(
                    Some(json!({"state": conv.state, "agent_id": conv.agent_id})),
                    Some(json!({"state": "closed", "outcome": body.0.outcome})),
                );
        if !c.close(&conv.id, only, &body.0.outcome, Some(&entry)).await? {
            return Err(ConvError::NotYours.into());
        }
        let conv = store::conversation(&c.db, &id.0).await?.ok_or(ConvError::NotFound)?;
        Ok(Json(self.full(conv).await?))
    }
}

/// The audit trail's name of this service (as announcements write it).
const AUDIT_SERVICE: &str = "channel";

/// The Service Account's template for agents' replies outside the window.
pub const TEMPLATE_ID: &str = "TPL_OA_CONVERSATION_0001";
