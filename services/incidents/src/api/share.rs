//! Share cards of reports (issue #22): `GET /v1/incidents/{id}/share` (the Mini Program share
//! payload) and `GET /v1/incidents/{id}/share.png` (its 5:4 image: category, state, district,
//! agency and a pin on the district's outline).
//!
//! The card is drawn from the very answer an anonymous `GET /v1/incidents/{id}` gives
//! (`reports::read::public` decides, through `domain::access`): text held by the content-safety
//! check is not drawn, a report the public may not see is a 404 like there. [`IncidentsApi`]
//! composes these operations with the rest behind the one type the gateway mounts.

use std::sync::Arc;

use city_platform::coords::Crs;
use city_platform::time::CITY_TZ;
use city_platform::{Failure, Problem};
use city_sharecard::{Badge, Card, CardCache, MapInset, Rgb, SharePayload, SharePng};
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::dto::Incident;
use super::problems::PublicReadErrors;
use super::{queue, views, CoreApi, IncidentsApi, IncidentsTags};
use crate::domain::ReportId;
use crate::reports::read;

// One `OpenApi` over the answers and the share cards, both under `/v1/incidents`. Open311 is
// described here too, but routed apart (`open311_routes`, with its own 404 for unknown files).
impl OpenApi for IncidentsApi {
    fn meta() -> Vec<poem_openapi::registry::MetaApi> {
        <(CoreApi, ShareApi, queue::QueueApi, crate::open311::Open311Api, super::internal::InternalApi)>::meta()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        <(CoreApi, ShareApi, queue::QueueApi, crate::open311::Open311Api, super::internal::InternalApi)>::register(
            registry,
        )
    }

    fn add_routes(
        self,
        route_table: &mut std::collections::HashMap<
            String,
            std::collections::HashMap<poem::http::Method, poem::endpoint::BoxEndpoint<'static>>,
        >,
    ) {
        let core = CoreApi { state: self.state.clone() };
        let queue = queue::QueueApi { state: self.state.clone() };
        let internal = super::internal::InternalApi { state: self.state.clone() };
        let share = ShareApi { core: CoreApi { state: self.state }, cards: Arc::new(CardCache::default()) };
        (core, share, queue, internal).add_routes(route_table)
    }
}

/// The share operations.
pub struct ShareApi {
    core: CoreApi,
    cards: Arc<CardCache>,
}

#[OpenApi(prefix_path = "/v1/incidents", tag = "IncidentsTags::Incidents")]
impl ShareApi {
    /// Share a report
    ///
    /// The Mini Program share payload of `GET /v1/incidents/{id}`: a title, the page that reopens
    /// the report and the card image with its current tag. Anyone may call it; a report the public
    /// may not see is not found.
    #[oai(path = "/:id/share", method = "get", operation_id = "share_incident")]
    async fn share(&self, id: Path<String>) -> Result<Json<SharePayload>, Failure<PublicReadErrors>> {
        let (report, card) = self.card(id.0).await?;
        Ok(Json(SharePayload {
            title: format!("{} · {} · {}", card.title, state_zh(&report.state), district_zh(&self.core, &report)),
            path: format!("pages/incidents/detail?id={}", report.id),
            image_url: format!("/v1/incidents/{}/share.png", report.id),
            image_etag: card.etag(),
        }))
    }

    /// A report's card
    ///
    /// A 500×400 PNG (WeChat's 5:4 share ratio) of the public report: its category, state, district
    /// and agency, and a pin on the district's outline. `ETag` changes when what it shows changes
    /// (a new state, say); send `If-None-Match` for a 304. Anyone may call it.
    #[oai(path = "/:id/share.png", method = "get", operation_id = "get_incident_card")]
    async fn png(
        &self,
        id: Path<String>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<SharePng, Failure<PublicReadErrors>> {
        let (report, card) = self.card(id.0).await?;
        let (tag, png) = self.cards.png(&card).map_err(|e| {
            tracing::error!(report_id = %report.id, error = %e, "incidents: share card not drawn");
            Problem::internal()
        })?;
        Ok(SharePng::answer(if_none_match.0.as_deref(), tag, &png))
    }
}

impl ShareApi {
    /// The public view of the report (in WGS-84, as the outlines are) and its card.
    async fn card(&self, id: String) -> Result<(Incident, Card), Problem> {
        let state = &self.core.state;
        let seen = read::public(state, &ReportId::from(id)).await.map_err(city_platform::IntoProblem::into_problem)?;
        let report = views::incident(state, seen, Crs::Wgs84);
        let category = state.catalogue.category(&report.category);
        let district = state.platform.districts.get(&report.district);
        let mut lines = vec![format!("{} · {}", district_zh(&self.core, &report), report.agency.name_zh)];
        lines.push(if report.address.is_empty() {
            reported_on(&report.created_at)
        } else {
            format!("{} · {}", report.address, reported_on(&report.created_at))
        });
        let (fill, text) = state_colours(&report.state);
        let card = Card {
            kicker: format!("{} · 市民报告", state.platform.districts.city),
            title: category.map(|c| c.name_zh.clone()).unwrap_or_else(|| report.category.clone()),
            badge: Some(Badge {
                value: state_zh(&report.state).into(),
                label: if report.status == "open" { "办理中".into() } else { "已办结".into() },
                fill,
                text,
            }),
            lines,
            map: Some(MapInset {
                rings: district
                    .map(|d| d.area.0.iter().map(|p| p.exterior().0.iter().map(|c| (c.x, c.y)).collect()).collect())
                    .unwrap_or_default(),
                pin: Some((report.location.lon, report.location.lat)),
            }),
            footer: if report.followers > 0 {
                format!("城市服务 · {} 人关注 · 编号 {}", report.followers, short(&report.id))
            } else {
                format!("城市服务 · 编号 {}", short(&report.id))
            },
        };
        Ok((report, card))
    }
}

fn district_zh(core: &CoreApi, report: &Incident) -> String {
    core.state.platform.districts.get(&report.district).map(|d| d.name_zh.clone()).unwrap_or_default()
}

/// The last characters of the id, enough to tell two cards apart.
fn short(id: &str) -> &str {
    &id[id.len().saturating_sub(8)..]
}

/// `提交于 12月02日` in Beijing time.
fn reported_on(created_at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(created_at)
        .map(|t| format!("提交于 {}", t.with_timezone(&CITY_TZ).format("%m月%d日")))
        .unwrap_or_default()
}

/// The state as the Chinese card says it.
fn state_zh(code: &str) -> &'static str {
    match code {
        "open" => "已提交",
        "confirmed" => "已确认",
        "investigating" => "核查中",
        "action_scheduled" => "已安排",
        "in_progress" => "处理中",
        "fixed" => "已解决",
        "closed" => "已关闭",
        "duplicate" => "重复报告",
        "not_responsible" => "非本部门",
        "no_further_action" => "不再处理",
        _ => "—",
    }
}

/// Blue while new, orange while worked on, green when fixed, grey when closed otherwise.
fn state_colours(code: &str) -> (Rgb, Rgb) {
    match code {
        "open" | "confirmed" => (Rgb::CITY, Rgb::WHITE),
        "investigating" | "action_scheduled" | "in_progress" => (Rgb(0xEA, 0x58, 0x0C), Rgb::WHITE),
        "fixed" => (Rgb(0x16, 0xA3, 0x4A), Rgb::WHITE),
        _ => (Rgb(0xD1, 0xD5, 0xDB), Rgb::INK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_a_chinese_label_the_font_draws() {
        for s in crate::domain::State::ALL {
            let label = state_zh(s.code());
            assert_ne!(label, "—", "{}", s.code());
            assert!(city_sharecard::missing_chars(label).is_empty(), "{label}");
        }
    }
}
