//! A push's effects and answer: follower facts, locations, conversations kept for staff, menu
//! keys answered from the other services, and late answers as customer-service messages.

use city_platform::time::now_ms;
use city_wechat::xml::{PushEvent, PushKind, PushMessage};

use crate::conversations::domain::TALK_KEY;
use crate::domain::followers::FollowerFact;
use crate::domain::replies;
use crate::state::ChannelState;
use crate::{followers, store, CUSTOMER_SERVICE_WINDOW_MS};

impl ChannelState {
    fn mp_appid(&self) -> &str {
        &self.platform.settings.wechat.mp_appid
    }

    /// The push's effects (follower, location, conversation) and the words to answer, if any.
    /// `dedupe_key` identifies the push, so what it writes is written once; `account` is the
    /// appid of the Service Account it was pushed to.
    pub async fn respond(&self, account: &str, msg: &PushMessage, dedupe_key: &str) -> Option<String> {
        match self.try_respond(account, msg, dedupe_key).await {
            Ok(reply) => reply,
            Err(e) => {
                tracing::error!(error = %e, "push effects failed");
                Some(replies::try_later())
            }
        }
    }

    async fn try_respond(
        &self,
        account: &str,
        msg: &PushMessage,
        dedupe_key: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let openid = msg.from_user_name.as_str();
        let at = now_ms();
        let interacted = || FollowerFact::Interacted { openid: openid.to_owned(), at };
        Ok(match &msg.kind {
            PushKind::Event(PushEvent::Subscribe { .. }) => {
                self.followers.record(FollowerFact::Subscribed { openid: openid.to_owned(), at }).await;
                Some(replies::welcome(self.mp_appid()))
            }
            PushKind::Event(PushEvent::Unsubscribe) => {
                self.followers.record(FollowerFact::Unsubscribed { openid: openid.to_owned(), at }).await;
                None
            }
            // Periodic location reports are silent; they only tell us where "near me" is.
            PushKind::Event(PushEvent::Location { latitude, longitude, .. }) => {
                self.located(openid, *latitude, *longitude, at).await;
                None
            }
            PushKind::Event(PushEvent::LocationSelect { location, .. }) => {
                self.located(openid, location.latitude, location.longitude, at).await;
                Some(self.air_at(location.latitude, location.longitude).await)
            }
            PushKind::Location { latitude, longitude, .. } => {
                self.located(openid, *latitude, *longitude, at).await;
                self.conversations.on_location(account, openid, dedupe_key, *latitude, *longitude).await?;
                Some(self.air_at(*latitude, *longitude).await)
            }
            PushKind::Event(PushEvent::Click { event_key }) if event_key.starts_with(TALK_KEY) => {
                self.followers.record(interacted()).await;
                self.conversations.on_talk_key(account, openid, dedupe_key, event_key).await?
            }
            PushKind::Event(PushEvent::Click { event_key }) => {
                self.followers.record(interacted()).await;
                Some(self.menu_key(openid, event_key).await?)
            }
            PushKind::Event(PushEvent::View { .. } | PushEvent::ViewMiniprogram { .. } | PushEvent::Scan { .. }) => {
                self.followers.record(interacted()).await;
                None
            }
            PushKind::Text { content } => {
                self.followers.record(interacted()).await;
                // An emergency, a score, a conversation under way or a request for a person
                // come before the FAQ (conversations decide; the FAQ's answer is offered).
                self.conversations.on_text(account, openid, dedupe_key, content, self.faq.answer(content)).await?
            }
            PushKind::Image { media_id, .. } | PushKind::Voice { media_id, .. } => {
                self.followers.record(interacted()).await;
                self.conversations.on_media(account, openid, dedupe_key, msg.msg_type(), media_id).await?
            }
            PushKind::Video { media_id, .. } => {
                self.followers.record(interacted()).await;
                store::add_conversation(&self.db, dedupe_key, openid, msg.msg_type(), media_id, at).await?;
                Some(replies::acknowledged())
            }
            // WeChat's broadcast result: the totals are kept with the announcement.
            PushKind::Event(PushEvent::MassSendJobFinish {
                msg_id,
                status,
                total_count,
                filter_count,
                sent_count,
                error_count,
            }) => {
                let count = |n: &u64| i64::try_from(*n).unwrap_or(i64::MAX);
                let totals = crate::announcements::JobTotals {
                    status: status.clone(),
                    total_count: count(total_count),
                    filter_count: count(filter_count),
                    sent_count: count(sent_count),
                    error_count: count(error_count),
                    finished_at: at,
                };
                crate::announcements::record_job_finished(&self.db, *msg_id, totals).await;
                None
            }
            // Unknown message types and events we do not act on: `success`.
            _ => None,
        })
    }

    async fn located(&self, openid: &str, latitude: f64, longitude: f64, at: i64) {
        followers::cache_location(&*self.platform.cache, openid, latitude, longitude).await;
        self.followers.record(FollowerFact::Located { openid: openid.to_owned(), latitude, longitude, at }).await;
    }

    /// Where the follower was last: the shared cache first (fresh on every replica), then the store.
    async fn location(&self, openid: &str) -> Result<Option<(f64, f64)>, sqlx::Error> {
        if let Some(at) = followers::cached_location(&*self.platform.cache, openid).await {
            return Ok(Some(at));
        }
        Ok(store::follower(&self.db, openid).await?.and_then(|f| f.location))
    }

    async fn air_at(&self, latitude: f64, longitude: f64) -> String {
        match self.services.air_near(latitude, longitude).await {
            Ok(now) => replies::air(now.as_ref()),
            Err(e) => {
                tracing::warn!(error = %e, "air service did not answer");
                replies::try_later()
            }
        }
    }

    async fn menu_key(&self, openid: &str, key: &str) -> Result<String, sqlx::Error> {
        let mp = self.mp_appid();
        Ok(match key {
            "AIR_NEAR_ME" => match self.location(openid).await? {
                Some((lat, lon)) => self.air_at(lat, lon).await,
                None => replies::ask_for_location(),
            },
            "REPORT_INCIDENT" => replies::report_incident(mp),
            "SIGN_IN" => replies::invitation(mp),
            "MY_NEXT_APPOINTMENT" | "MY_UNPAID" => {
                let citizen = match self.services.citizen_for_openid(openid).await {
                    Ok(Some(citizen)) => citizen,
                    Ok(None) => return Ok(replies::invitation(mp)),
                    Err(e) => {
                        tracing::warn!(error = %e, "identity did not answer who the follower is");
                        return Ok(replies::try_later());
                    }
                };
                if key == "MY_NEXT_APPOINTMENT" {
                    match self.services.next_appointment(&citizen).await {
                        Ok(a) => replies::next_appointment(a.as_ref()),
                        Err(e) => {
                            tracing::warn!(error = %e, "booking did not answer the next appointment");
                            replies::try_later()
                        }
                    }
                } else {
                    match self.services.unpaid(&citizen).await {
                        Ok(bills) => replies::unpaid(&bills),
                        Err(e) => {
                            tracing::warn!(error = %e, "payments did not answer the unpaid bills");
                            replies::try_later()
                        }
                    }
                }
            }
            other => match self.keys.get(other) {
                Some(reply) => format!("{}\n{}", reply.zh, reply.en),
                None => replies::unknown_key(),
            },
        })
    }

    /// Sends an answer that missed the passive-reply budget as a customer-service message from
    /// `account` (the appid pushed to), only inside the 48-hour window of a follower who still follows.
    pub async fn send_late(&self, account: &str, openid: &str, content: &str) {
        // The window is judged on stored state, so this push's own interaction must be in.
        self.followers.flush().await;
        let within = match store::follower(&self.db, openid).await {
            Ok(Some(f)) => f.subscribed && now_ms() - f.last_interaction_at < CUSTOMER_SERVICE_WINDOW_MS,
            _ => false,
        };
        if !within {
            tracing::info!("late answer dropped: outside the customer-service window");
            return;
        }
        if let Err(e) = self.accounts.messages(account).send_custom_text(openid, content).await {
            tracing::warn!(error = %e, "late answer not delivered");
        }
    }
}
