//! `tend lint` and `tend explain` as a user runs them: arguments in,
//! output and exit code out.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOML: &str = r#"timezone = "Asia/Shanghai"

[customer]
name = "string"
orders = "int"

[events."order.paid"]
order_id = "string"

[events."contact.blocked"]

[channels.wecom]
touchpoint = "wecom"
adapter = "console"
"#;

const CLEAN: &str = r#"template hello {
  text "{{ customer.name }}您好，订单 {{ event.order_id }} 已收到～"
}

playbook welcome {
  trigger event order.paid
  step greet {
    send wecom hello
  }
}
"#;

fn project(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tend-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn tend(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// `tend sim examples --from 2026-12-01T00:00:00+08:00 ARGS…` in the repository.
fn sim_example(args: &[&str]) -> Output {
    let mut all = vec!["sim", "examples", "--from", "2026-12-01T00:00:00+08:00"];
    all.extend_from_slice(args);
    tend(Path::new(env!("CARGO_MANIFEST_DIR")), &all)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn a_clean_project_exits_0() {
    let dir = project(
        "clean",
        &[("tend.toml", TOML), ("playbooks/welcome.playbook", CLEAN)],
    );
    let out = tend(&dir, &["lint"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("no findings"));
}

#[test]
fn an_error_exits_1_and_names_file_line_and_rule() {
    let bad = CLEAN.replace("send wecom hello", "send wecom helo");
    let dir = project(
        "error",
        &[("tend.toml", TOML), ("playbooks/welcome.playbook", &bad)],
    );
    let out = tend(&dir, &["lint"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("unknown-template"), "{text}");
    assert!(text.contains("playbooks/welcome.playbook:8:"), "{text}");
    assert!(text.contains("did you mean `hello`?"), "{text}");
}

#[test]
fn warnings_exit_0_unless_denied() {
    let warn = CLEAN.replace(
        "{{ customer.name }}您好，订单 {{ event.order_id }} 已收到～",
        "您好～",
    );
    let dir = project("warn", &[("tend.toml", TOML), ("w.playbook", &warn)]);
    assert_eq!(tend(&dir, &["lint"]).status.code(), Some(0));
    let denied = tend(&dir, &["lint", "--deny", "warnings"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(stdout(&denied).contains("unpersonalized"));
}

#[test]
fn usage_and_io_problems_exit_2() {
    let dir = project("usage", &[("tend.toml", TOML)]);
    assert_eq!(
        tend(&dir, &["lint", "missing.playbook"]).status.code(),
        Some(2)
    );
    assert_eq!(
        tend(&dir, &["lint", "--format", "xml"]).status.code(),
        Some(2)
    );
    let lonely = project("no-config", &[("a.playbook", CLEAN)]);
    let out = Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(["lint", lonely.join("a.playbook").to_str().unwrap()])
        .current_dir("/")
        .output()
        .unwrap();
    // The temp folder may sit under a folder with a tend.toml on some machines; usually it does not.
    if !Path::new("/tmp/tend.toml").exists() {
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no tend.toml"));
    }
}

#[test]
fn json_counts_columns_in_characters() {
    let bad = "template hello {\n  text \"{{ customer.name }}您好\"\n}\n\nplaybook p {\n  title \"包裹卡\"  titel \"x\"\n}\n";
    let dir = project("json", &[("tend.toml", TOML), ("p.playbook", bad)]);
    let out = tend(&dir, &["lint", "--format", "json", "p.playbook"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "syntax");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["file"], "p.playbook");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(6), Some(16))
    );
    assert_eq!(
        (f["end_line"].as_u64(), f["end_column"].as_u64()),
        (Some(6), Some(21))
    );
    assert!(f["message"].as_str().unwrap().contains("found `titel`"));
    assert!(f["help"].as_str().unwrap().len() > 10);
    assert_eq!(v["summary"]["errors"], 1);
    // Keys come in the documented order.
    let keys: Vec<&String> = f.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "rule",
            "severity",
            "file",
            "line",
            "column",
            "end_line",
            "end_column",
            "message",
            "help"
        ]
    );
}

#[test]
fn human_output_shows_character_columns_on_chinese_lines() {
    let bad = "playbook p {\n  title \"包裹卡\"  titel \"x\"\n}\n";
    let dir = project("human", &[("tend.toml", TOML), ("p.playbook", bad)]);
    let text = stdout(&tend(&dir, &["lint", "p.playbook"]));
    assert!(text.contains("[p.playbook:2:16]"), "{text}");
    assert!(text.contains("expected the end of the statement"), "{text}");
}

#[test]
fn github_format_prints_annotations() {
    let bad = CLEAN.replace("order.paid", "order.payed");
    let dir = project("github", &[("tend.toml", TOML), ("p.playbook", &bad)]);
    let text = stdout(&tend(&dir, &["lint", "--format", "github"]));
    let line = text.lines().next().unwrap();
    assert!(
        line.starts_with("::error file=p.playbook,line=6,col=17,"),
        "{line}"
    );
    assert!(
        line.contains("title=tend unknown-field::unknown event `order.payed`"),
        "{line}"
    );
}

#[test]
fn sarif_is_2_1_0_with_rules_and_results() {
    let bad = CLEAN.replace("send wecom hello", "send wecom hello\n    wait 0m");
    let dir = project("sarif", &[("tend.toml", TOML), ("p.playbook", &bad)]);
    let out = tend(&dir, &["lint", "--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    assert_eq!(
        run["tool"]["driver"]["rules"].as_array().unwrap().len(),
        tend::check::rules::ALL.len()
    );
    let r = &run["results"][0];
    assert_eq!(r["ruleId"], "zero-wait");
    assert_eq!(r["level"], "error");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"],
        9
    );
    // A rule's name is not its id (SARIF1001).
    assert_eq!(run["tool"]["driver"]["rules"][0]["name"], "Syntax");
    // Given an absolute path, the location is a file:// URI (SARIF1004).
    let abs = dir.join("p.playbook");
    let out = tend(&dir, &["lint", "--format", "sarif", abs.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let uri = v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        uri.starts_with("file:///") && uri.ends_with("/p.playbook"),
        "{uri}"
    );
}

#[test]
fn a_mistake_in_tend_toml_points_into_tend_toml() {
    let toml = TOML.replace("touchpoint = \"wecom\"", "touchpoint = \"wechat\"");
    let dir = project("toml", &[("tend.toml", &toml), ("p.playbook", CLEAN)]);
    let out = tend(&dir, &["lint", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let f = &v["findings"][0];
    assert_eq!(
        (f["rule"].as_str(), f["file"].as_str(), f["line"].as_u64()),
        (Some("invalid-config"), Some("tend.toml"), Some(13))
    );
}

#[test]
fn explain_lists_rules_and_prints_pages() {
    let dir = project("explain", &[]);
    let list = stdout(&tend(&dir, &["explain"]));
    for r in tend::check::rules::ALL.iter() {
        assert!(list.contains(r.name), "{} missing from the list", r.name);
    }
    let page = tend(&dir, &["explain", "promo-in-sharing-group"]);
    assert_eq!(page.status.code(), Some(0));
    let text = stdout(&page);
    for section in [
        "# promo-in-sharing-group",
        "## What it does",
        "## Why it matters",
        "## Example",
        "## How to fix",
    ] {
        assert!(text.contains(section), "missing {section}");
    }
    let wrong = tend(&dir, &["explain", "cap-exceed"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("did you mean `cap-exceeded`"));
}

#[test]
fn every_rule_page_has_the_four_sections() {
    for r in tend::check::rules::ALL.iter() {
        for section in [
            "## What it does",
            "## Why it matters",
            "## Example",
            "## How to fix",
        ] {
            assert!(
                r.docs.contains(section),
                "docs/rules/{}.md lacks {section}",
                r.name
            );
        }
        assert!(
            r.docs.starts_with(&format!("# {}", r.name)),
            "docs/rules/{}.md must start with its name",
            r.name
        );
    }
}

#[test]
fn sim_on_the_example_project_prints_json_in_the_documented_shape() {
    let out = sim_example(&["--days", "14", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let first = &v["sends"][0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "at",
            "local",
            "customer",
            "playbook",
            "step",
            "channel",
            "touchpoint",
            "template",
            "variant",
            "text",
            "deferred_from",
            "reason",
            "key",
            "enrollment",
            "version"
        ]
    );
    // The story: 王姐 (c002) pays at 21:50; the address check waits for 09:00.
    let deferred = v["sends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["customer"] == "c002" && s["template"] == "address_confirm")
        .unwrap();
    // Instants are UTC (a script sorts them as text); `local` is the customer's clock.
    assert_eq!(deferred["at"], "2026-12-02T01:00:00Z");
    assert_eq!(deferred["local"], "2026-12-02T09:00:00+08:00");
    assert_eq!(deferred["deferred_from"], "2026-12-01T13:50:00Z");
    assert_eq!(deferred["reason"], "quiet");
    // What adapters need rides on the delivery: a grant's worth and expiry, a task's assignee.
    let sends = v["sends"].as_array().unwrap();
    let grant = sends
        .iter()
        .find(|s| s["customer"] == "c002" && s["channel"] == "coupons")
        .unwrap();
    assert_eq!(
        (grant["template"].as_str(), grant["worth"].as_f64()),
        (Some("new10"), Some(10.0))
    );
    assert!(grant["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(sends
        .iter()
        .any(|s| s["channel"] == "tasks" && s["assignee"].is_string()));
    let pp = v["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "post_purchase")
        .unwrap();
    assert_eq!(pp["goal"], 1);
    assert!(v["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == "stopped" && r["customer"] == "c007"));
}

#[test]
fn sim_refuses_a_window_without_an_end() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tend(
        root,
        &["sim", "examples", "--from", "2026-12-01T00:00:00+08:00"],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = tend(root, &["sim", "examples", "--from", "12/01", "--days", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be a date (2026-12-01"));
}

/// `--from 2026-12-01` is midnight in tend.toml's zone, as is a local date
/// and time without an offset: the same run as the RFC 3339 form.
#[test]
fn sim_reads_a_local_date_in_the_projects_zone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |from: &str| {
        let out = tend(
            root,
            &[
                "sim", "examples", "--from", from, "--days", "3", "--format", "json",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{from}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    let offset = run("2026-12-01T00:00:00+08:00");
    assert_eq!(run("2026-12-01"), offset);
    assert_eq!(run("2026-12-01T00:00"), offset);
}

#[test]
fn sim_refuses_what_would_silently_report_nothing() {
    let sim = |extra: &[&str]| {
        let out = sim_example(extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = sim(&["--until", "2026-11-01T00:00:00+08:00"]);
    assert!(
        err.contains("is not after --from 2026-12-01T00:00:00+08:00"),
        "{err}"
    );
    assert!(sim(&["--days", "0"]).contains("--days must be 1 or more"));
    let err = sim(&["--days", "3", "--customer", "c01"]);
    assert!(err.contains("did you mean `c001`?"), "{err}");
    assert!(sim(&["--days", "3", "--runs", "0"]).contains("--runs must be 1 or more"));
    assert!(sim(&["--days", "100000000"]).contains("reaches past the last date"));
    let err = sim(&["--days", "3", "--runs", "3"]);
    assert!(err.contains("Give --assume FILE"), "{err}");
}

#[test]
fn sim_refuses_a_window_past_the_year_4999() {
    // Cron fires are searched no further than the year 5000: a later window
    // would silently fire nothing.
    let sim = |from: &str, extra: &[&str]| {
        let mut args = vec!["sim", "examples", "--from", from];
        args.extend_from_slice(extra);
        let out = tend(Path::new(env!("CARGO_MANIFEST_DIR")), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = sim("4999-12-30T00:00:00+00:00", &["--days", "3"]);
    assert!(err.contains("ends after the year 4999"), "{err}");
    let err = sim(
        "4999-12-30T00:00:00+00:00",
        &["--until", "5000-01-01T00:00:01+00:00"],
    );
    assert!(err.contains("ends after the year 4999"), "{err}");
    let err = sim("5000-06-01T00:00:00+08:00", &["--days", "1"]);
    assert!(err.contains("ends after the year 4999"), "{err}");
    let err = sim("0000-12-31T00:00:00+00:00", &["--days", "1"]);
    assert!(err.contains("starts before the year 1"), "{err}");
    // The last day before it still runs.
    let out = tend(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            "sim",
            "examples",
            "--from",
            "4999-12-31T00:00:00+00:00",
            "--days",
            "1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_pet_without_a_name_still_gets_the_win_back_care_message() {
    // c008 has `pet = { kind = "cat" }`: the care message falls back on
    // "家里的毛孩子" instead of failing to render.
    let out = sim_example(&["--days", "60", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let records = v["records"].as_array().unwrap();
    assert!(
        !records.iter().any(|r| r["kind"] == "render-error"),
        "{records:?}"
    );
    let care: Vec<_> = v["sends"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["customer"] == "c008" && s["playbook"] == "win_back")
        .map(|s| {
            (
                s["local"].as_str().unwrap(),
                s["text"].as_str().unwrap_or(""),
            )
        })
        .take(1)
        .collect();
    assert_eq!(
        care,
        [(
            "2027-01-02T10:30:00+08:00",
            "刘先生，好久没聊啦～\n家里的毛孩子最近还好吗？换季了记得多梳毛、多喝水，\n有什么养宠的问题随时问我，不买东西也欢迎来聊～"
        )]
    );
}

#[test]
fn sim_names_where_an_unknown_customer_first_appears() {
    let events = r#"[[event]]
name = "order.paid"
customer = "c001"
at = 2026-12-01T10:00:00+08:00
data = { order_id = "A1" }

[[event]]
name = "order.paid"
customer = "c999"
at = 2026-12-01T11:00:00+08:00
data = { order_id = "A2" }
"#;
    let dir = project(
        "stranger",
        &[
            ("tend.toml", TOML),
            ("welcome.playbook", CLEAN),
            (
                "customers.toml",
                "[[customer]]\nid = \"c001\"\nname = \"林\"\norders = 0\n",
            ),
            ("events.toml", events),
        ],
    );
    let out = tend(
        &dir,
        &["sim", "--from", "2026-12-01T00:00:00+08:00", "--days", "1"],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("events.toml:7: customer `c999` is not in the customers file"),
        "{text}"
    );
}

#[test]
fn sim_timeline_says_what_each_delivery_was_in_local_time() {
    let run = |id: &str| stdout(&sim_example(&["--days", "14", "--customer", id]));
    let c002 = run("c002");
    assert!(
        c002.contains("2026-12-02 09:00 wecom      post_purchase          address_confirm (deferred from 12-01 21:50, quiet): 王姐"),
        "{c002}"
    );
    assert!(
        c002.contains("2026-12-02 11:00 coupons    post_purchase          coupon new10 granted\n"),
        "{c002}"
    );
    let c003 = run("c003");
    assert!(
        c003.contains(
            "2026-12-04 09:12 tasks      win_back               task: 陈先生 回复了唤醒消息"
        ),
        "{c003}"
    );
    // JSON records carry the customer's local times too (Lisa lives in New York).
    let json = stdout(&sim_example(&["--days", "14", "--format", "json"]));
    assert!(
        json.contains(
            r#""detail": "quiet from 2026-11-30T22:00:00-05:00 to 2026-12-01T08:30:00-05:00""#
        ),
        "{json}"
    );
}

/// Every command, its output unwritable (a full disk): exit 1 with a message;
/// its output closed early (`| head`): quiet, exit 0.
#[test]
fn output_that_cannot_be_written_is_exit_1_and_a_closed_pipe_is_quiet() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let commands: [&[&str]; 7] = [
        &["lint", "examples"],
        &["lint", "examples", "--format", "json"],
        &["explain"],
        &["explain", "cap-exceeded"],
        &[
            "sim",
            "examples",
            "--from",
            "2026-12-01T00:00:00+08:00",
            "--days",
            "3",
        ],
        &["--help"],
        &["--version"],
    ];
    for args in commands {
        if Path::new("/dev/full").exists() {
            let out = Command::new(env!("CARGO_BIN_EXE_tend"))
                .args(args)
                .current_dir(root)
                .stdout(std::fs::File::create("/dev/full").unwrap())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(err.contains("writing the output failed"), "{args:?}: {err}");
        }
        // A reader that closes at once.
        let mut child = Command::new(env!("CARGO_BIN_EXE_tend"))
            .args(args)
            .current_dir(root)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.code() == Some(0),
            "{args:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A project file that is a device, a pipe or huge is an error naming it, at
/// once (a FIFO would block a reader forever); an endless data file ends in
/// a clear error, not an allocation failure.
#[test]
fn unbounded_files_are_clear_errors_not_hangs() {
    let dir = project(
        "unbounded",
        &[("tend.toml", TOML), ("playbooks/ok.playbook", CLEAN)],
    );
    let expect = |args: &[&str], says: &str| {
        let out = tend(&dir, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    std::os::unix::fs::symlink("/dev/zero", dir.join("playbooks/zero.playbook")).unwrap();
    expect(
        &["lint", "."],
        "zero.playbook` is not a regular file (a device)",
    );
    std::fs::remove_file(dir.join("playbooks/zero.playbook")).unwrap();
    let fifo = dir.join("playbooks/x.playbook");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    expect(&["lint", "."], "x.playbook` is not a regular file (a pipe)");
    std::fs::remove_file(&fifo).unwrap();
    std::fs::write(dir.join("playbooks/big.playbook"), "#".repeat(9 << 20)).unwrap();
    expect(&["lint", "."], "project files are read up to 8 MiB");
    std::fs::remove_file(dir.join("playbooks/big.playbook")).unwrap();
    std::fs::write(dir.join("playbooks/bad.playbook"), b"# ok\n# caf\xE9\n").unwrap();
    expect(
        &["lint", "."],
        "line 2 is not valid UTF-8 (byte offset 10: 0xE9); save the file as UTF-8",
    );
    std::fs::remove_file(dir.join("playbooks/bad.playbook")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("events.jsonl")).unwrap();
    let sim = [
        "sim",
        ".",
        "--from",
        "2026-12-01T00:00:00+08:00",
        "--days",
        "1",
    ];
    for data in ["/dev/zero", "events.jsonl"] {
        let mut args = sim.to_vec();
        args.extend(["--events", data]);
        expect(&args, "line 1 runs past 16 MiB without ending");
    }
}

/// A terminal escape in customer data is shown, not obeyed, in the table,
/// the timeline and error messages.
#[test]
fn control_characters_in_customer_data_are_escaped_in_human_output() {
    let customers = "[[customer]]\nid = \"c1\"\nname = \"\\u001b[2J小林\\r\"\norders = 1\n";
    let events = "[[event]]\nname = \"order.paid\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00+08:00\ndata = { order_id = \"A\\u001b]0;pwned\\u0007\" }\n";
    let dir = project(
        "escapes",
        &[
            ("tend.toml", TOML),
            ("playbooks/p.playbook", CLEAN),
            ("customers.toml", customers),
            ("events.toml", events),
        ],
    );
    let out = tend(
        &dir,
        &[
            "sim",
            ".",
            "--from",
            "2026-12-01T00:00:00+08:00",
            "--days",
            "1",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains('\x1b') && !stdout.contains('\r') && !stdout.contains('\x07'));
    assert!(
        stdout.contains("\\u{1b}[2J小林\\u{d}您好，订单 A\\u{1b}]0;pwned\\u{7} 已收到"),
        "{stdout}"
    );
    // The same value in a mistake's message.
    std::fs::write(
        dir.join("customers.toml"),
        "[[customer]]\nid = \"c1\"\nname = \"x\"\norders = 1\n\"\\u001b[31mcolor\" = 1\n",
    )
    .unwrap();
    let out = tend(
        &dir,
        &[
            "sim",
            ".",
            "--from",
            "2026-12-01T00:00:00+08:00",
            "--days",
            "1",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    assert!(
        stderr.contains("`\\u{1b}[31mcolor` is not in the schema"),
        "{stderr}"
    );
}

#[test]
fn invalid_utf8_in_a_playbook_names_the_line_and_byte_offset() {
    let dir = project("utf8", &[("tend.toml", TOML)]);
    let mut bytes = CLEAN.as_bytes().to_vec();
    // Line 2 is `  text "…"`; a Latin-1 byte in place of its first character.
    let at = CLEAN.find("text").unwrap();
    bytes[at] = 0xFF;
    std::fs::create_dir_all(dir.join("playbooks")).unwrap();
    std::fs::write(dir.join("playbooks/welcome.playbook"), bytes).unwrap();
    let out = tend(&dir, &["lint"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "welcome.playbook`: line 2 is not valid UTF-8 (byte offset {at}: 0xFF); save the file as UTF-8"
        )),
        "{err}"
    );
}

#[test]
fn a_zero_width_space_in_a_name_is_named() {
    let bad = CLEAN.replace("playbook welcome", "playbook wel\u{200B}come");
    let dir = project(
        "zwsp",
        &[("tend.toml", TOML), ("playbooks/welcome.playbook", &bad)],
    );
    let out = tend(&dir, &["lint"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(
            "the name `wel<U+200B>come` contains U+200B ZERO WIDTH SPACE, an invisible character"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_include_pattern_that_is_not_a_glob_is_a_finding_not_a_usage_error() {
    let toml = format!("include = [\"playbooks/[a-\"]\n{TOML}");
    let dir = project(
        "include",
        &[("tend.toml", &toml), ("playbooks/welcome.playbook", CLEAN)],
    );
    let out = tend(&dir, &["lint"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("`playbooks/[a-` is not a glob pattern"),
        "{}",
        stdout(&out)
    );
}

/// Given its tend.toml, `tend lint` lints the project it configures (not
/// tend.toml read as a playbook).
#[test]
fn linting_a_tend_toml_lints_its_project() {
    let dir = project(
        "toml-arg",
        &[
            ("shop/tend.toml", TOML),
            ("shop/playbooks/welcome.playbook", CLEAN),
        ],
    );
    let out = tend(&dir, &["lint", "shop/tend.toml"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("2 files checked, no findings"), "{text}");
    let broken = CLEAN.replace("send wecom hello", "send wecom helo");
    std::fs::write(dir.join("shop/playbooks/welcome.playbook"), broken).unwrap();
    let out = tend(&dir, &["lint", "shop/tend.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("unknown-template"));
}

/// China's common ways of naming its zone are answered with Asia/Shanghai,
/// not the nearest spelling (Asia/Beijing is nearest to Asia/Beirut).
#[test]
fn a_chinese_zone_written_the_usual_wrong_ways_suggests_asia_shanghai() {
    for zone in [
        "Asia/Beijing",
        "Beijing",
        "CST",
        "GMT+8",
        "UTC+8",
        "UTC+08:00",
    ] {
        let toml = TOML.replace("Asia/Shanghai", zone);
        let dir = project("beijing", &[("tend.toml", &toml), ("w.playbook", CLEAN)]);
        let out = tend(&dir, &["lint"]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{zone}: {text}");
        assert!(text.contains("\"Asia/Shanghai\" (UTC+8"), "{zone}: {text}");
        assert!(!text.contains("Beirut"), "{zone}: {text}");
    }
}

/// Messages name types with their article: "an int", "a string".
#[test]
fn a_type_in_a_message_takes_the_right_article() {
    let bad = CLEAN.replace(
        "    send wecom hello",
        "    if customer.orders {\n      send wecom hello\n    }",
    );
    let dir = project("article", &[("tend.toml", TOML), ("w.playbook", &bad)]);
    let text = stdout(&tend(&dir, &["lint"]));
    assert!(
        text.contains("this condition is an int, not true or false"),
        "{text}"
    );
}

/// The suggested reminder fits the coupon: a one-day coupon is reminded hours
/// before, not three days (which would be before it was granted).
#[test]
fn hook_after_expiry_suggests_a_lead_the_coupon_can_hold() {
    let pb = r#"playbook p {
  trigger event order.paid
  step s {
    grant coupon c1 worth 5 valid 1d
    hook remind at coupon.c1.expires_at {
      send wecom "{{ customer.name }}，券快到期啦"
    }
    send wecom hello
  }
}
"#;
    let dir = project(
        "hook-lead",
        &[
            ("tend.toml", TOML),
            ("w.playbook", &format!("{CLEAN}\n{pb}")),
        ],
    );
    let text = stdout(&tend(&dir, &["lint"]));
    assert!(text.contains("hook-after-expiry"), "{text}");
    assert!(text.contains("coupon.c1.expires_at - 3h`"), "{text}");
    assert!(!text.contains("- 3d at 10:00"), "{text}");
}

/// Help names the user's own steps and fields, not the examples'.
#[test]
fn help_names_the_projects_own_steps_and_fields() {
    let pb = r#"playbook p {
  trigger event order.paid
  step ask {
    send wecom "{{ name }}，收到货了吗？"
    wait for order.paid
    send wecom hello
  }
  step nudge { send wecom hello }
}
"#;
    let dir = project(
        "own-help",
        &[
            ("tend.toml", TOML),
            ("w.playbook", &format!("{CLEAN}\n{pb}")),
        ],
    );
    let text = stdout(&tend(&dir, &["lint"]));
    assert!(text.contains("else -> nudge"), "{text}");
    assert!(!text.contains("invite_personal"), "{text}");
    assert!(text.contains("did you mean `customer.name`?"), "{text}");
}

/// moments-flood names the pattern of dates, not a date that depends on
/// the day lint runs.
#[test]
fn moments_flood_names_the_dates_in_words() {
    let toml =
        format!("{TOML}\n[channels.moments]\ntouchpoint = \"moments\"\nadapter = \"console\"\n");
    let pb = "playbook weekend {\n  trigger every \"0 9,12,20 * * SAT\"\n  step post { send moments \"周末上新\" }\n}\n";
    let dir = project(
        "moments-words",
        &[
            ("tend.toml", &toml),
            ("w.playbook", &format!("{CLEAN}\n{pb}")),
        ],
    );
    let text = stdout(&tend(&dir, &["lint"]));
    assert!(
        text.contains("3 Moments posts on one date (every Saturday)"),
        "{text}"
    );
    assert!(!text.contains("2000"), "{text}");
}

/// README's excerpt of post_purchase is the real file's text: each of its
/// lines is a line of the file, in the same order (trailing comments, which
/// the README words for its readers, aside).
#[test]
fn the_readme_excerpt_is_the_real_playbook() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let after = &readme[readme.find("This is the core of").unwrap()..];
    let start = after.find("```\n").unwrap() + 4;
    let excerpt = &after[start..start + after[start..].find("```").unwrap()];
    let file = std::fs::read_to_string(root.join("playbooks/post_purchase.playbook")).unwrap();
    let code = |l: &str| l.split("  #").next().unwrap_or(l).trim_end().to_string();
    let mut lines = file.lines();
    for want in excerpt
        .lines()
        .filter(|l| !l.trim().is_empty() && l.trim() != "…")
    {
        assert!(
            lines.any(|l| code(l) == code(want)),
            "README's excerpt line is not in playbooks/post_purchase.playbook (in order): {want}"
        );
    }
}
