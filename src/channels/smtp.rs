//! `smtp`: sends each delivery as a plain-text email. STARTTLS (the
//! default, port 587), implicit TLS (`security = "tls"`, port 465) or, for a
//! relay on the same machine only, `security = "none"`. The recipient is the
//! `to` setting: an address, or a customer attribute such as
//! `"customer.email"` (the engine leaves out, with an `unreachable` record,
//! a customer who lacks it). The `Message-ID` comes from the idempotency
//! key, so a resent message is recognisably the same one. Replies 4xx are
//! retried, 5xx are dead; a dropped connection is retried.

use super::{Attempt, Channel};
use crate::engine::Delivery;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use std::time::Duration;

pub struct Smtp {
    transport: SmtpTransport,
    from: Mailbox,
    /// The domain of `Message-ID`s: the sender's.
    domain: String,
    subject: Option<String>,
    /// `to` when it is an address rather than customer data.
    to: Option<String>,
}

/// What the smtp adapter reads from its channel's settings.
pub struct Settings {
    pub host: String,
    pub port: Option<u16>,
    pub security: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub subject: Option<String>,
    pub to: Option<String>,
    pub timeout: Duration,
}

impl Smtp {
    pub fn new(channel: &str, s: Settings) -> Result<Smtp, String> {
        let bad = |what: String| format!("channel `{channel}`: {what}");
        let from: Mailbox = s.from.parse().map_err(|e| {
            bad(format!(
                "`from = \"{}\"` is not an email address ({e}); write \"Shop <care@shop.example>\"",
                s.from
            ))
        })?;
        let tls = || {
            TlsParameters::new(s.host.clone())
                .map_err(|e| bad(format!("TLS for `{}`: {e}", s.host)))
        };
        let (tls, port) = match s.security.as_str() {
            "starttls" => (Tls::Required(tls()?), 587),
            "tls" => (Tls::Wrapper(tls()?), 465),
            "none" => (Tls::None, 25),
            other => {
                return Err(bad(format!(
                    "`security = \"{other}\"`: write \"starttls\" (port 587), \"tls\" (port 465) or \"none\" (a relay on this machine)"
                )))
            }
        };
        let mut builder = SmtpTransport::builder_dangerous(&s.host)
            .port(s.port.unwrap_or(port))
            .tls(tls)
            .timeout(Some(s.timeout));
        match (s.username, s.password) {
            (Some(u), Some(p)) => builder = builder.credentials(Credentials::new(u, p)),
            (None, None) => {}
            _ => return Err(bad("give both `username` and `password`, or neither".into())),
        }
        Ok(Smtp {
            transport: builder.build(),
            domain: from.email.domain().to_string(),
            from,
            subject: s.subject,
            to: s
                .to
                .filter(|t| !t.starts_with("customer.") && !t.starts_with("event.")),
        })
    }

    fn message(&self, key: &str, d: &Delivery) -> Result<Message, String> {
        let setting = d
            .extra
            .as_deref()
            .and_then(|x| x.settings.iter().find(|(k, _)| k.as_str() == "to"))
            .and_then(|(_, v)| match v {
                crate::value::Value::Str(s) => Some(s.to_string()),
                _ => None,
            });
        let Some(to) = setting.or_else(|| self.to.clone()) else {
            return Err("no recipient: the channel's `to` names no address".into());
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("`{to}` is not an email address: {e}"))?;
        let text = d.text.as_deref().unwrap_or("");
        let subject = self.subject.clone().unwrap_or_else(|| subject_of(text));
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{key}@{}>", self.domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_string())
            .map_err(|e| format!("the message cannot be built: {e}"))
    }
}

/// Without a `subject` setting: the text's first line, cut to 60 characters.
fn subject_of(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let line = line.trim();
    match line.char_indices().nth(60) {
        None => line.to_string(),
        Some((i, _)) => format!("{}…", &line[..i]),
    }
}

impl Channel for Smtp {
    fn deliver(&self, key: &str, d: &Delivery) -> Attempt {
        let message = match self.message(key, d) {
            Ok(m) => m,
            Err(e) => return Attempt::Dead(e),
        };
        match self.transport.send(&message) {
            Ok(reply) => Attempt::Sent(format!(
                "{} {}",
                reply.code(),
                reply.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) if e.is_permanent() => Attempt::Dead(e.to_string()),
            Err(e) => Attempt::Retry {
                reply: e.to_string(),
                after: None,
            },
        }
    }

    /// A mail server keeps no record of keys: after a crash mid-send, the
    /// message is `unknown` until a person settles it.
    fn dedupes(&self) -> bool {
        false
    }
}
