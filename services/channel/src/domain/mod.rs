//! Pure rules of the channel: the menu file and WeChat's limits, the FAQ matcher, what the
//! account answers to each push, and how follower facts fold into one write. No I/O here.

pub mod faq;
pub mod followers;
pub mod menu;
pub mod replies;
