//! The channel service's settings (`[channel]`, `CITY_CHANNEL__*`): for now the limits of the
//! Service Account's announcements (issue #21), which WeChat may change, so they are settings
//! rather than constants.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The channel service (`CITY_CHANNEL__*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelSettings {
    /// Broadcast limits (`CITY_CHANNEL__ANNOUNCEMENTS__*`).
    pub announcements: AnnouncementSettings,
    /// Conversations with agents (`CITY_CHANNEL__CONVERSATIONS__*`; see `config/conversations.rs`).
    pub conversations: super::ConversationSettings,
    /// Departmental Service Accounts beside the city's (`[[channel.accounts]]`; see
    /// `config/accounts.rs`). Unset: the demo's two, or none in production.
    pub accounts: Option<Vec<super::AccountSettings>>,
    /// Mini Programs the city's account may link (`CITY_CHANNEL__MINIPROGRAM_LINKS_MAX`; WeChat's
    /// limit, 10). The channel refuses one more before asking WeChat.
    pub miniprogram_links_max: u32,
}

/// WeChat's limits on a Service Account's broadcasts, as this deployment knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnnouncementSettings {
    /// Articles one announcement may carry (`CITY_CHANNEL__ANNOUNCEMENTS__MAX_ARTICLES`, 1 to 8;
    /// WeChat documented 6 in the sources this portal grew from). The channel refuses more
    /// with a 422 naming `articles`; the demo's sandbox refuses more too.
    pub max_articles: usize,
    /// Broadcasts a follower may receive per Asia/Shanghai calendar month
    /// (`CITY_CHANNEL__ANNOUNCEMENTS__MONTHLY_BROADCASTS`, at least 1; 4 for a Service
    /// Account). WeChat enforces it; the demo's sandbox starts with this value.
    pub monthly_broadcasts: u32,
}

impl Default for AnnouncementSettings {
    fn default() -> Self {
        Self { max_articles: 6, monthly_broadcasts: 4 }
    }
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self {
            announcements: AnnouncementSettings::default(),
            conversations: super::ConversationSettings::default(),
            accounts: None,
            miniprogram_links_max: 10,
        }
    }
}

impl ChannelSettings {
    /// Refuses limits nothing could be sent under, and accounts that cannot be served, naming the key.
    pub(crate) fn check(
        &self,
        profile: super::Profile,
        data_dir: &std::path::Path,
        city_appid: &str,
    ) -> Result<(), ConfigError> {
        self.conversations.check()?;
        super::accounts::check(self.accounts.as_deref(), profile, data_dir, city_appid)?;
        if self.miniprogram_links_max == 0 {
            return Err(ConfigError(
                "channel.miniprogram_links_max (CITY_CHANNEL__MINIPROGRAM_LINKS_MAX): at least 1".into(),
            ));
        }
        let a = &self.announcements;
        // 8 was WeChat's own ceiling for a multi-article message; more is surely a typo.
        if !(1..=8).contains(&a.max_articles) {
            return Err(ConfigError(
                "channel.announcements.max_articles (CITY_CHANNEL__ANNOUNCEMENTS__MAX_ARTICLES): 1 to 8".into(),
            ));
        }
        if a.monthly_broadcasts == 0 {
            return Err(ConfigError(
                "channel.announcements.monthly_broadcasts (CITY_CHANNEL__ANNOUNCEMENTS__MONTHLY_BROADCASTS): at least 1"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_wechats_documented_limits_and_impossible_ones_are_refused_by_name() {
        let s = ChannelSettings::default();
        assert_eq!((s.announcements.max_articles, s.announcements.monthly_broadcasts), (6, 4));
        assert!(s.check(super::super::Profile::Demo, std::path::Path::new("."), "wx").is_ok());
        for (max_articles, monthly_broadcasts, key) in
            [(0, 4, "MAX_ARTICLES"), (9, 4, "MAX_ARTICLES"), (6, 0, "MONTHLY")]
        {
            let s = ChannelSettings {
                announcements: AnnouncementSettings { max_articles, monthly_broadcasts },
                ..Default::default()
            };
            let err = s.check(super::super::Profile::Demo, std::path::Path::new("."), "wx").unwrap_err();
            assert!(err.0.contains(key), "{}", err.0);
        }
    }
}
