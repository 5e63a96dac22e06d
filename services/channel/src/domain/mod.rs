//! Pure rules of the channel: the menu file and WeChat's limits, the FAQ matcher, and what the
//! account answers to each push. No I/O here.

pub mod faq;
pub mod menu;
pub mod replies;
