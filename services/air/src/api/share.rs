//! Share cards of the air answers (issue #22): `…/share` is the Mini Program share payload and
//! `…/share.png` its 5:4 image, for one district (`/v1/air/districts/{code}/share`) and for the
//! city (`/v1/air/summary/share`).
//!
//! A card is built from the very answer an anonymous `GET /v1/air/districts` or
//! `GET /v1/air/summary` gives (same cache, same scheme), so it shows nothing more; its ETag is a
//! hash of what is drawn and changes when a new hour changes the index. [`AirApi`] composes these
//! operations with the rest of the service's behind the one type the gateway mounts.

use std::sync::Arc;

use city_platform::problem::kind;
use city_platform::time::CITY_TZ;
use city_platform::{Failure, Problem};
use city_sharecard::{Badge, Card, CardCache, MapInset, Rgb, SharePayload, SharePng};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::{AirTags, CoreApi, DistrictAqiView, SummaryView};
use crate::engine::{AirState, EngineError};
use crate::views::AqiView;

city_platform::error_set!(
    /// A district's share card: a bad `?scheme=` (422) or no such district (404).
    pub DistrictShareErrors = [kind::VALIDATION, kind::NOT_FOUND] + EngineError
);

city_platform::error_set!(
    /// The city's share card: only a bad `?scheme=` (422).
    pub SummaryShareErrors = [kind::VALIDATION] + EngineError
);

/// Every operation of the air service: the answers and their share cards.
pub struct AirApi {
    core: CoreApi,
    share: ShareApi,
}

impl AirApi {
    /// The API over shared state.
    pub fn new(state: Arc<AirState>) -> Self {
        Self {
            core: CoreApi { state: state.clone() },
            share: ShareApi { core: CoreApi { state }, cards: Arc::new(CardCache::default()) },
        }
    }
}

// Two `#[OpenApi]` impls under one prefix behind the one type the gateway composes.
impl OpenApi for AirApi {
    fn meta() -> Vec<poem_openapi::registry::MetaApi> {
        <(CoreApi, ShareApi)>::meta()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        <(CoreApi, ShareApi)>::register(registry)
    }

    fn add_routes(
        self,
        route_table: &mut std::collections::HashMap<
            String,
            std::collections::HashMap<poem::http::Method, poem::endpoint::BoxEndpoint<'static>>,
        >,
    ) {
        (self.core, self.share).add_routes(route_table)
    }
}

/// The share operations; they read through the public answers' handlers.
pub struct ShareApi {
    core: CoreApi,
    cards: Arc<CardCache>,
}

#[OpenApi(prefix_path = "/v1/air", tag = "AirTags::Air")]
impl ShareApi {
    /// Share a district's air quality
    ///
    /// The Mini Program share payload of `GET /v1/air/districts` for one district: a title, the
    /// page that reopens it and the card image with its current tag. Anyone may call it.
    #[oai(path = "/districts/:code/share", method = "get", operation_id = "share_district_air_quality")]
    async fn share_district(
        &self,
        code: Path<String>,
        scheme: Query<Option<String>>,
    ) -> Result<Json<SharePayload>, Failure<DistrictShareErrors>> {
        let (view, district, city, scheme) = self.district(&code.0, scheme.0).await?;
        let card = district_card(&view, &city, &district);
        let query = scheme_query(&scheme);
        Ok(Json(SharePayload {
            title: format!("{}空气质量：{}", view.name_zh, headline(view.report.as_ref())),
            path: format!("pages/air/district?code={}&scheme={}", view.code, scheme),
            image_url: format!("/v1/air/districts/{}/share.png{query}", view.code),
            image_etag: card.etag(),
        }))
    }

    /// A district's air-quality card
    ///
    /// A 500×400 PNG (WeChat's 5:4 share ratio): the district, its index in its band's colour, the
    /// category, the primary pollutants and the hour, with the district's outline. `ETag` changes
    /// when what it shows changes; send `If-None-Match` for a 304. Anyone may call it.
    #[oai(path = "/districts/:code/share.png", method = "get", operation_id = "get_district_air_quality_card")]
    async fn district_png(
        &self,
        code: Path<String>,
        scheme: Query<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<SharePng, Failure<DistrictShareErrors>> {
        let (view, district, city, _) = self.district(&code.0, scheme.0).await?;
        let card = district_card(&view, &city, &district);
        self.png(&card, if_none_match.0.as_deref(), &view.code)
    }

    /// Share the city's air quality
    ///
    /// The Mini Program share payload of `GET /v1/air/summary`. Anyone may call it.
    #[oai(path = "/summary/share", method = "get", operation_id = "share_air_summary")]
    async fn share_summary(
        &self,
        scheme: Query<Option<String>>,
    ) -> Result<Json<SharePayload>, Failure<SummaryShareErrors>> {
        let view = self.summary(scheme.0).await?;
        let card = summary_card(&view);
        Ok(Json(SharePayload {
            title: format!("{}空气质量：{}", view.city, headline(view.report.as_ref())),
            path: format!("pages/air/index?scheme={}", view.scheme),
            image_url: format!("/v1/air/summary/share.png{}", scheme_query(&view.scheme)),
            image_etag: card.etag(),
        }))
    }

    /// The city's air-quality card
    ///
    /// A 500×400 PNG of `GET /v1/air/summary`: the city index in its band's colour, the best and
    /// worst district and the hour. `ETag` and `If-None-Match` as for a district's card.
    #[oai(path = "/summary/share.png", method = "get", operation_id = "get_air_summary_card")]
    async fn summary_png(
        &self,
        scheme: Query<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<SharePng, Failure<SummaryShareErrors>> {
        let view = self.summary(scheme.0).await?;
        self.png(&summary_card(&view), if_none_match.0.as_deref(), "city")
    }
}

impl ShareApi {
    /// The district's entry of the public answer, its outline and the city's name.
    async fn district(
        &self,
        code: &str,
        scheme: Option<String>,
    ) -> Result<(DistrictAqiView, Vec<Vec<(f64, f64)>>, String, String), Problem> {
        let districts = &self.core.state.platform.districts;
        // Unknown first: a bad code is a 404 whatever the scheme.
        let Some(d) = districts.get(code) else {
            return Err(Problem::not_found("district"));
        };
        let rings = d.area.0.iter().map(|p| p.exterior().0.iter().map(|c| (c.x, c.y)).collect()).collect();
        let all = self.core.districts_now(scheme.as_deref()).await.map_err(Failure::into_problem)?.0;
        let view =
            all.districts.iter().find(|v| v.code == code).cloned().ok_or_else(|| Problem::not_found("district"))?;
        Ok((view, rings, districts.city.clone(), all.scheme))
    }

    /// The public summary, with the best and worst district named in Chinese for the card.
    async fn summary(&self, scheme: Option<String>) -> Result<SummaryView, Problem> {
        let mut view = self.core.summary_now(scheme.as_deref()).await.map_err(Failure::into_problem)?.0;
        let districts = self.core.state.platform.districts.all();
        let zh = |en: &mut Option<String>| {
            if let Some(d) = en.as_ref().and_then(|en| districts.iter().find(|d| &d.name_en == en)) {
                *en = Some(d.name_zh.clone());
            }
        };
        zh(&mut view.best_district);
        zh(&mut view.worst_district);
        Ok(view)
    }

    fn png<E: city_platform::ErrorSet>(
        &self,
        card: &Card,
        if_none_match: Option<&str>,
        what: &str,
    ) -> Result<SharePng, Failure<E>> {
        let (tag, png) = self.cards.png(card).map_err(|e| {
            tracing::error!(card = what, error = %e, "air: share card not drawn");
            Problem::internal()
        })?;
        Ok(SharePng::answer(if_none_match, tag, &png))
    }
}

fn scheme_query(scheme: &str) -> String {
    format!("?scheme={scheme}")
}

/// `AQI 85 良`, or that there is no recent data.
fn headline(report: Option<&AqiView>) -> String {
    match report.and_then(|r| r.aqi.map(|aqi| (aqi, r))) {
        Some((aqi, r)) => {
            let name = r.category.as_ref().map(|c| c.name_zh.as_str()).unwrap_or_default();
            format!("AQI {aqi} {name}")
        }
        None => "暂无最新数据".into(),
    }
}

/// The index in its band's colour, or a grey "no data" block.
fn badge(report: Option<&AqiView>) -> Badge {
    let no_data =
        Badge { value: "—".into(), label: "暂无数据".into(), fill: Rgb(0xD1, 0xD5, 0xDB), text: Rgb::INK };
    let Some(r) = report else { return no_data };
    let (Some(aqi), Some(colour)) = (r.aqi, r.colour.as_ref()) else { return no_data };
    Badge {
        value: aqi.to_string(),
        label: r.category.as_ref().map(|c| c.name_zh.clone()).unwrap_or_default(),
        fill: Rgb::from_hex(&colour.hex).unwrap_or(Rgb::CITY),
        text: Rgb::from_hex(&colour.text_hex).unwrap_or(Rgb::WHITE),
    }
}

/// `首要污染物 PM2.5` (China: only above 50), else the category's name in English.
fn pollutants(report: Option<&AqiView>) -> String {
    match report {
        Some(r) if !r.primary_pollutants.is_empty() => {
            let labels: Vec<&str> = r.primary_pollutants.iter().map(|p| p.label.as_str()).collect();
            format!("首要污染物 {}", labels.join("、"))
        }
        Some(r) if r.aqi.is_some() => "首要污染物 —".into(),
        _ => "最近 3 小时没有站点数据".into(),
    }
}

/// The hour in Beijing time (`12月02日 20:00`), from the answer's RFC 3339 instant.
fn hour(observed_at: Option<&str>) -> String {
    observed_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| format!("数据时间 {}", t.with_timezone(&CITY_TZ).format("%m月%d日 %H:%M")))
        .unwrap_or_else(|| "数据时间 —".into())
}

fn footer(report: Option<&AqiView>) -> String {
    match report {
        Some(r) => format!("城市服务 · 空气质量 · {}", r.standard),
        None => "城市服务 · 空气质量".into(),
    }
}

fn district_card(view: &DistrictAqiView, city: &str, rings: &[Vec<(f64, f64)>]) -> Card {
    let report = view.report.as_ref();
    Card {
        kicker: format!("{city} · 空气质量"),
        title: view.name_zh.clone(),
        badge: Some(badge(report)),
        lines: vec![pollutants(report), hour(view.observed_at.as_deref())],
        map: Some(MapInset { rings: rings.to_vec(), pin: None }),
        footer: footer(report),
    }
}

fn summary_card(view: &SummaryView) -> Card {
    let report = view.report.as_ref();
    let mut lines = vec![pollutants(report)];
    if let (Some(best), Some(worst)) = (&view.best_district, &view.worst_district) {
        lines.push(format!("最好 {best} · 最差 {worst}"));
    }
    lines.push(hour(view.observed_at.as_deref()));
    Card {
        kicker: format!("{} · 空气质量", view.city),
        title: format!("{}全市", view.city),
        badge: Some(badge(report)),
        lines,
        map: None,
        footer: footer(report),
    }
}
