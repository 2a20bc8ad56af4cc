//! Channel adapters: how a delivery leaves tend. The runner hands each
//! outbox row to the adapter its channel names in tend.toml; the engine
//! never sees them. One file per adapter.

mod console;
mod file;
mod smtp;
mod webhook;

pub use webhook::signature;

use crate::engine::Delivery;
use crate::program::Channel as ChannelConfig;
use std::time::Duration;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// Delivered; the far side's reply.
    Sent(String),
    /// Failed for now: try again, after `after` when the far side said so.
    Retry {
        reply: String,
        after: Option<Duration>,
    },
    /// Failed for good: the reply says why.
    Dead(String),
}

/// An adapter: delivers one row, idempotently where the far side allows.
pub trait Channel: Send + Sync {
    fn deliver(&self, key: &str, delivery: &Delivery) -> Attempt;

    /// Whether the far side drops a repeat of a key: then a delivery cut off
    /// mid-attempt by a crash is tried again; otherwise it is `unknown`.
    fn dedupes(&self) -> bool;

    /// Makes the attempts since the last call durable; called after each
    /// batch, before any of them counts as sent (an error retries them).
    fn flush(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The adapter of a channel, from its tend.toml table; settings written
/// `${VAR}` are read from the environment now.
pub fn open(ch: &ChannelConfig, root: &std::path::Path) -> Result<Box<dyn Channel>, String> {
    let setting = |name: &str| -> Result<Option<String>, String> {
        ch.settings
            .get(name)
            .map(|v| resolve(v, &ch.name, name))
            .transpose()
    };
    match ch.adapter.as_str() {
        "console" => Ok(Box::new(console::Console)),
        "file" => {
            let path = setting("path")?
                .ok_or_else(|| format!("channel `{}`: the file adapter needs `path`", ch.name))?;
            // Relative to the project, as every path in tend.toml.
            Ok(Box::new(file::File::open(root.join(path))?))
        }
        "webhook" => {
            let url = setting("url")?
                .ok_or_else(|| format!("channel `{}`: the webhook adapter needs `url`", ch.name))?;
            Ok(Box::new(webhook::Webhook::new(
                url,
                setting("secret")?,
                timeout(setting("timeout")?, &ch.name)?,
            )))
        }
        "smtp" => {
            let required = |name: &str| -> Result<String, String> {
                setting(name)?.ok_or_else(|| {
                    format!("channel `{}`: the smtp adapter needs `{name}`", ch.name)
                })
            };
            let port = match setting("port")? {
                None => None,
                Some(p) => Some(p.parse::<u16>().map_err(|_| {
                    format!("channel `{}`: `port` must be a number such as \"587\"", ch.name)
                })?),
            };
            let settings = smtp::Settings {
                host: required("host")?,
                port,
                security: setting("security")?.unwrap_or_else(|| "starttls".into()),
                username: setting("username")?,
                password: setting("password")?,
                from: required("from")?,
                subject: setting("subject")?,
                to: Some(required("to")?),
                timeout: timeout(setting("timeout")?, &ch.name)?,
            };
            Ok(Box::new(smtp::Smtp::new(&ch.name, settings)?))
        }
        other => Err(format!(
            "channel `{}`: adapter `{other}` is not built into this tend (console, file, webhook, smtp)",
            ch.name
        )),
    }
}

/// The values a channel's `${VAR}` settings read: never to appear in a
/// reply kept, a log line or an error.
pub fn secrets(ch: &ChannelConfig) -> Vec<String> {
    ch.settings
        .values()
        .filter_map(|v| v.strip_prefix("${").and_then(|v| v.strip_suffix('}')))
        .filter_map(|var| std::env::var(var).ok())
        // Too short to be told from ordinary text.
        .filter(|v| v.len() >= 4)
        .collect()
}

/// `text` with every secret replaced by `***`.
pub fn redact(text: String, secrets: &[String]) -> String {
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return text;
    }
    secrets
        .iter()
        .fold(text, |t, s| t.replace(s.as_str(), "***"))
}

/// `${VAR}` from the environment; anything else as written.
fn resolve(value: &str, channel: &str, name: &str) -> Result<String, String> {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(var) => std::env::var(var).map_err(|_| {
            format!("channel `{channel}`: setting `{name}` reads the environment variable `{var}`, which is not set")
        }),
        None => Ok(value.to_string()),
    }
}

/// An adapter's `timeout` setting; 10 s when not given.
fn timeout(setting: Option<String>, channel: &str) -> Result<Duration, String> {
    match setting {
        None => Ok(Duration::from_secs(10)),
        Some(t) => parse_seconds(&t).ok_or_else(|| {
            format!("channel `{channel}`: `timeout` must be a duration such as \"10s\"")
        }),
    }
}

fn parse_seconds(s: &str) -> Option<Duration> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    match unit {
        "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
}

/// A delivery as adapters send it: one JSON object, times in UTC.
pub fn wire(key: &str, d: &Delivery) -> serde_json::Value {
    let extra = d.extra.as_deref();
    let mut v = serde_json::json!({
        "key": key,
        "at": d.at.to_rfc3339(),
        "customer": d.customer.as_deref(),
        "playbook": &*d.playbook,
        "version": &*d.version,
        "enrollment": d.enrollment,
        "step": &*d.step,
        "channel": &*d.channel,
        "touchpoint": d.touchpoint.name(),
        "template": d.template.as_deref(),
        "variant": d.variant.as_deref(),
        "text": d.text.as_deref(),
    });
    if let Some(g) = extra.and_then(|x| x.grant.as_ref()) {
        v["worth"] = g.worth.into();
        v["expires_at"] = g.expires_at.to_rfc3339().into();
    }
    if let Some(a) = extra.and_then(|x| x.assignee.as_deref()) {
        v["assignee"] = a.into();
    }
    if let Some(x) = extra.filter(|x| !x.settings.is_empty()) {
        let settings: serde_json::Map<String, serde_json::Value> = x
            .settings
            .iter()
            .map(|(k, val)| (k.to_string(), serde_json::to_value(val).unwrap_or_default()))
            .collect();
        v["settings"] = settings.into();
    }
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_secret_in_a_reply_is_redacted() {
        let secrets = vec!["tok-123456".to_string()];
        assert_eq!(
            super::redact("GET /hook?k=tok-123456 refused".into(), &secrets),
            "GET /hook?k=*** refused"
        );
        assert_eq!(super::redact("fine".into(), &secrets), "fine");
    }
}
