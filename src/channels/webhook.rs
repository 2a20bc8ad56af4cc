//! `webhook`: `POST url` with the delivery as JSON and the headers
//! `Idempotency-Key`, `X-Tend-Timestamp` (Unix seconds) and
//! `X-Tend-Signature: sha256=HEX(HMAC-SHA256(secret, TIMESTAMP + "." + BODY))`.
//! Network errors, timeouts, 5xx and 429 are retried (after `Retry-After`
//! when given); any other 4xx is dead at once, its reply kept.

use super::{wire, Attempt, Channel};
use crate::engine::Delivery;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

pub struct Webhook {
    url: String,
    secret: Option<String>,
    agent: ureq::Agent,
}

impl Webhook {
    pub fn new(url: String, secret: Option<String>, timeout: Duration) -> Webhook {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Webhook { url, secret, agent }
    }
}

/// The signature header's value for this timestamp and body.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Cut short: a reply is kept with the delivery, not a whole page.
fn excerpt(s: &str) -> String {
    const MAX: usize = 500;
    match s.char_indices().nth(MAX) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

impl Channel for Webhook {
    fn deliver(&self, key: &str, d: &Delivery) -> Attempt {
        let body = wire(key, d).to_string();
        let now = chrono::Utc::now().timestamp();
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", key)
            .header("X-Tend-Timestamp", now.to_string());
        if let Some(secret) = &self.secret {
            req = req.header("X-Tend-Signature", signature(secret, now, &body));
        }
        match req.send(body.as_str()) {
            Err(e) => Attempt::Retry {
                reply: format!("no reply: {e}"),
                after: None,
            },
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = resp.body_mut().read_to_string().unwrap_or_default();
                let reply = excerpt(&format!("{status} {text}"));
                match status {
                    200..=299 => Attempt::Sent(reply),
                    429 | 500..=599 => Attempt::Retry { reply, after },
                    _ => Attempt::Dead(reply),
                }
            }
        }
    }

    fn dedupes(&self) -> bool {
        true
    }
}
