//! The words the account answers with: bilingual, short, and always pointing somewhere useful.

use crate::services::{AirNow, Appointment, Bill};

/// The Mini Program page where incidents are reported.
pub const REPORT_PAGE: &str = "pages/incidents/new";
/// The Mini Program page where citizens sign in.
pub const SIGN_IN_PAGE: &str = "pages/me/index";

/// A link that opens a Mini Program page from a text message.
pub fn mp_link(mp_appid: &str, page: &str, label: &str) -> String {
    format!("<a data-miniprogram-appid=\"{mp_appid}\" data-miniprogram-path=\"{page}\">{label}</a>")
}

/// Sent on follow.
pub fn welcome(mp_appid: &str) -> String {
    format!(
        "欢迎关注城市服务！Welcome to City Services.\n\
         · 附近空气质量 Air quality near you\n\
         · 预约挂号 Book a doctor\n\
         · 待缴费用罚款 Bills and fines\n\
         · 随手拍上报 Report a street problem\n\
         · 12345 热线 Hotline\n\
         使用底部菜单，或直接发消息提问。Use the menu below or just ask.\n{}",
        mp_link(mp_appid, SIGN_IN_PAGE, "登录小程序 Sign in")
    )
}

/// For a follower who never signed in and asked for something personal.
pub fn invitation(mp_appid: &str) -> String {
    format!(
        "查看预约和待缴费用前，请先在小程序中用微信登录一次。\nTo see your appointments and bills, sign in once in the Mini Program.\n{}",
        mp_link(mp_appid, SIGN_IN_PAGE, "去登录 Sign in")
    )
}

/// When no location is known yet.
pub fn ask_for_location() -> String {
    "请发送您的位置（点击「+」→「位置」），或使用菜单「选点查空气」。\n\
     Please send your location (tap \"+\" → Location) or use the menu's location picker."
        .into()
}

/// Air quality at a point.
pub fn air(now: Option<&AirNow>) -> String {
    match now {
        Some(a) => match a.aqi {
            Some(aqi) => format!(
                "{station}（约 {km:.1} 公里）空气质量指数 AQI {aqi}，{category}。\n{advice}",
                station = a.station,
                km = a.distance_m / 1000.0,
                category = a.category,
                advice = a.advice
            ),
            None => format!(
                "{station}（约 {km:.1} 公里）本小时暂不发布空气质量指数。The index is withheld for this hour.",
                station = a.station,
                km = a.distance_m / 1000.0,
            ),
        },
        None => "附近 20 公里内暂无最新监测数据。No station within 20 km has a fresh reading.".into(),
    }
}

/// The next appointment.
pub fn next_appointment(appointment: Option<&Appointment>) -> String {
    match appointment {
        Some(a) => {
            format!("您的下次预约 Your next appointment:\n{}\n{}\n就诊人 Patient: {}", a.place, a.when, a.patient)
        }
        None => "您目前没有待就诊的预约。You have no upcoming appointment.".into(),
    }
}

/// Unpaid bills and fines.
pub fn unpaid(bills: &[Bill]) -> String {
    if bills.is_empty() {
        return "您没有待缴的费用或罚款。You have nothing to pay.".into();
    }
    let total: i64 = bills.iter().map(|b| b.amount_fen).sum();
    let mut out =
        format!("待缴 {} 笔，共 {} 元 / {} to pay, ¥{} in all:\n", bills.len(), yuan(total), bills.len(), yuan(total));
    for b in bills.iter().take(10) {
        out.push_str(&format!("· {} ¥{}", b.description, yuan(b.amount_fen)));
        if let Some(due) = &b.due_date {
            out.push_str(&format!(" · 截止 due {due}"));
        }
        out.push('\n');
    }
    if bills.len() > 10 {
        out.push_str(&format!("…另有 {} 笔 and {} more\n", bills.len() - 10, bills.len() - 10));
    }
    out.push_str("请在小程序中支付。Pay in the Mini Program.");
    out
}

/// Fen as yuan with two decimals, without floats.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

/// A link to the incident report page.
pub fn report_incident(mp_appid: &str) -> String {
    format!(
        "发现路灯不亮、井盖缺失、道路破损？拍照上报：\nSpotted a broken streetlight or a pothole? Report it:\n{}",
        mp_link(mp_appid, REPORT_PAGE, "随手拍上报 Report")
    )
}

/// When the FAQ has no answer: the message is kept for staff.
pub fn acknowledged() -> String {
    "已收到您的留言，工作人员会尽快回复。紧急事项请拨打 12345。\n\
     We received your message; staff will reply soon. For urgent matters call 12345."
        .into()
}

/// A menu key the portal does not know (the menu changed, or a stale client).
pub fn unknown_key() -> String {
    "该功能正在更新，请稍后再试。This item is being updated; please try again later.".into()
}

/// When a service did not answer in time or failed.
pub fn try_later() -> String {
    "服务暂时繁忙，请稍后再试。The service is busy; please try again in a moment.".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_shown_in_yuan_with_two_decimals() {
        assert_eq!(yuan(20_050), "200.50");
        assert_eq!(yuan(5), "0.05");
    }

    #[test]
    fn bills_are_listed_with_their_total() {
        let bill = |description: &str, amount_fen, due_date: Option<&str>| Bill {
            kind: "bill".into(),
            id: "b1".into(),
            description: description.into(),
            amount_fen,
            due_date: due_date.map(str::to_owned),
        };
        let text =
            unpaid(&[bill("违章停车 Parking", 20_000, Some("2026-12-15")), bill("挂号费 Registration", 1_500, None)]);
        assert!(text.contains("共 215.00 元"), "{text}");
        assert!(text.contains("违章停车 Parking ¥200.00 · 截止 due 2026-12-15\n"), "{text}");
    }
}
