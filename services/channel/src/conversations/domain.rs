//! The rules of conversations, pure: what a citizen's text asks for (an emergency, a person, a
//! satisfaction score), which group a conversation belongs to, service hours in Beijing time,
//! the expected wait, and the words the citizen is told.

use city_platform::config::{minute_of_day, ConversationSettings};

/// Skill groups agents belong to and conversations are routed by.
pub const GROUPS: &[&str] = &["booking", "payments", "incidents", "air", "general"];
/// Languages agents answer in.
pub const LANGUAGES: &[&str] = &["zh", "en"];
/// How a conversation may be closed.
pub const OUTCOMES: &[&str] = &["resolved", "referred", "no-reply", "spam"];
/// The menu key that asks for a person.
pub const TALK_KEY: &str = "TALK_TO_AGENT";

/// The customer-service window: replies may go out this long after the citizen's last message.
pub const WINDOW_MS: i64 = crate::CUSTOMER_SERVICE_WINDOW_MS;

/// Which emergency a text reports, and the number to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emergency {
    /// Violence, robbery: police, 110.
    Police,
    /// Fire: 119.
    Fire,
    /// Someone collapsed, injured: ambulance, 120.
    Medical,
    /// A traffic accident: 122.
    Traffic,
}

// Checked in this order: a crash with injuries is reported to 122 and 120 both in the answer.
const EMERGENCY_WORDS: &[(Emergency, &[&str])] = &[
    (
        Emergency::Traffic,
        &["车祸", "撞车", "交通事故", "car accident", "car crash", "traffic accident", "hit by a car"],
    ),
    (Emergency::Fire, &["着火", "火灾", "失火", "起火", "fire!", "on fire", "house fire", "building fire"]),
    (
        Emergency::Medical,
        &[
            "晕倒",
            "昏倒",
            "急救",
            "心脏病",
            "没有呼吸",
            "ambulance",
            "unconscious",
            "heart attack",
            "not breathing",
            "fainted",
        ],
    ),
    (
        Emergency::Police,
        &["救命", "打人", "抢劫", "持刀", "绑架", "help me", "robbery", "being attacked", "stabbed", "kidnap"],
    ),
];

/// The emergency a text reports, if any (before anything else is done with it).
pub fn emergency(text: &str) -> Option<Emergency> {
    let lower = text.to_lowercase();
    EMERGENCY_WORDS.iter().find(|(_, words)| words.iter().any(|w| lower.contains(w))).map(|(e, _)| *e)
}

/// The immediate answer to an emergency: the number first, then that a person reads the chat.
pub fn emergency_reply(e: Emergency) -> String {
    let (zh, en) = match e {
        Emergency::Police => ("请立即拨打 110 报警", "Call the police now: 110"),
        Emergency::Fire => ("请立即拨打 119 火警电话", "Call the fire service now: 119"),
        Emergency::Medical => ("请立即拨打 120 急救电话", "Call an ambulance now: 120"),
        Emergency::Traffic => (
            "请立即拨打 122 交通事故报警，有人受伤请同时拨打 120",
            "Call 122 for the accident now, and 120 if anyone is hurt",
        ),
    };
    format!(
        "【紧急】{zh}。本对话不能代替报警。\n[Emergency] {en}. This chat is no substitute for the emergency number."
    )
}

/// Whether the text asks for a person.
pub fn wants_person(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    ["人工", "转人工", "客服", "真人"].iter().any(|w| t.contains(w))
        || t.split(|c: char| !c.is_alphanumeric()).any(|w| matches!(w, "agent" | "human" | "person" | "operator"))
}

/// The language a conversation opened by `text` is in: `en` for Latin letters and no Chinese
/// character, else `zh` (the city's own; also for media, which carry no words).
pub fn language_of(kind: &str, text: &str) -> &'static str {
    let chinese =
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c));
    if kind == "text" && !chinese && text.chars().any(|c| c.is_ascii_alphabetic()) {
        "en"
    } else {
        "zh"
    }
}

/// The group a text is about, by the words the FAQ's intents use; `None` when nothing says.
pub fn topic_of_text(text: &str) -> Option<&'static str> {
    const WORDS: &[(&str, &[&str])] = &[
        ("booking", &["挂号", "预约", "医院", "看病", "booking", "appointment", "doctor", "hospital"]),
        ("payments", &["罚款", "缴费", "账单", "退款", "fine", "bill", "pay", "refund"]),
        ("incidents", &["上报", "举报", "投诉", "路灯", "井盖", "report", "pothole", "streetlight", "complaint"]),
        ("air", &["空气", "雾霾", "污染", "air", "smog", "pollution", "aqi"]),
    ];
    let lower = text.to_lowercase();
    WORDS.iter().find(|(_, words)| words.iter().any(|w| lower.contains(w))).map(|(g, _)| *g)
}

/// The group a menu key belongs to (`TALK_TO_AGENT_BOOKING` and the like; the plain key says nothing).
pub fn topic_of_key(key: &str) -> Option<&'static str> {
    let rest = key.strip_prefix(TALK_KEY)?.strip_prefix('_')?.to_lowercase();
    GROUPS.iter().find(|g| **g == rest).copied()
}

/// A satisfaction score: a lone digit 1 to 5 (full-width too).
pub fn satisfaction_score(text: &str) -> Option<i64> {
    let t = text.trim();
    let mut chars = t.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    let d = match c {
        '1'..='5' => c as i64 - '0' as i64,
        '１'..='５' => c as i64 - '１' as i64 + 1,
        _ => return None,
    };
    Some(d)
}

/// An openid as agents see it: `o6_w…Xy1`.
pub fn mask_openid(openid: &str) -> String {
    let chars: Vec<char> = openid.chars().collect();
    if chars.len() <= 7 {
        return "…".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}…{tail}")
}

/// The first 60 characters of a message, for lists.
pub fn preview(text: &str) -> String {
    text.chars().take(60).collect()
}

const BEIJING_OFFSET_MS: i64 = 8 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// ISO weekday (1 Monday … 7 Sunday) and minute of day in Beijing (UTC+8 all year; no DST).
pub fn beijing_weekday_minute(at_ms: i64) -> (u8, u32) {
    let local = at_ms + BEIJING_OFFSET_MS;
    let day = local.div_euclid(DAY_MS);
    // 1970-01-01 was a Thursday (ISO 4).
    let weekday = (day + 3).rem_euclid(7) as u8 + 1;
    let minute = (local.rem_euclid(DAY_MS) / 60_000) as u32;
    (weekday, minute)
}

/// Whether agents are on duty at `at_ms`.
pub fn in_service_hours(s: &ConversationSettings, at_ms: i64) -> bool {
    let (day, minute) = beijing_weekday_minute(at_ms);
    let (Some(opens), Some(closes)) = (minute_of_day(&s.opens), minute_of_day(&s.closes)) else { return false };
    s.days.contains(&day) && (opens..closes).contains(&minute)
}

/// The hours as citizens read them: `08:30–17:30 周一至周五 Mon–Fri`.
pub fn hours_text(s: &ConversationSettings) -> String {
    const ZH: [&str; 7] = ["一", "二", "三", "四", "五", "六", "日"];
    const EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let mut days = s.days.clone();
    days.sort_unstable();
    days.dedup();
    let contiguous = days.windows(2).all(|w| w[1] == w[0] + 1);
    let name = |d: u8, t: &[&'static str; 7]| t[usize::from(d.clamp(1, 7)) - 1];
    let (zh, en) = match (days.first(), days.last()) {
        (Some(&a), Some(&b)) if contiguous && a != b => {
            (format!("周{}至周{}", name(a, &ZH), name(b, &ZH)), format!("{}–{}", name(a, &EN), name(b, &EN)))
        }
        _ => (
            days.iter().map(|d| format!("周{}", name(*d, &ZH))).collect::<Vec<_>>().join("、"),
            days.iter().map(|d| name(*d, &EN)).collect::<Vec<_>>().join(", "),
        ),
    };
    format!("{}–{} {zh} {en}", s.opens, s.closes)
}

/// Expected wait in minutes for the conversation at `position` (1 = next) in a group with
/// `agents_online` agents.
pub fn expected_wait_minutes(position: i64, agents_online: i64, handling_minutes: u32) -> i64 {
    let per = i64::from(handling_minutes);
    let n = agents_online.max(1);
    (position.max(1) * per + n - 1) / n
}

/// Where the conversation went when it was handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// An agent has it now.
    Assigned,
    /// It waits at `position` with agents on duty.
    Queued {
        /// 1 = next.
        position: i64,
        /// Estimated minutes.
        wait_minutes: i64,
    },
    /// Outside service hours: it waits for the next shift.
    OffHours,
}

/// What the assistant says when it hands a conversation to a person. The first sentence is the
/// one citizens know from before agents existed ("staff will reply").
pub fn handover_reply(h: Handover, s: &ConversationSettings) -> String {
    let hours = hours_text(s);
    let (zh, en) = match h {
        Handover::Assigned => ("人工客服已接入，请稍候。".to_owned(), "An agent is with you now.".to_owned()),
        Handover::Queued { position, wait_minutes } => (
            format!("正在为您转接人工客服，前面还有 {} 位，预计等待约 {wait_minutes} 分钟。", position - 1),
            format!("A person will answer: {} ahead of you, about {wait_minutes} min.", position - 1),
        ),
        Handover::OffHours => (
            "现在是非工作时间，您的留言将在下一个工作时段由人工客服处理。".to_owned(),
            "It is outside service hours; your message waits for the next shift.".to_owned(),
        ),
    };
    format!(
        "已收到您的留言，工作人员会尽快回复。{zh}服务时间：{hours}。紧急事项请拨打 12345。\n\
         We received your message; staff will reply soon. {en} Service hours: {hours} (Beijing)."
    )
}

/// The question sent after a conversation closes.
pub fn satisfaction_question() -> String {
    "本次服务已结束。请回复数字 1–5 为本次服务评分（5 为非常满意）。\n\
     This conversation is closed. Please rate it: reply with a digit 1–5 (5 = very satisfied)."
        .into()
}

/// The answer to a score.
pub fn satisfaction_thanks(score: i64) -> String {
    format!("感谢您的评价（{score} 分）！\nThank you for your rating ({score}/5)!")
}

/// What the citizen is told when a conversation closes for want of messages.
pub fn idle_closed() -> String {
    "由于长时间没有新消息，本次对话已自动结束；如需帮助请再次留言。\n\
     This conversation closed after a long silence; write again any time."
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversations_language_is_english_only_for_latin_words_without_chinese() {
        assert_eq!(language_of("text", "I need to talk to a person"), "en");
        assert_eq!(language_of("text", "转人工"), "zh");
        assert_eq!(language_of("text", "agent 你好"), "zh");
        assert_eq!(language_of("text", "12345"), "zh");
        assert_eq!(language_of("image", "media-id-abc"), "zh");
    }

    #[test]
    fn emergencies_are_recognised_in_both_languages_and_answered_with_the_number() {
        assert_eq!(emergency("救命！有人打人"), Some(Emergency::Police));
        assert_eq!(emergency("楼下着火了"), Some(Emergency::Fire));
        assert_eq!(emergency("my neighbour fainted, not breathing"), Some(Emergency::Medical));
        assert_eq!(emergency("there was a car crash on Renmin Road"), Some(Emergency::Traffic));
        assert_eq!(emergency("路灯坏了"), None);
        assert!(emergency_reply(Emergency::Fire).contains("119"));
        assert!(emergency_reply(Emergency::Traffic).contains("122"));
    }

    #[test]
    fn a_person_is_asked_for_by_word_not_by_substring() {
        assert!(wants_person("转人工"));
        assert!(wants_person("can I talk to a human?"));
        assert!(!wants_person("humanity"));
        assert!(!wants_person("路灯坏了"));
    }

    #[test]
    fn topics_and_scores() {
        assert_eq!(topic_of_text("我的罚款怎么交"), Some("payments"));
        assert_eq!(topic_of_text("hello"), None);
        assert_eq!(topic_of_key("TALK_TO_AGENT_BOOKING"), Some("booking"));
        assert_eq!(topic_of_key("TALK_TO_AGENT"), None);
        assert_eq!(satisfaction_score(" 4 "), Some(4));
        assert_eq!(satisfaction_score("５"), Some(5));
        assert_eq!(satisfaction_score("6"), None);
        assert_eq!(satisfaction_score("45"), None);
        assert_eq!(mask_openid("o6_wAbcdefXy1"), "o6_w…Xy1");
    }

    #[test]
    fn service_hours_are_beijing_weekdays() {
        let s = ConversationSettings::default();
        // 2026-12-03 (Thursday) 02:00 UTC = 10:00 Beijing.
        let thursday_10 = 1_796_263_200_000;
        assert_eq!(beijing_weekday_minute(thursday_10), (4, 600));
        assert!(in_service_hours(&s, thursday_10));
        // 10:00 UTC = 18:00 Beijing: closed.
        assert!(!in_service_hours(&s, thursday_10 + 8 * 3600 * 1000));
        // Saturday 10:00 Beijing: closed.
        assert!(!in_service_hours(&s, thursday_10 + 2 * DAY_MS));
        assert_eq!(hours_text(&s), "08:30–17:30 周一至周五 Mon–Fri");
        assert_eq!(expected_wait_minutes(3, 2, 6), 9);
        assert!(handover_reply(Handover::OffHours, &s).contains("next shift"));
    }
}
