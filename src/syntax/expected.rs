//! Turns pest's "expected one of these rules" into words a person understands.

use super::ast::Span;
use super::{Rule, SyntaxError};
use pest::error::{ErrorVariant, InputLocation};

/// What a grammar rule is called in an error message. Exhaustive on purpose:
/// a new grammar rule cannot ship without a friendly name.
fn friendly(rule: Rule) -> &'static str {
    match rule {
        Rule::WHITESPACE | Rule::COMMENT | Rule::nl => "a line break",
        Rule::eos => "the end of the statement (a new line or `;`)",
        Rule::EOI => "the end of the file",
        Rule::file | Rule::item => "`segment`, `template` or `playbook`",
        Rule::k_segment => "`segment`",
        Rule::k_template => "`template`",
        Rule::k_playbook => "`playbook`",
        Rule::k_kind => "`kind`",
        Rule::k_text => "`text`",
        Rule::k_variant => "`variant`",
        Rule::k_title => "`title`",
        Rule::k_owner => "`owner`",
        Rule::k_timezone => "`timezone`",
        Rule::k_quiet => "`quiet`",
        Rule::k_cap => "`cap`",
        Rule::k_per => "`per`",
        Rule::k_reenter => "`reenter`",
        Rule::k_after => "`after`",
        Rule::k_holdout => "`holdout`",
        Rule::k_trigger => "`trigger`",
        Rule::k_goal => "`goal`",
        Rule::k_stop => "`stop`",
        Rule::k_event => "`event`",
        Rule::k_enter => "`enter`",
        Rule::k_every => "`every`",
        Rule::k_yearly => "`yearly`",
        Rule::k_for => "`for`",
        Rule::k_if => "`if`",
        Rule::k_else => "`else`",
        Rule::k_within => "`within`",
        Rule::k_since => "`since`",
        Rule::k_entry => "`entry`",
        Rule::k_step => "`step`",
        Rule::k_send => "`send`",
        Rule::k_with => "`with`",
        Rule::k_wait => "`wait`",
        Rule::k_until => "`until`",
        Rule::k_split => "`split`",
        Rule::k_tag => "`tag`",
        Rule::k_add => "`add`",
        Rule::k_remove => "`remove`",
        Rule::k_set => "`set`",
        Rule::k_grant => "`grant`",
        Rule::k_coupon => "`coupon`",
        Rule::k_worth => "`worth`",
        Rule::k_valid => "`valid`",
        Rule::k_hook => "`hook`",
        Rule::k_at => "`at`",
        Rule::k_task => "`task`",
        Rule::k_to => "`to`",
        Rule::k_end => "`end`",
        Rule::k_next => "`next`",
        Rule::k_now => "`now`",
        Rule::k_customer => "`customer`",
        Rule::k_and | Rule::k_or => OPERATOR,
        Rule::k_not => "`not`",
        Rule::k_in => OPERATOR,
        Rule::k_true | Rule::k_false => "`true` or `false`",
        Rule::ident => "a name",
        Rule::path => "a data path such as `customer.name`",
        Rule::event_name => "an event name such as `order.paid`",
        Rule::string | Rule::triple_string | Rule::plain_string => "a string in double quotes",
        Rule::datetime => "a date such as `2026-02-17`",
        Rule::clock => "a clock time such as `09:00`",
        Rule::quiet_value => "quiet hours such as `22:00..08:30`",
        Rule::duration => "a duration such as `2h`",
        Rule::percent => "a percent such as `50%`",
        Rule::number => "a number",
        Rule::sign => "`+` or `-`",
        Rule::arrow => "`->`",
        Rule::weekday => "a weekday such as `wed`",
        Rule::segment_def => "a segment definition",
        Rule::template_def => "a template",
        Rule::template_item | Rule::kind_setting | Rule::text_setting | Rule::variant_def => {
            "`kind`, `text` or `variant`"
        }
        Rule::playbook_def => "a playbook",
        Rule::playbook_item
        | Rule::title_s
        | Rule::owner_s
        | Rule::timezone_s
        | Rule::quiet_s
        | Rule::cap_s
        | Rule::reenter_s
        | Rule::holdout_s => "a setting (`title`, `owner`, `timezone`, `quiet`, `cap`, `reenter`, `holdout`)",
        Rule::reenter_after => "`never`, `always` or `after` and a duration",
        Rule::trigger => "`trigger`",
        Rule::trig_event | Rule::trig_enter | Rule::trig_every | Rule::trig_yearly => {
            "a trigger: `event`, `enter`, `every` or `yearly`"
        }
        Rule::offset => "an offset such as `- 3d`",
        Rule::at_clock => "`at` and a clock time",
        Rule::goal => "`goal`",
        Rule::stop => "`stop`",
        Rule::if_clause => "`if` and a condition",
        Rule::within_clause => "`within` and a duration",
        Rule::else_jump => "`else -> STEP`",
        Rule::since_entry => "`since entry`",
        Rule::step_def => "`step`",
        Rule::block => "a block in braces `{ … }`",
        Rule::action
        | Rule::send
        | Rule::wait_for
        | Rule::wait_until
        | Rule::wait_dur
        | Rule::if_stmt
        | Rule::split
        | Rule::tag
        | Rule::set
        | Rule::grant
        | Rule::hook
        | Rule::task
        | Rule::jump
        | Rule::end_stmt => "an action (`send`, `wait`, `if`, `split`, `tag`, `set`, `grant`, `hook`, `task`, `->`, `end`)",
        Rule::with_clause => "`with { … }`",
        Rule::with_item => "a template variable `name = value`",
        Rule::split_arm => "a split arm such as `50% -> step_a`",
        Rule::time_expr | Rule::next_time | Rule::point_time | Rule::time_base => {
            "a time such as `now + 1d at 10:00` or `next wed 20:00`"
        }
        Rule::standalone_expr | Rule::expr | Rule::prefix | Rule::primary | Rule::paren | Rule::list | Rule::call => {
            "a value (a name, number, string, list or `( … )`)"
        }
        Rule::op_not | Rule::op_neg => "a value",
        Rule::infix
        | Rule::op_or
        | Rule::op_and
        | Rule::op_not_in
        | Rule::op_in
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div => OPERATOR,
    }
}

const OPERATOR: &str = "an operator such as `==`, `>`, `and` or `in`";

/// Rules that tell the person little: left out when something more specific is expected too.
fn is_vague(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::WHITESPACE | Rule::COMMENT | Rule::nl | Rule::EOI
    )
}

pub(super) fn describe(text: &str, err: pest::error::Error<Rule>) -> SyntaxError {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let span = token_span(text, pos);
    let found = found_text(text, pos);
    let (positives, negatives) = match &err.variant {
        ErrorVariant::ParsingError {
            positives,
            negatives,
        } => (positives.clone(), negatives.clone()),
        ErrorVariant::CustomError { message } => {
            return SyntaxError::new(
                span,
                message.clone(),
                "check the syntax in the language reference (docs/language.md)",
            )
        }
    };
    if text[pos..].starts_with('"') && !closes_string(&text[pos..]) {
        return SyntaxError::new(
            span,
            "this string is never closed",
            "end it with `\"` on the same line, or use `\"\"\"…\"\"\"` for text over several lines",
        );
    }
    if let Some((at, message, help)) = common_mistake(text, pos) {
        return SyntaxError::new(token_span(text, at), message, help);
    }
    // Where an operator may follow, `not` is the start of `not in`.
    let operator_position = positives.iter().any(|r| friendly(*r) == OPERATOR);
    let specific: Vec<Rule> = positives
        .iter()
        .copied()
        .filter(|r| !is_vague(*r) && (!operator_position || *r != Rule::k_not))
        .collect();
    let chosen = if specific.is_empty() {
        positives
    } else {
        specific
    };
    let mut names: Vec<&str> = Vec::new();
    for r in chosen {
        let n = friendly(r);
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let after = previous_word(text, pos)
        .map(|w| format!(" after `{w}`"))
        .unwrap_or_default();
    let message = if names.is_empty() {
        let not: Vec<&str> = negatives.iter().map(|r| friendly(*r)).collect();
        format!(
            "unexpected {found}{after}; {} is not allowed here",
            not.join(" or ")
        )
    } else {
        format!("expected {}{after}, found {found}", join_or(&names))
    };
    let help = if found == "`=`" && names.contains(&OPERATOR) {
        "compare with `==`; a single `=` only assigns, in `set` and `with`".to_string()
    } else {
        help_for(&names, statement_at(text, pos))
    };
    SyntaxError::new(span, message, help)
}

/// Mistakes people make often enough to name: a character from a Chinese
/// input method where ASCII is meant, operators from other languages, a
/// wait written as in speech, a quote that ended a string early.
fn common_mistake(text: &str, pos: usize) -> Option<(usize, String, String)> {
    let rest = &text[pos..];
    let c = rest.chars().next()?;
    // A full-width character on the rest of the line (outside text) is the
    // likely cause even when the parser stopped before it.
    if let Some((at, c, twin)) = full_width_ahead(text, pos) {
        let shown = if c == '\u{3000}' {
            "a full-width space (U+3000, `　`)".to_string()
        } else {
            format!("`{c}` (U+{:04X})", c as u32)
        };
        let what = if c == '\u{3000}' {
            "an ASCII space".to_string()
        } else {
            format!("`{twin}`")
        };
        return Some((
            at,
            format!("{shown} is a full-width character from a Chinese input method; tend reads {what} here"),
            format!("switch the input method to English (半角) for code, and write {what}; Chinese punctuation belongs inside \"…\" text"),
        ));
    }
    for (op, word) in [("&&", "and"), ("||", "or")] {
        if rest.starts_with(op) {
            return Some((
                pos,
                format!("`{op}` is not an operator in tend"),
                format!("write `{word}`: `customer.orders > 1 {word} customer.personal_added`"),
            ));
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if word == "contains" {
        return Some((
            pos,
            "`contains` is not an operator in tend".into(),
            "test membership with `in`: `\"vip\" in customer.tags`".into(),
        ));
    }
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let before = text[line_start..pos].trim();
    if word == "at" && before.starts_with("wait ") && !before.contains("until") {
        let dur = before.trim_start_matches("wait ").trim();
        return Some((
            pos,
            "`wait` takes a duration or `until` a point in time, not both".into(),
            format!(
                "to wait {dur} and then until a time of day, write `wait until now + {dur} at …`"
            ),
        ));
    }
    // `"…"xx"…"`: an ASCII quote inside Chinese text ended the string.
    if text[..pos].trim_end().ends_with('"') && c as u32 > 0x2E80 {
        return Some((
            pos,
            "text continues after the string ended: an ASCII `\"` inside it closed it early".into(),
            "inside text write `\\\"` for a quote, or use the Chinese quotes “ ”".into(),
        ));
    }
    None
}

/// The first full-width character from `pos` to the end of its line, outside
/// strings and comments: (offset, character, its ASCII twin).
fn full_width_ahead(text: &str, pos: usize) -> Option<(usize, char, String)> {
    let mut in_string = false;
    for (i, c) in text[pos..].char_indices() {
        match c {
            '\n' => return None,
            '"' => in_string = !in_string,
            '#' if !in_string => return None,
            _ if !in_string => {
                if let Some(twin) = ascii_twin(c) {
                    return Some((pos + i, c, twin));
                }
            }
            _ => {}
        }
    }
    None
}

/// The ASCII character a full-width or Chinese punctuation mark stands in for.
fn ascii_twin(c: char) -> Option<String> {
    let code = c as u32;
    if (0xFF01..=0xFF5E).contains(&code) {
        // Full-width forms of ASCII: the same character 0xFEE0 lower.
        return char::from_u32(code - 0xFEE0).map(|a| a.to_string());
    }
    Some(
        match c {
            '\u{3000}' => " ",
            '→' => "->",
            '“' | '”' => "\"",
            '‘' | '’' => "'",
            '、' => ",",
            '。' => ".",
            '【' => "[",
            '】' => "]",
            '…' => "...",
            _ => return None,
        }
        .to_string(),
    )
}

fn help_for(names: &[&str], statement: Option<&str>) -> String {
    if names.iter().any(|n| n.contains("duration")) {
        return "durations are whole numbers with units in the order w d h m s, such as `30m`, `2h` or `1d12h`".into();
    }
    if names.iter().any(|n| n.contains("clock time")) {
        return "clock times are `HH:MM` from 00:00 to 23:59".into();
    }
    // The shape of the statement the mistake is in says more than the
    // tokens the grammar would have taken.
    match (statement.and_then(shape), statement) {
        (Some(shape), Some(word)) => {
            return format!("`{word}` is written {shape}, one statement per line (or separated by `;`)")
        }
        (None, _) if names.iter().any(|n| n.contains("`send`")) => {
            return "a step holds statements, one per line: `send`, `wait`, `if`, `split`, `tag`, `set`, `grant`, `hook`, `task`, `-> STEP` (go to a step) or `end`".into()
        }
        _ => {}
    }
    if names.iter().any(|n| n.contains("end of the statement")) {
        "put each statement on its own line (or separate them with `;`)".into()
    } else {
        "see the language reference (docs/language.md) for the shape of this statement".into()
    }
}

/// The first word of the line `pos` is on: the statement or setting it is part of.
fn statement_at(text: &str, pos: usize) -> Option<&str> {
    let start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].trim_start();
    let word = line
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .filter(|w| !w.is_empty())?;
    // Only when the mistake is past the word itself.
    (start + (text[start..].len() - line.len()) + word.len() <= pos).then_some(word)
}

/// How a statement or setting is written (docs/language.md §4–§6).
fn shape(word: &str) -> Option<&'static str> {
    Some(match word {
        "send" => "`send CHANNEL TEMPLATE` or `send CHANNEL \"text\"`, optionally followed by `with { name = EXPR, … }`",
        "wait" => "`wait 2d`, `wait until TIME [at HH:MM]` or `wait for EVENT [if EXPR] [since entry] [within DURATION [else -> STEP]]`",
        "if" => "`if EXPR { … } [else if EXPR { … }] [else { … }]`, comparing with `==`, `!=`, `<`, `>`, `in` and joining with `and`, `or`, `not`",
        "split" => "`split { 50% -> A, 50% -> B }`",
        "tag" => "`tag add \"x\", \"y\"` or `tag remove \"x\"`",
        "set" => "`set customer.PATH = EXPR`",
        "grant" => "`grant coupon ID worth N valid DURATION`",
        "hook" => "`hook NAME at TIME { … }`",
        "task" => "`task \"TEXT\" [to owner]`",
        "trigger" => "`trigger event NAME [if EXPR]`, `trigger enter SEGMENT`, `trigger every \"CRON\" [for SEGMENT]` or `trigger yearly PATH [± Nd] [at HH:MM]`",
        "goal" => "`goal event NAME [if EXPR] [within DURATION]`",
        "stop" => "`stop event NAME [if EXPR]`",
        "cap" => "`cap N per day|week|month [KIND] [drop|defer]`",
        "reenter" => "`reenter never`, `reenter always` or `reenter after DURATION`",
        "holdout" => "`holdout P%`",
        "timezone" => "`timezone \"Asia/Shanghai\"` or `timezone customer`",
        "title" | "owner" => "with a quoted string: `title \"…\"`, `owner \"…\"`",
        _ => return None,
    })
}

fn join_or(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn closes_string(rest: &str) -> bool {
    if let Some(body) = rest.strip_prefix("\"\"\"") {
        return body.contains("\"\"\"");
    }
    let mut chars = rest[1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return true,
            '\n' => return false,
            _ => {}
        }
    }
    false
}

/// The token at `pos`, widened to whole characters, for the underline.
fn token_span(text: &str, pos: usize) -> Span {
    let pos = pos.min(text.len());
    let rest = &text[pos..];
    let len = match rest.chars().next() {
        None => 0,
        Some(c) if c.is_alphanumeric() || c == '_' => rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '-' || c == '.'))
            .unwrap_or(rest.len()),
        Some(c) => c.len_utf8(),
    };
    Span::new(pos, pos + len)
}

fn found_text(text: &str, pos: usize) -> String {
    let rest = &text[pos.min(text.len())..];
    match rest.chars().next() {
        None => "the end of the file".into(),
        Some('\n') | Some('\r') => "the end of the line".into(),
        Some(_) => {
            let span = token_span(text, pos);
            let tok: String = text[span.start..span.end].chars().take(30).collect();
            format!("`{tok}`")
        }
    }
}

/// The word just before `pos` on the same line, if it is a keyword or operator worth naming.
fn previous_word(text: &str, pos: usize) -> Option<String> {
    let before = text[..pos.min(text.len())].trim_end_matches([' ', '\t']);
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = &before[line_start..];
    if line.trim_start().starts_with('#') {
        return None;
    }
    let word: String = line
        .chars()
        .rev()
        .take_while(|c| !c.is_whitespace())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if word.is_empty() || word.chars().count() > 24 {
        None
    } else {
        Some(word)
    }
}
