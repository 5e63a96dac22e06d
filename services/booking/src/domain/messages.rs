//! Every text a patient reads from this service outside an HTTP answer, in Chinese and English:
//! the notifications (`notify.requested`, delivered by the notify service) and the descriptions on
//! the fee and refund requests payments shows. The store writes them; it does not word them.

use serde_json::{json, Value};

use city_platform::time::{from_ms, rfc3339};

/// A notification for one citizen, in both languages.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Stable per fact, so a retry never notifies twice.
    pub id: String,
    /// Who is told.
    pub citizen_id: String,
    /// The notification kind, e.g. `booking.booked`.
    pub kind: &'static str,
    /// Title, Chinese.
    pub title_zh: &'static str,
    /// Title, English.
    pub title_en: &'static str,
    /// Body, Chinese.
    pub body_zh: String,
    /// Body, English.
    pub body_en: String,
    /// Ids the client needs to act on it.
    pub data: Value,
}

impl Notice {
    /// The `notify.requested` payload.
    pub fn payload(&self) -> Value {
        json!({
            "notification_id": self.id, "citizen_id": self.citizen_id, "kind": self.kind,
            "title_zh": self.title_zh, "title_en": self.title_en, "body_zh": self.body_zh, "body_en": self.body_en,
            "data": self.data, "channels": ["miniprogram", "oa_template"],
        })
    }
}

/// What a notice says about one appointment.
#[derive(Debug, Clone, Copy)]
pub struct About<'a> {
    /// The appointment's id.
    pub appointment_id: &'a str,
    /// Its owner.
    pub citizen_id: &'a str,
    /// `YYYY-MM-DD`.
    pub visit_date: &'a str,
    /// 号序.
    pub number: i64,
    /// The patient's masked name.
    pub patient: &'a str,
    /// Whether the fee was paid (and will be refunded).
    pub paid: bool,
}

fn refund_zh(paid: bool) -> &'static str {
    if paid {
        "，挂号费将原路退回"
    } else {
        ""
    }
}

fn refund_en(paid: bool) -> &'static str {
    if paid {
        "; the fee will be refunded"
    } else {
        ""
    }
}

/// A booking was made (or a number held pending payment).
pub fn booked(a: About<'_>, hospital_zh: &str, doctor: &str, pending_payment: bool) -> Notice {
    Notice {
        id: format!("booking:{}:booked", a.appointment_id),
        citizen_id: a.citizen_id.to_owned(),
        kind: "booking.booked",
        title_zh: "预约成功",
        title_en: "Appointment booked",
        body_zh: format!("{hospital_zh} {doctor} 第{}号，就诊人 {}", a.number, a.patient),
        body_en: format!("{} {doctor}, number {}, for {}", a.visit_date, a.number, a.patient),
        data: json!({"appointment_id": a.appointment_id, "pending_payment": pending_payment}),
    }
}

/// The citizen cancelled.
pub fn cancelled(a: About<'_>) -> Notice {
    Notice {
        id: format!("booking:{}:cancelled", a.appointment_id),
        citizen_id: a.citizen_id.to_owned(),
        kind: "booking.cancelled",
        title_zh: "预约已取消",
        title_en: "Appointment cancelled",
        body_zh: format!("{} 第{}号已取消{}", a.visit_date, a.number, refund_zh(a.paid)),
        body_en: format!("{} number {} is cancelled{}", a.visit_date, a.number, refund_en(a.paid)),
        data: json!({"appointment_id": a.appointment_id}),
    }
}

/// A returned number is offered to the next patient in the queue until `expires`.
pub fn waitlist_offered(a: About<'_>, waitlist_id: &str, expires: i64) -> Notice {
    let until = rfc3339(from_ms(expires));
    Notice {
        id: format!("booking:waitlist:{waitlist_id}:offered"),
        citizen_id: a.citizen_id.to_owned(),
        kind: "booking.waitlist_offered",
        title_zh: "候补成功，请及时确认",
        title_en: "A number is free for you",
        body_zh: format!("{} 第{}号已为 {} 保留，请在 {until} 前确认", a.visit_date, a.number, a.patient),
        body_en: format!("{} number {} is held for {}; accept before {until}", a.visit_date, a.number, a.patient),
        data: json!({"waitlist_id": waitlist_id, "appointment_id": a.appointment_id, "offer_expires_at_ms": expires}),
    }
}

/// The patient's online booking is suspended for `days` after `n` no-shows.
pub fn suspended(citizen_id: &str, patient: &str, suspension_id: &str, n: i64, days: i64, ends: i64) -> Notice {
    Notice {
        id: format!("booking:suspension:{suspension_id}"),
        citizen_id: citizen_id.to_owned(),
        kind: "booking.patient_suspended",
        title_zh: "预约权限暂停",
        title_en: "Online booking suspended",
        body_zh: format!("就诊人 {patient} 本周期内爽约 {n} 次，网上预约暂停 {days} 天；急诊不受影响"),
        body_en: format!(
            "{patient} missed {n} appointment(s) this period; online booking is suspended for {days} days; emergency care is not affected"
        ),
        data: json!({"suspension_id": suspension_id, "ends_at_ms": ends}),
    }
}

/// The doctor stopped the session (停诊); same-grade alternatives are offered.
pub fn stop_diagnosis(a: About<'_>, reason: &str, alternatives: &[Value]) -> Notice {
    Notice {
        id: format!("booking:{}:stop_diagnosis", a.appointment_id),
        citizen_id: a.citizen_id.to_owned(),
        kind: "booking.stop_diagnosis",
        title_zh: "医生停诊通知",
        title_en: "Doctor's session cancelled",
        body_zh: format!("{} 第{}号因医生停诊已取消{}；可选择同级别医生改约", a.visit_date, a.number, refund_zh(a.paid)),
        body_en: format!(
            "{} number {} is cancelled because the doctor stopped the session{}; you may rebook with a doctor of the same grade",
            a.visit_date,
            a.number,
            refund_en(a.paid)
        ),
        data: json!({"appointment_id": a.appointment_id, "reason": reason, "alternatives": alternatives}),
    }
}

/// A stop closed the queue the citizen (their `i`-th cleared place) was waiting in.
pub fn waitlist_cleared_by_stop(session_id: &str, i: usize, citizen_id: &str, alternatives: &[Value]) -> Notice {
    Notice {
        id: format!("booking:session:{session_id}:waitlist_cleared:{i}:{citizen_id}"),
        citizen_id: citizen_id.to_owned(),
        kind: "booking.waitlist_cleared",
        title_zh: "候补已取消",
        title_en: "Waitlist closed",
        body_zh: "医生停诊，候补已取消".into(),
        body_en: "The doctor stopped the session; your waitlist place is closed".into(),
        data: json!({"session_id": session_id, "alternatives": alternatives}),
    }
}

/// An unpaid hold or an unanswered offer lapsed and its number was released.
pub fn hold_lapsed(a: About<'_>) -> Notice {
    Notice {
        id: format!("booking:{}:expired", a.appointment_id),
        citizen_id: a.citizen_id.to_owned(),
        kind: "booking.hold_lapsed",
        title_zh: "预约已失效",
        title_en: "Hold lapsed",
        body_zh: format!("{} 第{}号未在规定时间内确认/支付，已释放", a.visit_date, a.number),
        body_en: format!(
            "{} number {} was not confirmed or paid in time and has been released",
            a.visit_date, a.number
        ),
        data: json!({"appointment_id": a.appointment_id}),
    }
}

/// The visit is tomorrow.
pub fn reminder(a: About<'_>, starts_at: i64) -> Notice {
    Notice {
        id: format!("booking:{}:reminder", a.appointment_id),
        citizen_id: a.citizen_id.to_owned(),
        kind: "booking.reminder",
        title_zh: "就诊提醒",
        title_en: "Appointment tomorrow",
        body_zh: format!("就诊人 {} 明天 第{}号就诊，请提前到院签到", a.patient, a.number),
        body_en: format!("{} has number {} tomorrow; please check in early", a.patient, a.number),
        data: json!({"appointment_id": a.appointment_id, "starts_at_ms": starts_at}),
    }
}

/// The description of a registration fee on `booking.fee_due`.
pub fn fee_description(hospital_zh: &str, doctor: &str, visit_date: &str, number: i64) -> String {
    format!("挂号费 {hospital_zh} {doctor} {visit_date} 第{number}号")
}

/// The description of a fee refund on `booking.refund_requested`.
pub fn refund_description(visit_date: &str, number: i64, reason: &str) -> String {
    format!("挂号费退款 {visit_date} 第{number}号 ({reason})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about(paid: bool) -> About<'static> {
        About { appointment_id: "a1", citizen_id: "c1", visit_date: "2026-12-03", number: 7, patient: "张*", paid }
    }

    #[test]
    fn a_cancellation_of_a_paid_booking_says_the_fee_comes_back_in_both_languages() {
        let n = cancelled(about(true));
        assert_eq!(n.body_zh, "2026-12-03 第7号已取消，挂号费将原路退回");
        assert_eq!(n.body_en, "2026-12-03 number 7 is cancelled; the fee will be refunded");
        assert_eq!(cancelled(about(false)).body_en, "2026-12-03 number 7 is cancelled");
    }

    #[test]
    fn a_notice_payload_goes_to_the_mini_program_and_the_service_account() {
        let p = booked(about(false), "华西医院", "王医生", false).payload();
        assert_eq!(p["notification_id"], "booking:a1:booked");
        assert_eq!(p["channels"], json!(["miniprogram", "oa_template"]));
        assert_eq!(p["body_zh"], "华西医院 王医生 第7号，就诊人 张*");
    }
}
