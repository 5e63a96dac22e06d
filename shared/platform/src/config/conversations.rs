//! Conversations with city agents (`[channel.conversations]`, `CITY_CHANNEL__CONVERSATIONS__*`,
//! issue #20): the service hours citizens are told, the idle time after which a conversation
//! closes itself, and the handling time the expected wait is estimated from.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// When agents answer and how long conversations may sit idle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConversationSettings {
    /// Opening time, Beijing, `HH:MM` (`CITY_CHANNEL__CONVERSATIONS__OPENS`; 08:30).
    pub opens: String,
    /// Closing time, Beijing, `HH:MM` (`CITY_CHANNEL__CONVERSATIONS__CLOSES`; 17:30).
    pub closes: String,
    /// Working days, ISO numbers 1 (Monday) to 7 (`CITY_CHANNEL__CONVERSATIONS__DAYS`; Mon–Fri).
    pub days: Vec<u8>,
    /// Minutes without a message after which an open conversation closes itself and the citizen
    /// is told (`CITY_CHANNEL__CONVERSATIONS__IDLE_CLOSE_MINUTES`; 30; 0 turns it off).
    pub idle_close_minutes: u32,
    /// Minutes an agent spends on a conversation on average, for the expected wait
    /// (`CITY_CHANNEL__CONVERSATIONS__HANDLING_MINUTES`; 6).
    pub handling_minutes: u32,
    /// Concurrent conversations of a new agent (`CITY_CHANNEL__CONVERSATIONS__DEFAULT_MAX_CONCURRENT`; 4).
    pub default_max_concurrent: u32,
}

impl Default for ConversationSettings {
    fn default() -> Self {
        Self {
            opens: "08:30".into(),
            closes: "17:30".into(),
            days: vec![1, 2, 3, 4, 5],
            idle_close_minutes: 30,
            handling_minutes: 6,
            default_max_concurrent: 4,
        }
    }
}

/// Minutes after midnight of an `HH:MM` time.
pub fn minute_of_day(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && hhmm.len() == 5).then_some(h * 60 + m)
}

impl ConversationSettings {
    /// Refuses hours nobody could be served in, naming the key.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let key = |k: &str, why: &str| {
            ConfigError(format!("channel.conversations.{k} (CITY_CHANNEL__CONVERSATIONS__{}): {why}", k.to_uppercase()))
        };
        let opens = minute_of_day(&self.opens).ok_or_else(|| key("opens", "HH:MM"))?;
        let closes = minute_of_day(&self.closes).ok_or_else(|| key("closes", "HH:MM"))?;
        if closes <= opens {
            return Err(key("closes", "after opens"));
        }
        if self.days.is_empty() || self.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(key("days", "1 (Monday) to 7, at least one"));
        }
        if self.handling_minutes == 0 {
            return Err(key("handling_minutes", "at least 1"));
        }
        if !(1..=50).contains(&self.default_max_concurrent) {
            return Err(key("default_max_concurrent", "1 to 50"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_impossible_hours_are_refused_by_name() {
        assert!(ConversationSettings::default().check().is_ok());
        let bad = [
            ConversationSettings { opens: "8:30".into(), ..Default::default() },
            ConversationSettings { closes: "08:00".into(), ..Default::default() },
            ConversationSettings { days: vec![0], ..Default::default() },
            ConversationSettings { handling_minutes: 0, ..Default::default() },
        ];
        for (s, k) in bad.iter().zip(["OPENS", "CLOSES", "DAYS", "HANDLING"]) {
            assert!(s.check().unwrap_err().0.contains(k), "{s:?}");
        }
    }
}
