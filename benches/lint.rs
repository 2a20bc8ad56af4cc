//! Lints a generated project of 1,000 playbooks (about 100k lines) and 600
//! Moments broadcasts (moments-flood weighs every schedule), and two
//! hostile inputs that once took quadratic time: 10,000 chained segments, and
//! one file with 100,000 findings printed for people. `cargo bench --bench
//! lint` prints the time per run (and lines per second for the project).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::fmt::Write;
use std::path::PathBuf;

const TOML: &str = r#"timezone = "Asia/Shanghai"

[limits]
per_day = 3
per_week = 10
quiet = "22:00..08:30"

[customer]
name = "string"
tags = "list<string>"
orders = "int"
last_active_at = "datetime"
personal_added = "bool"
stage = "string"
pet = { name = "string", kind = "string", birthday = "date?" }

[events."order.paid"]
order_id = "string"
seq = "int"
amount = "float"
address = "string"

[events."message.replied"]
text = "string"

[events."parcel.in_city"]
city = "string"

[events."order.refunded"]
order_id = "string"

[events."contact.blocked"]

[channels.wecom]
touchpoint = "wecom"
adapter = "console"

[channels.personal]
touchpoint = "personal"
adapter = "console"
requires = "customer.personal_added"

[channels.moments]
touchpoint = "moments"
adapter = "console"
"#;

/// A Moments broadcast on one date a year: at most two share a date, so the
/// project stays clean while moments-flood weighs every schedule.
fn moments(i: usize) -> String {
    let k = i % 336;
    format!(
        "playbook moments_{i} {{\n  trigger every \"0 {h} {d} {m} *\"\n  step post {{\n    send moments \"第 {i} 期：本周新品上架，欢迎来看看\"\n  }}\n}}\n",
        h = 10 + i / 336,
        d = k % 28 + 1,
        m = k / 28 + 1
    )
}

/// One playbook file of about 100 lines, with its own segment and templates.
fn playbook(i: usize) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"# Generated playbook {i}: post-purchase with a coupon reminder.
segment buyers_{i} = customer.orders >= {n} and "vip" in customer.tags
segment 沉默客户_{i} = days_since(customer.last_active_at) > 30 and customer.stage != "declining"

template confirm_{i} {{
  kind service
  text """
    {{{{ customer.name }}}}您好～订单 {{{{ event.order_id }}}} 已收到，
    收货地址是 {{{{ event.address }}}} 吗？回复"是"即可确认～
    """
  variant b """
    {{{{ customer.name }}}}，帮您核对一下地址：{{{{ event.address }}}}，没问题回个"是"就好～
    """
}}

template invite_{i} {{
  kind care
  text "{{{{ customer.name }}}}，加一下我的个人微信，售后更方便～"
}}

template reminder_{i} {{
  kind promo
  text """
    {{{{ customer.name }}}}，您的优惠券 {{{{ coupon.c{i}.worth }}}} 元
    将在 {{{{ coupon.c{i}.expires_at }}}} 过期～
    """
}}

template pickup_{i} {{
  text "{{{{ customer.name }}}}，包裹已到 {{{{ received.city }}}}，记得取件哦～"
}}

template group_{i} {{
  kind content
  text "{{{{ customer.name }}}}，邀请您加入我们的会员群～"
}}

playbook flow_{i} {{
  title    "包裹卡 → 首单 → 个微 → 社群 {i}"
  owner    "ops-{i}"
  timezone "Asia/Shanghai"
  quiet    21:30..09:00
  cap      3 per day
  cap      1 per week promo drop
  reenter  after 90d
  holdout  5%

  trigger event order.paid if event.seq == 1 and customer in buyers_{i}
  goal    event order.paid if event.seq >= 2 within 45d
  stop    event order.refunded

  step confirm {{
    send wecom confirm_{i}
    wait for message.replied within 2h else -> invite
    tag add "address_confirmed", "flow_{i}"
  }}

  step invite {{
    send wecom invite_{i}
    grant coupon c{i} worth 10 valid 30d
    hook remind at coupon.c{i}.expires_at - 3d at 10:00 {{
      send personal reminder_{i}
    }}
    wait for parcel.in_city since entry within 7d else -> group
    send personal pickup_{i}
  }}

  step group {{
    wait 1d
    if customer.personal_added and customer in 沉默客户_{i} {{
      send personal group_{i}
    }} else if customer.orders > 3 {{
      send wecom group_{i}
      set customer.stage = "growing"
    }} else {{
      wait 2d
    }}
    split {{
      50% -> check_in
      50% -> done
    }}
  }}

  step check_in {{
    wait until next wed 20:00
    task "回访 {{{{ customer.name }}}}：问问产品体验" to owner
    -> done
  }}

  step done {{
    wait 3d
    tag remove "flow_{i}"
    end
  }}
}}
"#,
        n = i % 5 + 1
    );
    s
}

fn generate() -> (PathBuf, usize) {
    let dir = std::env::temp_dir().join(format!("tend-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("playbooks")).unwrap();
    std::fs::write(dir.join("tend.toml"), TOML).unwrap();
    let mut lines = TOML.lines().count();
    for i in 0..1000 {
        let text = playbook(i);
        lines += text.lines().count();
        std::fs::write(dir.join(format!("playbooks/p{i:04}.playbook")), text).unwrap();
    }
    for i in 0..600 {
        let text = moments(i);
        lines += text.lines().count();
        std::fs::write(dir.join(format!("playbooks/m{i:04}.playbook")), text).unwrap();
    }
    (dir, lines)
}

fn bench(c: &mut Criterion) {
    let (dir, lines) = generate();
    let targets = tend::project::targets(std::slice::from_ref(&dir)).unwrap();
    let first = tend::project::lint(&targets[0]).unwrap();
    assert!(
        first.findings.is_empty(),
        "the generated project must lint clean: {:?}",
        first.findings.first().map(|f| &f.message)
    );
    let start = std::time::Instant::now();
    let runs = 5;
    for _ in 0..runs {
        tend::project::lint(&targets[0]).unwrap();
    }
    let per_run = start.elapsed().as_secs_f64() / runs as f64;
    eprintln!(
        "lint 1000 playbooks and 600 Moments broadcasts, {lines} lines: {:.1} ms per run, {:.0} lines/s",
        per_run * 1e3,
        lines as f64 / per_run
    );
    // The yardstick from the issue: `wc -l` over the same files.
    let files: Vec<PathBuf> = std::iter::once(dir.join("tend.toml"))
        .chain(targets[0].playbooks.iter().cloned())
        .collect();
    let wc_start = std::time::Instant::now();
    for _ in 0..runs {
        if std::process::Command::new("wc")
            .arg("-l")
            .args(&files)
            .output()
            .is_err()
        {
            break;
        }
    }
    let wc = wc_start.elapsed().as_secs_f64() / runs as f64;
    eprintln!(
        "wc -l on the same files: {:.1} ms per run; lint takes {:.1}x as long",
        wc * 1e3,
        per_run / wc
    );
    let mut g = c.benchmark_group("lint");
    g.throughput(Throughput::Elements(lines as u64));
    g.sample_size(10);
    g.bench_function("1000_playbooks", |b| {
        b.iter(|| tend::project::lint(&targets[0]).unwrap())
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Lints `playbook` alone with the bench's tend.toml and prints its findings
/// in `format`, as `tend lint` does.
fn lint_and_print(playbook: &str, format: tend::report::Format) -> (usize, usize) {
    use tend::source::{SourceFile, Sources};
    let mut sources = Sources::default();
    let config = sources.add(SourceFile::new("tend.toml", TOML));
    let file = sources.add(SourceFile::new("p.playbook", playbook));
    let linted = tend::project::lint_sources(sources, config, &[file]);
    let findings: Vec<_> = linted
        .findings
        .iter()
        .map(|f| (&linted.sources, f))
        .collect();
    let text = tend::report::render(format, &findings, 2, false);
    (findings.len(), text.len())
}

/// `n` segments, each testing the one before (lint reports where the chain
/// goes deeper than 64).
fn segment_chain(n: usize) -> String {
    let mut s = String::from("segment s0 = customer.orders > 1\n");
    for i in 1..n {
        let _ = writeln!(s, "segment s{i} = customer in s{}", i - 1);
    }
    let _ = writeln!(
        s,
        "template t {{ text \"{{{{ customer.name }}}}\" }}\nplaybook p {{\n  trigger enter s{}\n  step a {{ send wecom t }}\n}}",
        n - 1
    );
    s
}

fn hostile(c: &mut Criterion) {
    use tend::report::Format;
    let chain = segment_chain(10_000);
    // 100,000 allow comments that name no rule: one finding each.
    let findings = "# tend: allow(nothing)\n".repeat(100_000);
    for (name, text) in [
        ("10,000 chained segments", &chain),
        ("one file with 100,000 findings", &findings),
    ] {
        let start = std::time::Instant::now();
        let (n, bytes) = lint_and_print(text, Format::Human);
        eprintln!(
            "lint {name}, human output: {:.0} ms ({n} findings, {bytes} bytes of output)",
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    let mut g = c.benchmark_group("lint_hostile");
    g.sample_size(10);
    g.bench_function("10000_chained_segments", |b| {
        b.iter(|| lint_and_print(&chain, Format::Human))
    });
    g.bench_function("100000_findings_human", |b| {
        b.iter(|| lint_and_print(&findings, Format::Human))
    });
    g.finish();
}

criterion_group!(benches, bench, hostile);
criterion_main!(benches);
