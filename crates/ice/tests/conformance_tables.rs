//! Keeps the RFC conformance tables of floe-ice, floe-turn and floe-stun honest: one checker
//! for `crates/{ice,turn,stun}/conformance/*.md`.
//!
//! Every `*.md` there holds one markdown table with the header
//! `| § | requirement | status | test |` and one row per normative statement of an RFC.
//! [`every_conformance_row_names_a_test_that_exists`] reads each row and fails, listing every bad
//! row with its file and line, when
//!
//! - the status is not `yes`, `no`, `deviation` or `n/a`, or the § is not a section number;
//! - a `yes` row names no test (a `TODO` is reported as such: the requirement still needs one);
//! - a named test, `tests/<file>.rs::<fn>` or `src/<file>.rs::<fn>` relative to the crate whose
//!   `conformance/` holds the table (several separated by commas), points at a file that does not
//!   exist, or at a file without a `fn <fn>(` that has `#[test]` among the attribute lines just
//!   above it (within the three previous non-empty lines); a test that is also `#[ignore]`d does
//!   not count;
//! - a `deviation` row's requirement does not end with `— deviation: <reason>`, names something
//!   that is not a test (`—` when no test shows the departure), or its § has no
//!   `## RFC NNNN §x.y — …` section for the same RFC in that crate's `DEVIATIONS.md`;
//! - a `no` row (the code does not do it yet) names anything but `—` in its test cell;
//! - an `n/a` row gives no reason (`n/a: …`).
//!
//! [`conformance_tables_cover_each_rfc`] checks that each crate's expected tables exist and are
//! not stubs (RFC 8445, 8838, 7675, 8863 and 6544 for floe-ice, RFC 8656 for floe-turn, RFC 8489 for
//! floe-stun), and that each of those crates has its `DEVIATIONS.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const HEADER: &str = "| § | requirement | status | test |";

/// One table row, with where it was found.
struct Row {
    file: String,
    line: usize,
    section: String,
    requirement: String,
    status: String,
    test: String,
}

/// The crates whose `conformance/` tables this file checks, as directory names under `crates/`.
const CRATES: [&str; 3] = ["ice", "turn", "stun"];

/// `crates/<name>` of the workspace (this file runs with `crates/ice` as its manifest dir).
fn crate_dir(name: &str) -> PathBuf {
    let ice = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    ice.parent()
        .map_or_else(|| ice.clone(), Path::to_path_buf)
        .join(name)
}

/// One table file: the crate it belongs to and its path.
struct TableFile {
    krate: &'static str,
    path: PathBuf,
}

/// The `*.md` files of every crate's `conformance/`, sorted within each crate.
fn table_files() -> Vec<TableFile> {
    let mut all = Vec::new();
    for krate in CRATES {
        let dir = crate_dir(krate).join("conformance");
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        files.sort();
        all.extend(files.into_iter().map(|path| TableFile { krate, path }));
    }
    all
}

/// `crates/<crate>/conformance/<file>`, as problems name it.
fn file_name(krate: &str, path: &Path) -> String {
    format!(
        "crates/{krate}/conformance/{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// The rows of the single table in `text`; anything malformed goes to `problems`.
fn parse_table(name: &str, text: &str, problems: &mut Vec<String>) -> Vec<Row> {
    let lines: Vec<&str> = text.lines().collect();
    let table_lines: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_start().starts_with('|'))
        .collect();
    let Some(&header) = table_lines.first() else {
        problems.push(format!("{name}: no table"));
        return Vec::new();
    };
    if lines[header].trim() != HEADER {
        problems.push(format!(
            "{name}:{}: the table header must be exactly `{HEADER}`",
            header + 1
        ));
        return Vec::new();
    }
    if let Some(pair) = table_lines.windows(2).find(|w| w[1] != w[0] + 1) {
        problems.push(format!(
            "{name}:{}: only one table per file (a second one starts here)",
            pair[1] + 1
        ));
    }
    let separator = header + 1;
    let is_separator = lines.get(separator).is_some_and(|l| {
        let l = l.trim();
        l.starts_with('|') && l.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
    });
    if !is_separator {
        problems.push(format!(
            "{name}:{}: the header must be followed by a `|---|` line",
            separator + 1
        ));
        return Vec::new();
    }
    let mut rows = Vec::new();
    for (i, raw) in lines.iter().enumerate().skip(separator + 1) {
        let line = raw.trim();
        if !line.starts_with('|') {
            break;
        }
        if !line.ends_with('|') || line.len() < 2 {
            problems.push(format!("{name}:{}: a row must end with `|`", i + 1));
            continue;
        }
        let cells: Vec<&str> = line[1..line.len() - 1].split('|').map(str::trim).collect();
        if cells.len() != 4 {
            problems.push(format!(
                "{name}:{}: {} cells instead of 4 (no `|` inside cells)",
                i + 1,
                cells.len()
            ));
            continue;
        }
        rows.push(Row {
            file: name.to_owned(),
            line: i + 1,
            section: cells[0].to_owned(),
            requirement: cells[1].to_owned(),
            status: cells[2].to_owned(),
            test: cells[3].to_owned(),
        });
    }
    rows
}

/// `tests/<file>.rs::<fn>` or `src/<file>.rs::<fn>` → (path, fn).
fn parse_test_ref(token: &str) -> Option<(String, String)> {
    let (path, name) = token.split_once("::")?;
    let path_ok = (path.starts_with("tests/") || path.starts_with("src/"))
        && path.ends_with(".rs")
        && !path.contains("..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '-'));
    let name_ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (path_ok && name_ok).then(|| (path.to_owned(), name.to_owned()))
}

/// Whether `fn name(` at byte `at` of `line` is the start of the item (not part of a longer
/// identifier).
fn starts_item(line: &str, at: usize) -> bool {
    line[..at]
        .chars()
        .next_back()
        .map_or(true, char::is_whitespace)
}

/// Checks that `path` (relative to `crates/<krate>`) has a `#[test] fn name(`, not ignored.
fn check_test_exists(krate: &str, path: &str, name: &str) -> Result<(), String> {
    let file = crate_dir(krate).join(path);
    if !file.is_file() {
        return Err(format!(
            "test file {path} does not exist in crates/{krate} (for `{name}`)"
        ));
    }
    let text = fs::read_to_string(&file).map_err(|e| format!("cannot read {path}: {e}"))?;
    let lines: Vec<&str> = text.lines().collect();
    let needle = format!("fn {name}(");
    let mut found_untagged = false;
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find(&needle) else {
            continue;
        };
        if !starts_item(line, at) {
            continue;
        }
        // The attribute (and comment) lines right above the fn, at most three non-empty ones.
        let mut test = false;
        let mut ignored = false;
        let mut seen = 0;
        for prev in lines[..i].iter().rev() {
            let prev = prev.trim();
            if prev.is_empty() {
                continue;
            }
            if seen == 3 || !(prev.starts_with("#[") || prev.starts_with("//")) {
                break;
            }
            seen += 1;
            if prev.starts_with("#[") {
                test |= prev.contains("#[test]");
                ignored |= prev.contains("ignore");
            }
        }
        match (test, ignored) {
            (true, false) => return Ok(()),
            (true, true) => return Err(format!("{path}::{name} is #[ignore]d")),
            (false, _) => found_untagged = true,
        }
    }
    if found_untagged {
        Err(format!("{path}: `fn {name}(` is not marked #[test]"))
    } else {
        Err(format!("{path} has no test `fn {name}(`"))
    }
}

/// The (RFC, §) pairs that have a `## RFC NNNN §x.y — …` section in `crates/<krate>/DEVIATIONS.md`.
fn deviation_sections(krate: &str) -> BTreeSet<(String, String)> {
    let path = crate_dir(krate).join("DEVIATIONS.md");
    let text = fs::read_to_string(&path).unwrap_or_default();
    let mut sections = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("## RFC ") else {
            continue;
        };
        let rfc: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if rfc.is_empty() {
            continue;
        }
        // Every §x.y on the heading line counts.
        for part in rest.split('§').skip(1) {
            let number: String = part
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let number = number.trim_end_matches('.');
            if !number.is_empty() {
                sections.insert((rfc.clone(), number.to_owned()));
            }
        }
    }
    sections
}

/// "rfc8445.md" → "8445".
fn rfc_of(file: &str) -> Option<String> {
    let stem = file.rsplit('/').next()?.strip_suffix(".md")?;
    let digits = stem.strip_prefix("rfc")?;
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then(|| digits.to_owned())
}

fn is_section_number(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

fn check_row(
    krate: &str,
    row: &Row,
    deviations: &BTreeSet<(String, String)>,
    problems: &mut Vec<String>,
) {
    let at = format!("{}:{}: § {}", row.file, row.line, row.section);
    let mut problem = |what: String| problems.push(format!("{at}: {what}"));
    if !is_section_number(&row.section) {
        problem("the § cell must be a section number like 7.2.2".into());
    }
    if row.requirement.is_empty() {
        problem("empty requirement".into());
    }
    let test_refs = |problem: &mut dyn FnMut(String)| -> Vec<(String, String)> {
        let mut refs = Vec::new();
        for token in row.test.split(',').map(str::trim) {
            match parse_test_ref(token) {
                Some(r) => refs.push(r),
                None if token == "TODO" => {
                    problem("TODO: `yes` without a test yet — write one and name it".into())
                }
                None => problem(format!(
                    "`{token}` is not a test (`tests/<file>.rs::<fn>` or `src/<file>.rs::<fn>`)"
                )),
            }
        }
        refs
    };
    let check_refs = |refs: Vec<(String, String)>, problem: &mut dyn FnMut(String)| {
        for (path, name) in refs {
            if let Err(e) = check_test_exists(krate, &path, &name) {
                problem(e);
            }
        }
    };
    match row.status.as_str() {
        "yes" => {
            let refs = test_refs(&mut problem);
            check_refs(refs, &mut problem);
        }
        "deviation" => {
            match row.requirement.rsplit_once("— deviation: ") {
                Some((_, reason)) if !reason.trim().is_empty() => {}
                _ => problem(
                    "a deviation's requirement must end with `— deviation: <reason>`".into(),
                ),
            }
            if row.test != "—" {
                let refs = test_refs(&mut problem);
                check_refs(refs, &mut problem);
            }
            match rfc_of(&row.file) {
                Some(rfc) if deviations.contains(&(rfc.clone(), row.section.clone())) => {}
                Some(rfc) => problem(format!(
                    "no `## RFC {rfc} §{} — …` section in crates/{krate}/DEVIATIONS.md",
                    row.section
                )),
                None => problem("the file name must be rfcNNNN.md".into()),
            }
        }
        "no" => {
            if row.test != "—" {
                problem("a `no` row names no test: its test cell must be `—`".into());
            }
        }
        "n/a" => {
            let reason = row.test.strip_prefix("n/a:").map(str::trim);
            if reason.map_or(true, str::is_empty) {
                problem("an n/a row gives its reason as `n/a: …` in the test cell".into());
            }
        }
        other => problem(format!(
            "status `{other}` is not one of yes, no, deviation, n/a"
        )),
    }
}

#[test]
fn every_conformance_row_names_a_test_that_exists() {
    let deviations: BTreeMap<&str, BTreeSet<(String, String)>> = CRATES
        .iter()
        .map(|&krate| (krate, deviation_sections(krate)))
        .collect();
    let mut problems = Vec::new();
    let mut rows = 0;
    for TableFile { krate, path } in table_files() {
        let name = file_name(krate, &path);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let sections = &deviations[krate];
        for row in parse_table(&name, &text, &mut problems) {
            rows += 1;
            check_row(krate, &row, sections, &mut problems);
        }
    }
    assert!(rows > 0, "no conformance rows found");
    assert!(
        problems.is_empty(),
        "{} problem(s) in {rows} conformance rows:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The tables each crate must have, with the fewest rows that is not a stub.
const EXPECTED: [(&str, &[(&str, usize)]); 3] = [
    (
        "ice",
        &[
            ("rfc8445.md", 50),
            ("rfc8838.md", 10),
            ("rfc7675.md", 10),
            ("rfc8863.md", 10),
            ("rfc6544.md", 15),
        ],
    ),
    ("turn", &[("rfc8656.md", 40)]),
    ("stun", &[("rfc8489.md", 40)]),
];

#[test]
fn conformance_tables_cover_each_rfc() {
    let mut problems = Vec::new();
    for (krate, tables) in EXPECTED {
        let dir = crate_dir(krate).join("conformance");
        for &(file, min_rows) in tables {
            let name = format!("crates/{krate}/conformance/{file}");
            let Ok(text) = fs::read_to_string(dir.join(file)) else {
                problems.push(format!("{name} is missing"));
                continue;
            };
            let mut ignored = Vec::new();
            let rows = parse_table(&name, &text, &mut ignored).len();
            if rows < min_rows {
                problems.push(format!("{name} has {rows} rows, fewer than {min_rows}"));
            }
        }
        if !crate_dir(krate).join("DEVIATIONS.md").is_file() {
            problems.push(format!("crates/{krate}/DEVIATIONS.md is missing"));
        }
    }
    // Every crate checked by `every_conformance_row_names_a_test_that_exists` has expectations.
    for krate in CRATES {
        if !EXPECTED.iter().any(|(k, _)| *k == krate) {
            problems.push(format!("crates/{krate}: no expected conformance tables"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
