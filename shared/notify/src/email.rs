//! E-mail through lettre: real SMTP when `notify.smtp_url` is set (`CITY_NOTIFY__SMTP_URL`) (`smtp://[user:pass@]host[:port]`,
//! plaintext SMTP to a local relay), otherwise one `.eml` file per message in the outbox directory.

use std::path::PathBuf;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where mail goes.
pub enum Mailer {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory (development).
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// A mail that could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The address or message is unusable; retrying will not help.
    #[error("mail refused: {0}")]
    Permanent(String),
    /// The server or disk failed; worth retrying.
    #[error("mail not sent: {0}")]
    Transient(String),
}

impl Mailer {
    /// SMTP at `smtp_url` when given, else files under `outbox_dir` (created if missing).
    pub fn new(smtp_url: Option<&str>, outbox_dir: PathBuf) -> Result<Self, MailError> {
        let Some(url) = smtp_url else {
            std::fs::create_dir_all(&outbox_dir).map_err(|e| MailError::Permanent(format!("outbox dir: {e}")))?;
            return Ok(Self::Files(AsyncFileTransport::new(&outbox_dir), outbox_dir));
        };
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(|| MailError::Permanent("notify.smtp_url must start with smtp://".into()))?;
        let (auth, host_port) = match rest.rsplit_once('@') {
            Some((auth, hp)) => (Some(auth), hp),
            None => (None, rest),
        };
        let host_port = host_port.trim_end_matches('/');
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| MailError::Permanent("bad SMTP port".into()))?),
            None => (host_port, 25),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port);
        if let Some((user, pass)) = auth.and_then(|a| a.split_once(':')) {
            builder = builder.credentials(Credentials::new(user.to_owned(), pass.to_owned()));
        }
        Ok(Self::Smtp(builder.build()))
    }

    /// Sends one plain-text mail; with `unsubscribe`, the RFC 8058 one-click headers
    /// (`List-Unsubscribe: <url>`, `List-Unsubscribe-Post: List-Unsubscribe=One-Click`).
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        subject: &str,
        body: &str,
        unsubscribe: Option<&str>,
    ) -> Result<(), MailError> {
        let from: Mailbox = from.parse().map_err(|e| MailError::Permanent(format!("from address: {e}")))?;
        let to: Mailbox = to.parse().map_err(|e| MailError::Permanent(format!("recipient address: {e}")))?;
        let mut builder = Message::builder().from(from).to(to).subject(subject).header(ContentType::TEXT_PLAIN);
        if let Some(url) = unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        let message = builder.body(body.to_owned()).map_err(|e| MailError::Permanent(e.to_string()))?;
        match self {
            Self::Smtp(t) => t.send(message).await.map(drop).map_err(|e| {
                if e.is_permanent() {
                    MailError::Permanent(e.to_string())
                } else {
                    MailError::Transient(e.to_string())
                }
            }),
            Self::Files(t, _) => t.send(message).await.map(drop).map_err(|e| MailError::Transient(e.to_string())),
        }
    }
}
