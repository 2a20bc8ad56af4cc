//! The registry of lint rules: name, default severity, one-line help, docs page.
//! Warning rules have one file each here holding their pass; most error rules
//! are raised while checking names and types (see `check/`), the rest of
//! them here (endless-loop in loops.rs, quiet-all-day).

use crate::diag::Severity;

pub mod cap_exceeded;
pub mod hook_after_expiry;
pub mod loops;
pub mod moments_flood;
pub mod no_stop_on_block;
pub mod promo_in_sharing_group;
pub mod quiet_all_day;
pub mod send_in_quiet_hours;
pub mod text_too_long;
pub mod unpersonalized;
pub mod unreachable_step;
pub mod unused;
pub mod wait_without_exit;

#[derive(Debug)]
pub struct Rule {
    pub name: &'static str,
    pub severity: Severity,
    /// One line: what the rule finds.
    pub summary: &'static str,
    /// Default help text for a finding: what to do.
    pub help: &'static str,
    /// The `tend explain` page (Markdown).
    pub docs: &'static str,
}

macro_rules! rule {
    ($id:ident, $name:literal, $sev:ident, $summary:literal, $help:literal) => {
        pub static $id: Rule = Rule {
            name: $name,
            severity: Severity::$sev,
            summary: $summary,
            help: $help,
            docs: include_str!(concat!("../../../docs/rules/", $name, ".md")),
        };
    };
}

rule!(
    SYNTAX,
    "syntax",
    Error,
    "text the grammar cannot read",
    "fix the text at the marked place; see docs/language.md"
);
rule!(
    UNKNOWN_STEP,
    "unknown-step",
    Error,
    "a jump to a step that does not exist",
    "jump to a step of this playbook"
);
rule!(
    UNKNOWN_SEGMENT,
    "unknown-segment",
    Error,
    "a segment name that is not declared",
    "declare the segment with `segment NAME = …` or fix the name"
);
rule!(
    UNKNOWN_TEMPLATE,
    "unknown-template",
    Error,
    "a template name that is not declared",
    "declare the template with `template NAME { … }` or fix the name"
);
rule!(
    UNKNOWN_CHANNEL,
    "unknown-channel",
    Error,
    "a channel not declared in tend.toml",
    "declare it under [channels.NAME] in tend.toml or fix the name"
);
rule!(
    UNKNOWN_FIELD,
    "unknown-field",
    Error,
    "a data path, event, function or template variable that does not exist here",
    "use a path declared in tend.toml's schema"
);
rule!(
    TYPE_MISMATCH,
    "type-mismatch",
    Error,
    "a value of the wrong type, or an action not allowed in this kind of playbook",
    "make both sides the same type"
);
rule!(
    DUPLICATE_NAME,
    "duplicate-name",
    Error,
    "two things with the same name in one namespace",
    "rename one of them"
);
rule!(
    INVALID_CRON,
    "invalid-cron",
    Error,
    "a cron expression that cannot be read or never fires",
    "write 5 fields (minute hour day month weekday), such as \"0 20 * * WED\""
);
rule!(
    INVALID_TIMEZONE,
    "invalid-timezone",
    Error,
    "a time zone that is missing or not an IANA name",
    "use an IANA name such as \"Asia/Shanghai\""
);
rule!(
    INVALID_CONFIG,
    "invalid-config",
    Error,
    "a tend.toml value that is wrong",
    "see the tend.toml section of docs/language.md"
);
rule!(
    BAD_SPLIT,
    "bad-split",
    Error,
    "split percents that do not sum to 100, a 0% arm, or a holdout outside (0, 100)",
    "make the arms sum to exactly 100%"
);
rule!(
    ZERO_WAIT,
    "zero-wait",
    Error,
    "a wait, window or validity of zero",
    "give a duration above zero, or remove the line"
);
rule!(
    ENDLESS_LOOP,
    "endless-loop",
    Error,
    "a cycle with neither a wait nor a send, which would spin forever",
    "put a `wait` in the loop or leave it with a condition"
);
rule!(
    QUIET_ALL_DAY,
    "quiet-all-day",
    Error,
    "quiet hours that together cover the whole day, so a send can never go out",
    "shorten one of the quiet ranges so that some hours of the day are open"
);
rule!(
    UNREACHABLE_STEP,
    "unreachable-step",
    Warning,
    "a step or action that no path reaches",
    "jump to it from somewhere, or remove it"
);
rule!(
    WAIT_WITHOUT_EXIT,
    "wait-without-exit",
    Warning,
    "a `wait for` without `within`, which can wait forever",
    "add `within D` (and `else -> STEP` for the customers who never do it)"
);
rule!(
    LOOP_WITHOUT_WAIT,
    "loop-without-wait",
    Warning,
    "a cycle that can send without waiting",
    "put a `wait` in the loop so it cannot flood the customer"
);
rule!(
    CAP_EXCEEDED,
    "cap-exceeded",
    Warning,
    "a path that sends more in a day, week or month than a cap allows",
    "space the sends out with `wait`, or send fewer messages"
);
rule!(
    SEND_IN_QUIET_HOURS,
    "send-in-quiet-hours",
    Warning,
    "a schedule or `at CLOCK` that puts a send inside quiet hours",
    "schedule the send outside quiet hours"
);
rule!(
    NO_STOP_ON_BLOCK,
    "no-stop-on-block",
    Warning,
    "1:1 messages, but no way to learn that a customer blocked or complained",
    "declare the opt-out events (contact.blocked, contact.complained) under [events] in tend.toml"
);
rule!(
    UNPERSONALIZED,
    "unpersonalized",
    Warning,
    "a 1:1 text that reads no customer data and has no variants",
    "use `{{ customer.name }}` or other data, or add a `variant`"
);
rule!(
    PROMO_IN_SHARING_GROUP,
    "promo-in-sharing-group",
    Warning,
    "a promo sent to a sharing group",
    "send content or care to sharing groups; promos go 1:1 or to a deals group"
);
rule!(
    GROUP_SEND_PER_CUSTOMER,
    "group-send-per-customer",
    Warning,
    "a per-customer playbook posting into a group",
    "post to groups from a broadcast playbook; send to customers 1:1"
);
rule!(
    MOMENTS_FLOOD,
    "moments-flood",
    Warning,
    "more than 2 Moments posts on one day",
    "post at most twice a day to Moments"
);
rule!(
    HOOK_AFTER_EXPIRY,
    "hook-after-expiry",
    Warning,
    "a coupon reminder that fires after the coupon expired",
    "anchor the hook before the expiry, such as `coupon.ID.expires_at - 3d at 10:00`"
);
rule!(
    TEXT_TOO_LONG,
    "text-too-long",
    Warning,
    "a text whose fixed wording alone is longer than a channel it is sent on takes",
    "shorten the text, or raise the channel's `max_length` in tend.toml"
);
rule!(
    UNUSED_SEGMENT,
    "unused-segment",
    Warning,
    "a segment that nothing uses",
    "use it in a trigger or condition, or remove it"
);
rule!(
    UNUSED_TEMPLATE,
    "unused-template",
    Warning,
    "a template that nothing sends",
    "send it, or remove it"
);
rule!(
    UNUSED_ALLOW,
    "unused-allow",
    Warning,
    "a `# tend: allow(…)` that silences nothing",
    "remove the allow comment, or fix the rule name"
);

pub static ALL: [&Rule; 30] = [
    &SYNTAX,
    &UNKNOWN_STEP,
    &UNKNOWN_SEGMENT,
    &UNKNOWN_TEMPLATE,
    &UNKNOWN_CHANNEL,
    &UNKNOWN_FIELD,
    &TYPE_MISMATCH,
    &DUPLICATE_NAME,
    &INVALID_CRON,
    &INVALID_TIMEZONE,
    &INVALID_CONFIG,
    &BAD_SPLIT,
    &ZERO_WAIT,
    &ENDLESS_LOOP,
    &QUIET_ALL_DAY,
    &UNREACHABLE_STEP,
    &WAIT_WITHOUT_EXIT,
    &LOOP_WITHOUT_WAIT,
    &CAP_EXCEEDED,
    &SEND_IN_QUIET_HOURS,
    &NO_STOP_ON_BLOCK,
    &UNPERSONALIZED,
    &PROMO_IN_SHARING_GROUP,
    &GROUP_SEND_PER_CUSTOMER,
    &MOMENTS_FLOOD,
    &HOOK_AFTER_EXPIRY,
    &TEXT_TOO_LONG,
    &UNUSED_SEGMENT,
    &UNUSED_TEMPLATE,
    &UNUSED_ALLOW,
];

pub fn find(name: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.name == name)
}
