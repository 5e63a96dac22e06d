//! The clerks' console settings (`[console]`, `CITY_CONSOLE__*`), and the older `CONSOLE_*`
//! variables it replaces, still read (with a warning) so existing deployments keep working.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The clerks' console (`/console`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// A console session unused this many minutes ends (`CITY_CONSOLE__IDLE_MINUTES`, at
    /// least 1): tablets are shared.
    pub idle_minutes: u64,
    /// A `{z}/{x}/{y}` URL template of GCJ-02 street tiles (`CITY_CONSOLE__TILE_URL`). Unset:
    /// the district outlines are the only base layer, drawn in WGS-84.
    pub tile_url: Option<String>,
    /// The tiles' attribution text (`CITY_CONSOLE__TILE_ATTRIBUTION`).
    pub tile_attribution: String,
    /// How often the queue page asks for new tickets, in seconds (`CITY_CONSOLE__POLL_SECS`,
    /// at least 2).
    pub poll_secs: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self { idle_minutes: 15, tile_url: None, tile_attribution: String::new(), poll_secs: 15 }
    }
}

/// The older variables and the settings that replace them.
const LEGACY: [(&str, &str); 4] = [
    ("CONSOLE_IDLE_MINUTES", "CITY_CONSOLE__IDLE_MINUTES"),
    ("CONSOLE_TILE_URL", "CITY_CONSOLE__TILE_URL"),
    ("CONSOLE_TILE_ATTRIBUTION", "CITY_CONSOLE__TILE_ATTRIBUTION"),
    ("CONSOLE_POLL_SECS", "CITY_CONSOLE__POLL_SECS"),
];

impl ConsoleSettings {
    /// Refuses values the console cannot run with, naming the key.
    pub(crate) fn check(&mut self) -> Result<(), ConfigError> {
        if self.idle_minutes == 0 {
            return Err(ConfigError("console.idle_minutes (CITY_CONSOLE__IDLE_MINUTES): must be at least 1".into()));
        }
        if self.poll_secs < 2 {
            return Err(ConfigError("console.poll_secs (CITY_CONSOLE__POLL_SECS): must be at least 2".into()));
        }
        if self.tile_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            self.tile_url = None;
        }
        Ok(())
    }

    /// These settings with the older `CONSOLE_*` variables (as `lookup` finds them) applied
    /// where the setting was left at its default, and one warning per old name in use. A bad
    /// old value is refused with its name, as the new one would be.
    pub fn with_legacy(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(Self, Vec<String>), ConfigError> {
        let defaults = Self::default();
        let mut warnings = Vec::new();
        for (old, new) in LEGACY {
            let Some(v) = lookup(old).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else { continue };
            warnings.push(format!("{old} is deprecated: set {new} instead"));
            let number = || v.parse::<u64>().map_err(|_| ConfigError(format!("{old} (use {new}): a whole number")));
            match old {
                "CONSOLE_IDLE_MINUTES" if self.idle_minutes == defaults.idle_minutes => self.idle_minutes = number()?,
                "CONSOLE_POLL_SECS" if self.poll_secs == defaults.poll_secs => self.poll_secs = number()?,
                "CONSOLE_TILE_URL" if self.tile_url.is_none() => self.tile_url = Some(v.clone()),
                "CONSOLE_TILE_ATTRIBUTION" if self.tile_attribution.is_empty() => self.tile_attribution = v.clone(),
                _ => {}
            }
        }
        self.check()?;
        Ok((self, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn the_old_names_still_apply_with_a_warning_each_but_never_over_a_new_setting() {
        let (s, warnings) = ConsoleSettings::default()
            .with_legacy(env(&[("CONSOLE_IDLE_MINUTES", "5"), ("CONSOLE_TILE_URL", "https://t/{z}/{x}/{y}")]))
            .unwrap();
        assert_eq!(s.idle_minutes, 5);
        assert_eq!(s.tile_url.as_deref(), Some("https://t/{z}/{x}/{y}"));
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].contains("CITY_CONSOLE__IDLE_MINUTES"), "{warnings:?}");

        let set = ConsoleSettings { idle_minutes: 30, ..Default::default() };
        let (s, warnings) = set.with_legacy(env(&[("CONSOLE_IDLE_MINUTES", "5")])).unwrap();
        assert_eq!(s.idle_minutes, 30, "the new setting wins");
        assert_eq!(warnings.len(), 1, "the old name is still reported");

        let (s, warnings) = ConsoleSettings::default().with_legacy(env(&[])).unwrap();
        assert_eq!(s, ConsoleSettings::default());
        assert!(warnings.is_empty());
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let err = ConsoleSettings::default().with_legacy(env(&[("CONSOLE_POLL_SECS", "soon")])).unwrap_err();
        assert!(err.0.contains("CONSOLE_POLL_SECS"), "{}", err.0);
        let err = ConsoleSettings::default().with_legacy(env(&[("CONSOLE_IDLE_MINUTES", "0")])).unwrap_err();
        assert!(err.0.contains("console.idle_minutes"), "{}", err.0);
        let mut s = ConsoleSettings { poll_secs: 1, ..Default::default() };
        assert!(s.check().unwrap_err().0.contains("CITY_CONSOLE__POLL_SECS"));
    }
}
