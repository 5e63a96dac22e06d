//! `city wechat menu push|show|delete`: the menu file sent to WeChat (the sandbox by default)
//! through the Service Account's client, after checking it against WeChat's limits; and
//! [`push_accounts`], each departmental account's own menu through its own client (issue #20).

use city_notify::wechat::{WechatApi, WechatApiError};
use city_platform::Settings;
use serde_json::Value;

use crate::domain::menu::{Menu, MenuError};

/// Why a menu command failed.
#[derive(Debug, thiserror::Error)]
pub enum MenuOpError {
    /// The menu file breaks WeChat's limits (every broken rule listed).
    #[error("the menu breaks WeChat's limits:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<MenuError>),
    /// WeChat refused or could not be reached.
    #[error(transparent)]
    Wechat(#[from] WechatApiError),
    /// A departmental account's menu file could not be read.
    #[error("{0}")]
    File(String),
}

/// The departmental menus the demo ships (`seeds/wechat/accounts/<key>/menu.json`), used when
/// the account's menu path is not readable from where the program runs.
const ACCOUNT_MENU_SEEDS: &[(&str, &str)] = &[
    ("health", include_str!("../../../seeds/wechat/accounts/health/menu.json")),
    ("traffic", include_str!("../../../seeds/wechat/accounts/traffic/menu.json")),
];

/// A departmental account's menu JSON: its file, else the shipped seed of its key.
pub fn account_menu(account: &city_platform::config::ServiceAccount) -> Result<String, MenuOpError> {
    if let Some(path) = &account.menu {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Ok(text);
        }
    }
    ACCOUNT_MENU_SEEDS.iter().find(|(k, _)| *k == account.key).map(|(_, m)| (*m).to_owned()).ok_or_else(|| {
        MenuOpError::File(format!(
            "account `{}`: no menu at {}",
            account.key,
            account.menu.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
        ))
    })
}

/// Pushes every departmental account's menu through that account's own client; what became of
/// each, by key. The city's menu is [`push`]'s.
pub async fn push_accounts(settings: &Settings) -> Vec<(String, Result<Menu, MenuOpError>)> {
    let mut done = Vec::new();
    for a in city_platform::config::service_accounts(settings).into_iter().skip(1) {
        let api = WechatApi::new(settings.wechat_api_base(), a.appid.clone(), a.secret.expose());
        let pushed = match account_menu(&a) {
            Ok(json) => push(&api, Some(&json)).await,
            Err(e) => Err(e),
        };
        done.push((a.key, pushed));
    }
    done
}

/// A departmental account's client, by key (`None` for an unknown key).
pub fn account_api(settings: &Settings, key: &str) -> Option<WechatApi> {
    city_platform::config::service_accounts(settings)
        .into_iter()
        .find(|a| a.key == key)
        .map(|a| WechatApi::new(settings.wechat_api_base(), a.appid, a.secret.expose()))
}

/// The Service Account's client from the settings.
pub fn oa_api(settings: &Settings) -> WechatApi {
    WechatApi::new(settings.wechat_api_base(), settings.wechat.oa_appid.clone(), settings.wechat.oa_secret.expose())
}

/// Validates `json` (the shipped seed when `None`) and creates it as the account's menu.
pub async fn push(api: &WechatApi, json: Option<&str>) -> Result<Menu, MenuOpError> {
    let menu = Menu::parse(json.unwrap_or(crate::MENU_SEED)).map_err(MenuOpError::Invalid)?;
    let body = serde_json::to_value(&menu).unwrap_or_default();
    api.menu_create(&body).await?;
    Ok(menu)
}

/// The menu in effect, as WeChat's menu JSON (`{"button": [...]}`).
pub async fn show(api: &WechatApi) -> Result<Value, MenuOpError> {
    let answer = api.menu_get().await?;
    Ok(serde_json::json!({"button": answer["menu"]["button"]}))
}

/// Removes the menu.
pub async fn delete(api: &WechatApi) -> Result<(), MenuOpError> {
    Ok(api.menu_delete().await?)
}
