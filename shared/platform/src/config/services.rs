//! Where the services are and how they reach each other: [`ServiceUrls`] (one URL or a list of
//! replicas per service), the [`Topology`] the binary runs in, the gateway's upstream settings.

use serde::{Deserialize, Deserializer, Serialize};

/// Where each service runs when the services run apart: the gateway forwards to these, and the
/// services call each other here. Each is one URL or a list of replicas' URLs
/// (`services.booking = ["http://10.0.0.5:8082", "http://10.0.0.6:8082"]`, or comma-separated
/// in a variable); trailing slashes are dropped. All-in-one they are not used.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceUrls {
    /// Identity: `/v1/auth`, `/v1/me`, `/v1/staff`.
    pub identity: ServiceAddr,
    /// Booking: `/v1/booking`.
    pub booking: ServiceAddr,
    /// Payments: `/v1/payments`.
    pub payments: ServiceAddr,
    /// Incidents: `/v1/incidents`, `/open311/v2`.
    pub incidents: ServiceAddr,
    /// Air quality: `/v1/air`.
    pub air: ServiceAddr,
    /// The Service Account channel (`city serve --only channel`): `/wechat`.
    pub channel: ServiceAddr,
    /// The WeChat sandbox of a split demo (`city serve --only sandbox`): `/sandbox/wechat`.
    pub sandbox: ServiceAddr,
    /// The older name of `channel` (`CITY_SERVICES__WECHAT`); moved there when loading.
    #[serde(default, skip_serializing)]
    pub wechat: Option<ServiceAddr>,
}

impl ServiceUrls {
    /// The address of `service` by its CLI name (`channel`; `wechat` is its older name).
    pub fn of(&self, service: &str) -> Option<&ServiceAddr> {
        Some(match service {
            "identity" => &self.identity,
            "booking" => &self.booking,
            "payments" => &self.payments,
            "incidents" => &self.incidents,
            "air" => &self.air,
            "channel" | "wechat" => &self.channel,
            "sandbox" => &self.sandbox,
            _ => return None,
        })
    }
}

/// One service's base URL, or its replicas' (see [`ServiceUrls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAddr(Vec<String>);

impl ServiceAddr {
    /// The replicas' base URLs, without trailing slashes.
    pub fn urls(&self) -> &[String] {
        &self.0
    }
    /// The first replica's base URL (where `--only` takes its default port).
    pub fn first(&self) -> &str {
        self.0.first().map(String::as_str).unwrap_or_default()
    }
}

impl From<&str> for ServiceAddr {
    fn from(text: &str) -> Self {
        Self(
            text.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|u| !u.is_empty())
                .map(|u| u.trim_end_matches('/').to_owned())
                .collect(),
        )
    }
}

impl From<String> for ServiceAddr {
    fn from(text: String) -> Self {
        Self::from(text.as_str())
    }
}

impl Serialize for ServiceAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ServiceAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Form::deserialize(deserializer)? {
            Form::One(text) => Self::from(text),
            Form::Many(list) => Self(list.iter().flat_map(|u| Self::from(u.as_str()).0).collect()),
        })
    }
}

/// Whether the other services are in this process or elsewhere. The `city` binary sets it from
/// the mode it runs in (all-in-one, `--only`, `--gateway`); it is never guessed from URLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Topology {
    /// Every service in this process: a service reaches another at this process's own address.
    #[default]
    Together,
    /// Services run as separate processes at `services.*`.
    Apart,
}

/// The gateway in front of services running apart (`city serve --gateway`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Seconds a service has to answer before the gateway gives up with a 504 problem
    /// (`CITY_GATEWAY__UPSTREAM_TIMEOUT_SECS`).
    pub upstream_timeout_secs: u64,
    /// Seconds a replica that failed to answer is left out of the rotation before it is tried
    /// again (`CITY_GATEWAY__EJECT_SECS`); services calling each other do the same.
    pub eject_secs: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self { upstream_timeout_secs: 30, eject_secs: 10 }
    }
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized as S;
    use figment::Figment;

    use crate::config::{Settings, Topology};

    fn load(key: &str, value: impl serde::Serialize) -> Result<Settings, crate::config::ConfigError> {
        Settings::load_from(Figment::new().merge(S::default(key, value)))
    }

    #[test]
    fn a_service_is_one_url_or_a_list_and_trailing_slashes_are_dropped() {
        let s = load("services.booking", ["http://10.0.0.5:8082/", "http://10.0.0.6:8082"]).unwrap();
        assert_eq!(s.services.booking.urls(), ["http://10.0.0.5:8082", "http://10.0.0.6:8082"]);
        let s = load("services.booking", "http://a:1/, http://b:2").unwrap();
        assert_eq!(s.services.booking.urls(), ["http://a:1", "http://b:2"]);
        let s = load("services.air", "http://a:1/").unwrap();
        assert_eq!(s.services.air.first(), "http://a:1");
        let err = load("services.air", "a:1").unwrap_err().to_string();
        assert!(err.contains("services.air (CITY_SERVICES__AIR)"), "{err}");
    }

    #[test]
    fn the_channel_is_channel_and_its_older_name_still_sets_it() {
        let s = load("services.wechat", "http://c:9").unwrap();
        assert_eq!(s.services.channel.first(), "http://c:9");
        assert!(s.services.wechat.is_none());
        assert!(s.to_masked_toml().contains("channel = \"http://c:9\""));
    }

    #[test]
    fn peers_are_this_process_together_and_the_configured_replicas_apart_whatever_the_urls() {
        // The defaults are what an operator running apart leaves in place: apart still means apart.
        let mut s = Settings { listen: "127.0.0.1:9999".parse().unwrap(), ..Settings::default() };
        assert_eq!(s.peer("identity", &s.services.identity.clone()).pick().unwrap(), "http://127.0.0.1:9999");
        s.topology = Topology::Apart;
        assert_eq!(s.peer("identity", &s.services.identity.clone()).pick().unwrap(), "http://127.0.0.1:8081");
        // A channel replica on another port than services.channel's still calls the services.
        s.listen = "127.0.0.1:18086".parse().unwrap();
        assert_eq!(s.peer("air", &s.services.air.clone()).pick().unwrap(), "http://127.0.0.1:8085");
    }
}
