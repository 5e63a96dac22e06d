//! `city wechat menu push|show|delete`: the menu file sent to WeChat (the sandbox by default)
//! through the Service Account's client, after checking it against WeChat's limits.

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
