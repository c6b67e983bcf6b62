//! Every example shown in `--help` (the top level's and every command's) and in `README.md`
//! runs and exits with the code it documents.
//!
//! The examples are parsed out of the real help text and the README, so a new one is covered
//! without touching this file. An example documents a code other than 0 with a trailing
//! `# exit N` comment; `--fail-on-alert` must say which. Each runs with a scratch directory as
//! its working directory (`sample-logs/` linked into it, so relative outputs such as
//! `alerts.jsonl` land there), absolute paths moved under it (`/var/lib/credwatch` →
//! `SCRATCH/var/lib/credwatch`), webhook URLs sent to a local receiver and `--metrics` to a
//! free port. `tail` is fed the sample shop's log where it follows a `.jsonl` file, must
//! deliver an alert, and is then stopped with SIGTERM, as Ctrl-C would.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::receiver::Receiver;
use crate::util::{Scratch, root, run, stderr};

/// One example command line.
#[derive(Debug, Clone)]
struct Example {
    /// Where it was found (`scan --help`, `README.md:201`).
    origin: String,
    /// The line as written (continuations joined).
    text: String,
    /// credwatch's arguments.
    args: Vec<String>,
    /// `> FILE`: where the shell would put stdout.
    stdout_to: Option<String>,
    /// The exit code it documents (`# exit N`), 0 otherwise.
    exit: i32,
    /// Whether it documents its exit code explicitly.
    exit_documented: bool,
}

/// Splits a shell line into words (quotes removed), its `# comment`, a `> FILE` redirection,
/// and what comes before a `|` (the rest is another program's).
fn shell_words(line: &str) -> (Vec<String>, Option<String>, Option<String>) {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut comment = None;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some((_, n)) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (None, '#') if !in_word => {
                comment = Some(line[i + 1..].trim().to_string());
                break;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    let mut stdout_to = None;
    let mut out = Vec::new();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "|" => break,
            ">" | ">>" => stdout_to = it.next(),
            _ => out.push(w),
        }
    }
    (out, comment, stdout_to)
}

/// An example from one command line, if it runs credwatch (`credwatch ...` or
/// `cargo run ... -- ...`).
fn example(origin: String, line: &str) -> Option<Example> {
    let (words, comment, stdout_to) = shell_words(line);
    let args: Vec<String> = match words.first().map(String::as_str) {
        Some("credwatch") => words[1..].to_vec(),
        Some("cargo") if words.get(1).is_some_and(|w| w == "run") => {
            let dash = words.iter().position(|w| w == "--")?;
            words[dash + 1..].to_vec()
        }
        _ => return None,
    };
    let documented = comment.as_deref().and_then(|c| {
        let rest = &c[c.find("exit ")? + 5..];
        rest.split(|ch: char| !ch.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    Some(Example {
        origin,
        text: line.trim().to_string(),
        args,
        stdout_to,
        exit: documented.unwrap_or(0),
        exit_documented: documented.is_some(),
    })
}

/// Joins lines ending in `\` with the next ones.
fn join_continuations<'a>(lines: impl Iterator<Item = (usize, &'a str)>) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for (n, line) in lines {
        let (text, cont) = match line.trim_end().strip_suffix('\\') {
            Some(t) => (t.to_string(), true),
            None => (line.to_string(), false),
        };
        match out.last_mut() {
            Some((_, prev)) if open => {
                prev.push(' ');
                prev.push_str(text.trim());
            }
            _ => out.push((n, text)),
        }
        open = cont;
    }
    out
}

/// The examples in one help text: the indented lines under a heading that starts with
/// `Examples`.
fn examples_in_help(origin: &str, help: &str) -> Vec<Example> {
    let mut lines = Vec::new();
    let mut inside = false;
    for (n, line) in help.lines().enumerate() {
        if line.starts_with("Examples") {
            inside = true;
        } else if inside && !line.starts_with(' ') {
            inside = false;
        } else if inside {
            lines.push((n, line));
        }
    }
    join_continuations(lines.into_iter())
        .into_iter()
        .filter_map(|(_, l)| example(origin.to_string(), &l))
        .collect()
}

/// The commands the top-level help lists.
fn commands(top_help: &str) -> Vec<String> {
    top_help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

fn help_of(args: &[&str]) -> String {
    let out = run(args, None);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// Every help page's examples, and the commands whose page has none.
fn help_examples() -> (Vec<Example>, Vec<String>) {
    let top = help_of(&["--help"]);
    let mut all = examples_in_help("credwatch --help", &top);
    let mut without = Vec::new();
    for cmd in commands(&top) {
        let found = examples_in_help(&format!("{cmd} --help"), &help_of(&[&cmd, "--help"]));
        if found.is_empty() {
            without.push(cmd);
        }
        all.extend(found);
    }
    (all, without)
}

/// The command lines in README.md's fenced blocks: `$ ` lines of `console` blocks, every
/// line of the others.
fn readme_examples() -> Vec<Example> {
    let text = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut out = Vec::new();
    let mut block: Option<(String, Vec<(usize, &str)>)> = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(lang) = line.strip_prefix("```") {
            match block.take() {
                None => block = Some((lang.trim().to_string(), Vec::new())),
                Some((lang, lines)) => {
                    out.extend(examples_in_block(&lang, lines));
                }
            }
        } else if let Some((_, lines)) = &mut block {
            lines.push((n + 1, line));
        }
    }
    out
}

fn examples_in_block(lang: &str, lines: Vec<(usize, &str)>) -> Vec<Example> {
    let console = lang == "console";
    // In a console block a command continues on the lines after a `\`; the other lines are
    // output.
    let mut commands = Vec::new();
    let mut continuing = false;
    for (n, line) in lines {
        let cmd = if console && !continuing {
            line.strip_prefix("$ ")
        } else {
            Some(line)
        };
        if let Some(cmd) = cmd {
            continuing = cmd.trim_end().ends_with('\\');
            commands.push((n, cmd));
        }
    }
    join_continuations(commands.into_iter())
        .into_iter()
        .filter_map(|(n, l)| example(format!("README.md:{n}"), &l))
        .collect()
}

/// Runs one example as documented and returns a failure message, if any.
fn check(ex: &Example) -> Option<String> {
    let what = format!("{} `{}`", ex.origin, ex.text);
    if ex.args.iter().any(|a| a == "--fail-on-alert") && !ex.exit_documented {
        return Some(format!(
            "{what}: uses --fail-on-alert: document its exit code (`# exit 1`)"
        ));
    }
    let dir = Scratch::new("example");
    if let Err(e) =
        std::os::unix::fs::symlink(root().join("sample-logs"), dir.path().join("sample-logs"))
    {
        return Some(format!("{what}: linking sample-logs: {e}"));
    }
    let rx = Receiver::start([]);
    let place = |p: &str| -> String {
        if let Some(rel) = p.strip_prefix('/') {
            let moved = dir.path().join(rel);
            if let Some(parent) = moved.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            moved.display().to_string()
        } else {
            p.to_string()
        }
    };
    let mut args = Vec::new();
    let mut prev = "";
    for a in &ex.args {
        let mapped = if a.starts_with("http://") || a.starts_with("https://") {
            rx.url()
        } else if prev == "--metrics" {
            "127.0.0.1:0".to_string()
        } else {
            place(a)
        };
        args.push(mapped);
        prev = a;
    }
    let stdout_path = dir.path().join(
        ex.stdout_to
            .as_deref()
            .map_or("stdout.txt".to_string(), place),
    );
    let stderr_path = dir.path().join("stderr.txt");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_credwatch"))
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .expect("spawn credwatch")
    };
    let mut child = spawn();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let wait = |child: &mut std::process::Child, secs: u64| -> Option<i32> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let code = if ex.args.first().is_some_and(|c| c == "tail") {
        match drive_tail(&mut child, &args, &stdout_path, &stderr_path, &rx, ex) {
            Ok(()) => wait(&mut child, 30),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Some(format!("{what}: {e}\nstderr:\n{}", read(&stderr_path)));
            }
        }
    } else {
        wait(&mut child, 300)
    };
    (code != Some(ex.exit)).then(|| {
        format!(
            "{what}: exit {code:?}, documented {}\nstderr:\n{}",
            ex.exit,
            read(&stderr_path)
        )
    })
}

/// Waits until tail follows its inputs, feeds the sample shop's log to the `.jsonl` files it
/// follows in the scratch directory, waits for an alert (on the receiver when the example has
/// a webhook, else on stdout), then sends SIGTERM.
fn drive_tail(
    child: &mut std::process::Child,
    args: &[String],
    stdout_path: &Path,
    stderr_path: &Path,
    rx: &Receiver,
    ex: &Example,
) -> Result<(), String> {
    let until = |what: &str, done: &dyn Fn() -> bool| -> Result<(), String> {
        let end = Instant::now() + Duration::from_secs(60);
        while !done() {
            if Instant::now() > end {
                return Err(format!("timed out waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    };
    until("tail to follow its inputs", &|| {
        std::fs::read_to_string(stderr_path).is_ok_and(|e| e.contains("following"))
    })?;
    let app = std::fs::read(root().join("sample-logs/app/auth.jsonl")).expect("app log");
    for a in args {
        let p = PathBuf::from(a);
        if p.is_absolute() && a.ends_with(".jsonl") && p != stdout_path {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map_err(|e| format!("{a}: {e}"))?;
            f.write_all(&app).map_err(|e| format!("{a}: {e}"))?;
        }
    }
    if ex.args.iter().any(|a| a == "--webhook") {
        until("an alert at the webhook receiver", &|| {
            !rx.delivered_ids().is_empty()
        })?;
    } else {
        until("an alert on stdout", &|| {
            std::fs::read_to_string(stdout_path).is_ok_and(|o| o.contains("\"rule\""))
        })?;
    }
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    // SAFETY: kill(2) on our own child's pid; no memory is shared.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err("kill(SIGTERM) failed".to_string());
    }
    Ok(())
}

fn check_all(examples: &[Example]) {
    let failures: Vec<String> = std::thread::scope(|s| {
        // Two at a time: the machine has few cores and some examples scan every sample log.
        examples
            .chunks(2)
            .flat_map(|pair| {
                let handles: Vec<_> = pair.iter().map(|ex| s.spawn(|| check(ex))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Some("a check panicked".into())))
                    .collect::<Vec<_>>()
            })
            .flatten()
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_help_example_exits_as_documented() {
    let (examples, without) = help_examples();
    assert!(
        without.is_empty(),
        "commands whose --help shows no example: {without:?}"
    );
    for cmd in ["scan", "parse", "explain", "tail"] {
        assert!(
            examples
                .iter()
                .any(|e| e.args.first().is_some_and(|a| a == cmd)),
            "no example of {cmd} found in the help: {examples:#?}"
        );
    }
    assert!(
        examples.iter().any(|e| e.exit == 1),
        "an example documents exit 1"
    );
    check_all(&examples);
}

#[test]
fn every_readme_example_exits_as_documented() {
    let examples = readme_examples();
    for cmd in ["scan", "explain", "tail"] {
        assert!(
            examples
                .iter()
                .any(|e| e.args.first().is_some_and(|a| a == cmd)),
            "no example of {cmd} found in README.md: {examples:#?}"
        );
    }
    check_all(&examples);
}

#[test]
fn examples_are_parsed_as_a_shell_would() {
    let ex = example(
        "t".into(),
        "cargo run --release -q -- scan -q 'a b.log' sample-logs/ > out.jsonl | jq .  # exit 1: x",
    )
    .expect("an example");
    assert_eq!(ex.args, ["scan", "-q", "a b.log", "sample-logs/"]);
    assert_eq!(ex.stdout_to.as_deref(), Some("out.jsonl"));
    assert_eq!((ex.exit, ex.exit_documented), (1, true));
    assert!(example("t".into(), "cargo test").is_none());
    assert!(example("t".into(), "jq -r . alerts.jsonl").is_none());
    let help = "Usage: x\n\nExamples:\n  credwatch scan a \\\n      b    # the first\n  credwatch parse c\nNot an example\n  credwatch tail d\n";
    let found = examples_in_help("h", help);
    let args: Vec<_> = found.iter().map(|e| e.args.join(" ")).collect();
    assert_eq!(args, ["scan a b", "parse c"]);
    let block = vec![
        (1, "$ credwatch tail x \\"),
        (2, "      --poll y > o"),
        (3, "output line credwatch scan z"),
        (4, "$ cat a >> b"),
    ];
    let found = examples_in_block("console", block);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].args, ["tail", "x", "--poll", "y"]);
    assert_eq!(found[0].origin, "README.md:1");
}
