//! `console`: prints each delivery on standard output, one line each.

use super::{Attempt, Channel};
use crate::engine::Delivery;

pub struct Console;

impl Channel for Console {
    fn deliver(&self, key: &str, d: &Delivery) -> Attempt {
        let who = d.customer.as_deref().unwrap_or("(broadcast)");
        let text = d.text.as_deref().unwrap_or("").replace('\n', " ");
        println!(
            "{} {} {} {}: {}",
            d.at.to_rfc3339(),
            d.channel,
            who,
            d.template.as_deref().unwrap_or("-"),
            crate::printable::printable(&text)
        );
        Attempt::Sent(format!("printed {key}"))
    }

    fn dedupes(&self) -> bool {
        false
    }
}
