//! E-mail through lettre: real SMTP when `notify.smtp_url` is set (`CITY_NOTIFY__SMTP_URL`), otherwise one
//! `.eml` file per message in the outbox directory. Three URL schemes: `smtp://[user:pass@]host[:port]`
//! (plaintext, for a relay on the same host or network; port 25), `smtps://…` (TLS from the first byte;
//! port 465) and `smtp+starttls://…` (STARTTLS required, never downgraded; port 587). TLS is rustls
//! with the Mozilla roots (webpki-roots), so the image needs no system CA bundle for mail.

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

/// How the SMTP connection is protected, from the URL's scheme.
#[derive(Clone, Copy)]
enum Security {
    Plain,
    Tls,
    StartTls,
}

impl Security {
    fn default_port(self) -> u16 {
        match self {
            Self::Plain => 25,
            Self::Tls => 465,
            Self::StartTls => 587,
        }
    }
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
        let (security, rest) =
            [("smtp://", Security::Plain), ("smtps://", Security::Tls), ("smtp+starttls://", Security::StartTls)]
                .into_iter()
                .find_map(|(scheme, security)| url.strip_prefix(scheme).map(|rest| (security, rest)))
                .ok_or_else(|| {
                    MailError::Permanent("notify.smtp_url must start with smtp://, smtps:// or smtp+starttls://".into())
                })?;
        let (auth, host_port) = match rest.rsplit_once('@') {
            Some((auth, hp)) => (Some(auth), hp),
            None => (None, rest),
        };
        let host_port = host_port.trim_end_matches('/');
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| MailError::Permanent("bad SMTP port".into()))?),
            None => (host_port, security.default_port()),
        };
        let builder = match security {
            Security::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| MailError::Permanent(format!("SMTP TLS: {e}")))?,
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| MailError::Permanent(format!("SMTP STARTTLS: {e}")))?,
        };
        let mut builder = builder.port(port);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// The first bytes a client sends to a listener on loopback (which never answers).
    async fn first_bytes_sent(connect: impl FnOnce(u16) -> tokio::task::JoinHandle<()>) -> Vec<u8> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = connect(port);
        // Without TLS compiled in, the client refuses the URL and never connects: fail, not hang.
        let accepted = tokio::time::timeout(std::time::Duration::from_secs(10), listener.accept()).await;
        let (mut socket, _) = accepted.expect("the client never connected").unwrap();
        let mut buf = vec![0; 5];
        socket.read_exact(&mut buf).await.unwrap();
        client.abort();
        buf
    }

    /// A TLS record header of a handshake (a ClientHello): content type 22, version 3.x.
    fn is_tls_handshake(bytes: &[u8]) -> bool {
        bytes[0] == 0x16 && bytes[1] == 0x03
    }

    #[tokio::test]
    async fn smtps_speaks_tls_from_the_first_byte() {
        let outbox = std::env::temp_dir().join("city-notify-tls-test");
        let sent = first_bytes_sent(|port| {
            let mailer = Mailer::new(Some(&format!("smtps://u:p@127.0.0.1:{port}")), outbox).unwrap();
            tokio::spawn(async move {
                let _ = mailer.send("City <a@city.example.cn>", "b@example.cn", "s", "b", None).await;
            })
        })
        .await;
        assert!(is_tls_handshake(&sent), "{sent:?}");
    }

    /// WeChat and WeChat Pay are https only: the HTTP client must carry TLS (it once did not).
    #[tokio::test]
    async fn the_http_client_speaks_tls_to_https_urls() {
        let sent = first_bytes_sent(|port| {
            tokio::spawn(async move {
                let _ = reqwest::Client::new().get(format!("https://127.0.0.1:{port}/")).send().await;
            })
        })
        .await;
        assert!(is_tls_handshake(&sent), "{sent:?}");
    }

    #[test]
    fn mail_urls_name_their_security_and_others_are_refused() {
        let outbox = std::env::temp_dir().join("city-notify-url-test");
        for url in ["smtp://relay:2525", "smtps://u:p@mail.example.cn", "smtp+starttls://u:p@mail.example.cn:587"] {
            assert!(matches!(Mailer::new(Some(url), outbox.clone()), Ok(Mailer::Smtp(_))), "{url}");
        }
        assert!(matches!(Mailer::new(Some("ftp://mail.example.cn"), outbox), Err(MailError::Permanent(_))));
    }
}
