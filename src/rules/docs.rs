//! The two places people read about every rule, generated from the rule folders: the README's
//! rule table (each folder's `doc.md`, one row) and the `[detect.*]` sections of
//! `credwatch.example.toml` (each folder's `example.toml`, every key at its default with why),
//! in registry order. A new rule writes its two files; the tests below fail until the README
//! and the example agree, and `CREDWATCH_WRITE_DOCS=1 cargo test --lib rules::docs` rewrites
//! both from the folders (a generated change, reviewed like any other).

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::alert::Rule;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn folder_file(rule: Rule, name: &str) -> String {
        let path = root().join("src/rules").join(rule.section()).join(name);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (every rule folder has one)", path.display()))
    }

    /// Replaces the lines `start..end` of `path` by `generated`, or fails with the difference,
    /// unless `CREDWATCH_WRITE_DOCS` is set.
    fn check_region(path: &Path, lines: &[&str], start: usize, end: usize, generated: &str) {
        let current = lines[start..end].join("\n") + "\n";
        if current == generated {
            return;
        }
        if std::env::var_os("CREDWATCH_WRITE_DOCS").is_some() {
            let mut text = lines[..start].join("\n") + "\n";
            text.push_str(generated);
            text.push_str(&lines[end..].join("\n"));
            std::fs::write(path, text).expect("rewrite the generated part");
            return;
        }
        let first = current
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{} is not what the rule folders generate (first difference at line {}):\n  file: {:?}\n  rule folders: {:?}\nCREDWATCH_WRITE_DOCS=1 cargo test --lib rules::docs rewrites it",
            path.display(),
            start + first + 1,
            current.lines().nth(first).unwrap_or(""),
            generated.lines().nth(first).unwrap_or(""),
        );
    }

    #[test]
    fn the_readme_rule_table_is_generated_from_the_rule_folders() {
        let path = root().join("README.md");
        let text = std::fs::read_to_string(&path).expect("README.md");
        let lines: Vec<&str> = text.split('\n').collect();
        let header = lines
            .iter()
            .position(|l| l.starts_with("| rule | entity |"))
            .expect("README.md has the rule table");
        let start = header + 2;
        let end = start
            + lines[start..]
                .iter()
                .take_while(|l| l.starts_with('|'))
                .count();
        let generated: String = Rule::ALL
            .iter()
            .map(|r| {
                let row = folder_file(*r, "doc.md");
                assert_eq!(row.trim_end().lines().count(), 1, "{r}: doc.md is one row");
                format!("{}\n", row.trim_end())
            })
            .collect();
        check_region(&path, &lines, start, end, &generated);
    }

    #[test]
    fn the_example_config_detect_sections_are_generated_from_the_rule_folders() {
        let path = root().join("credwatch.example.toml");
        let text = std::fs::read_to_string(&path).expect("credwatch.example.toml");
        let lines: Vec<&str> = text.split('\n').collect();
        let start = lines
            .iter()
            .position(|l| l.starts_with("[detect."))
            .expect("the example has [detect.*] sections");
        // The rules' sections run up to the next section that is not a rule's.
        let end = start
            + lines[start..]
                .iter()
                .position(|l| l.starts_with('[') && !l.starts_with("[detect."))
                .expect("a section follows [detect.*]");
        let generated: String = Rule::ALL
            .iter()
            .map(|r| {
                let section = folder_file(*r, "example.toml");
                assert!(
                    section.starts_with(&format!("[detect.{}]\n", r.section())),
                    "{r}: example.toml starts with its own section"
                );
                format!("{}\n", section.trim_end()) + "\n"
            })
            .collect();
        check_region(&path, &lines, start, end, &generated);
    }
}
