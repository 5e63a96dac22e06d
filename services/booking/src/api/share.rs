//! Share cards of doctors (issue #22): `GET /v1/booking/doctors/{id}/share` (the Mini Program
//! share payload) and `GET /v1/booking/doctors/{id}/share.png` (its 5:4 image). The card draws
//! exactly the public `GET /v1/booking/doctors/{id}`: name, title, department, hospital, specialty
//! and the registration fee; an unknown doctor is the same 404 problem.

use std::sync::Arc;

use city_platform::{Failure, Problem};
use city_sharecard::{Badge, Card, CardCache, Rgb, SharePayload, SharePng};
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::problems::DoctorErrors;
use super::views::{doctor_view, DoctorView};
use super::BookingTags;
use crate::state::BookingState;
use crate::store;
use crate::usecases::{BookingError, Unknown};

/// The doctors' share cards.
pub struct ShareApi {
    pub(super) state: Arc<BookingState>,
    pub(super) cards: Arc<CardCache>,
}

#[OpenApi(prefix_path = "/v1/booking", tag = "BookingTags::Booking")]
impl ShareApi {
    /// Share a doctor
    ///
    /// The Mini Program share payload of `GET /v1/booking/doctors/{id}`: a title, the page that
    /// reopens the doctor and the card image with its current tag. Anyone may call it.
    #[oai(path = "/doctors/:doctor_id/share", method = "get", operation_id = "share_doctor")]
    async fn share(&self, doctor_id: Path<String>) -> Result<Json<SharePayload>, Failure<DoctorErrors>> {
        let doctor = self.doctor(&doctor_id.0).await?;
        let card = doctor_card(&doctor);
        Ok(Json(SharePayload {
            title: format!(
                "{} {} · {} {}",
                doctor.name, doctor.title_zh, doctor.hospital_name_zh, doctor.department_name_zh
            ),
            path: format!("pages/booking/doctor?id={}", doctor.id),
            image_url: format!("/v1/booking/doctors/{}/share.png", doctor.id),
            image_etag: card.etag(),
        }))
    }

    /// A doctor's card
    ///
    /// A 500×400 PNG (WeChat's 5:4 share ratio) of the public doctor page. `ETag` changes when what
    /// it shows changes; send `If-None-Match` for a 304. Anyone may call it.
    #[oai(path = "/doctors/:doctor_id/share.png", method = "get", operation_id = "get_doctor_card")]
    async fn png(
        &self,
        doctor_id: Path<String>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<SharePng, Failure<DoctorErrors>> {
        let doctor = self.doctor(&doctor_id.0).await?;
        let (tag, png) = self.cards.png(&doctor_card(&doctor)).map_err(|e| {
            tracing::error!(doctor_id = %doctor.id, error = %e, "booking: share card not drawn");
            Problem::internal()
        })?;
        Ok(SharePng::answer(if_none_match.0.as_deref(), tag, &png))
    }
}

impl ShareApi {
    /// The doctor as the public reads them.
    async fn doctor(&self, id: &str) -> Result<DoctorView, Failure<DoctorErrors>> {
        let Some(d) = store::get_doctor(&self.state.db, id).await? else {
            return Err(BookingError::Unknown { what: Unknown::Doctor, in_body: false }.into());
        };
        Ok(doctor_view(d, None))
    }
}

/// `¥12` or `¥12.50` from fen.
fn yuan(fen: i64) -> String {
    if fen % 100 == 0 {
        format!("¥{}", fen / 100)
    } else {
        format!("¥{}.{:02}", fen / 100, fen % 100)
    }
}

fn doctor_card(d: &DoctorView) -> Card {
    Card {
        kicker: format!("{} · 预约挂号", d.hospital_name_zh),
        title: format!("{} {}", d.name, d.title_zh),
        badge: Some(Badge { value: yuan(d.fee_fen), label: "挂号费".into(), fill: Rgb::CITY, text: Rgb::WHITE }),
        lines: vec![d.department_name_zh.clone(), d.specialty.clone(), d.hospital_name_zh.clone()],
        map: None,
        footer: "城市服务 · 预约挂号".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::yuan;

    #[test]
    fn fees_read_in_yuan() {
        assert_eq!(yuan(1200), "¥12");
        assert_eq!(yuan(1250), "¥12.50");
        assert_eq!(yuan(5), "¥0.05");
    }
}
