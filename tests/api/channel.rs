//! The Service Account channel end to end through the portal: signed pushes to
//! `/wechat/callback`, menu answers that come from the other services over their internal APIs.
