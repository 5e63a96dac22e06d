//! Notifications: the `notify.requested` events services emit through their outbox, delivered
//! once per (event, channel, recipient) with retries, backoff and a dead-letter record.
//!
//! - [`wechat`]: the WeChat message and menu client (customer-service, template, subscribe).

pub mod wechat;
