//! HTTP surface of the channel service.

use std::sync::Arc;

use poem_openapi::{OpenApi, Tags};

use crate::ChannelState;

#[derive(Tags)]
#[allow(dead_code)] // Used by the operations the channel issue adds.
enum ChannelTags {
    /// The WeChat Service Account channel: callback, menu, messages.
    Wechat,
}

/// The channel service's operations.
pub struct ChannelApi {
    #[allow(dead_code)] // Read by the operations that the channel issue adds.
    state: Arc<ChannelState>,
}

impl ChannelApi {
    /// The API over shared state.
    pub fn new(state: Arc<ChannelState>) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ChannelTags::Wechat")]
impl ChannelApi {}
