//! The docs' figures held against the code, so that they cannot drift apart.

mod common;

/// The reading path at the top of docs/architecture.md names items that exist, and its
/// line count is what docs/reading_path.py counts in the code today.
#[test]
fn the_reading_paths_line_count_matches_the_code() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = common::python3()
        .arg(format!("{root}/docs/reading_path.py"))
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last line: "<path> of <files>  lines on the path, of the whole files they are in".
    let last = stdout.lines().last().expect("a total");
    let numbers: Vec<u64> = last.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let [path, files] = numbers[..] else {
        panic!("no total in {last:?}")
    };
    let with_commas = |n: u64| {
        let s = n.to_string();
        match s.len() {
            4.. => format!("{},{}", &s[..s.len() - 3], &s[s.len() - 3..]),
            _ => s,
        }
    };
    let file_count = stdout.lines().count() - 1;
    let doc = std::fs::read_to_string(format!("{root}/docs/architecture.md")).unwrap();
    let said = format!(
        "add up to {} lines, comments included, in {file_count} files\nof {} lines.",
        with_commas(path),
        with_commas(files)
    );
    assert!(
        doc.contains(&said),
        "docs/architecture.md should say {said:?} (run python3 docs/reading_path.py)"
    );
    let example = std::fs::read_to_string(format!("{root}/examples/servidor_minimo.rs")).unwrap();
    let lines = example.lines().count();
    assert!(
        lines <= 600,
        "the one-file lesson has {lines} lines; it is meant to fit in 600"
    );
    let said = format!("the same path in {lines} lines");
    assert!(doc.contains(&said), "docs/architecture.md should say {said:?}");
}
