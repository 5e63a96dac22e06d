//! Subscribe-message grants: each template a citizen accepted in `wx.requestSubscribeMessage`
//! allows one more subscribe message to them; each notification sent uses one.

use city_platform::time::now_ms;
use city_platform::Db;

use crate::store;

/// At most this many templates per grant (WeChat asks for at most three at a time).
const MAX_TEMPLATES: usize = 20;

/// Why a grant was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A field breaks a rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as the client named it.
        field: String,
        /// What is wrong with it.
        message: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// One template's sends left after a grant.
#[derive(Debug)]
pub struct Granted {
    /// The template.
    pub template_id: String,
    /// Sends left.
    pub remaining: i64,
}

/// Records one more allowed send of each template for the citizen.
#[tracing::instrument(skip_all, fields(citizen_id = %citizen_id, templates = template_ids.len()))]
pub async fn grant(db: &Db, citizen_id: &str, template_ids: Vec<String>) -> Result<Vec<Granted>, GrantError> {
    if template_ids.is_empty() || template_ids.len() > MAX_TEMPLATES {
        return Err(GrantError::Invalid { field: "template_ids".into(), message: "1 to 20 template ids" });
    }
    for (i, id) in template_ids.iter().enumerate() {
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(GrantError::Invalid { field: format!("template_ids[{i}]"), message: "a WeChat template id" });
        }
    }
    let remaining = store::add_subscriptions(db, citizen_id, &template_ids, now_ms()).await?;
    Ok(template_ids
        .into_iter()
        .zip(remaining)
        .map(|(template_id, remaining)| Granted { template_id, remaining })
        .collect())
}
