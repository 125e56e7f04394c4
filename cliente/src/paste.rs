//! Paths as people paste them into the menu.
//!
//! A path reaches the menu's prompt in the shapes shells and file managers produce:
//! wrapped in single or double quotes (Windows' "Copy as path", drag and drop in many
//! terminals), with backslash-escaped spaces and symbols (drag and drop in macOS'
//! Terminal, shell completion), or starting with `~` for the home folder. The menu reads
//! no shell, so this undoes those shapes. A path that exists exactly as typed is always
//! taken as typed first: on Windows a backslash is a separator, not an escape.

use std::path::{Path, PathBuf};

/// The candidates for what `typed` means, most literal first, without repeats.
pub fn candidates(typed: &str, home: Option<&Path>) -> Vec<PathBuf> {
    let typed = typed.trim();
    let mut out: Vec<PathBuf> = Vec::new();
    let mut add = |p: PathBuf| {
        if !p.as_os_str().is_empty() && !out.contains(&p) {
            out.push(p);
        }
    };
    add(PathBuf::from(typed));
    let unquoted = unquote(typed);
    let unescaped = unescape(unquoted);
    for text in [unquoted.to_string(), unescaped] {
        add(expand_home(&text, home));
        add(PathBuf::from(text));
    }
    out
}

/// The first candidate that exists, or else the most unwrapped one (for the message).
pub fn resolve(typed: &str, home: Option<&Path>) -> PathBuf {
    let all = candidates(typed, home);
    all.iter()
        .find(|p| p.exists())
        .cloned()
        .or_else(|| all.last().cloned())
        .unwrap_or_default()
}

/// The home folder, from the environment variable each OS family sets.
pub fn home() -> Option<PathBuf> {
    ["HOME", "USERPROFILE"]
        .iter()
        .filter_map(std::env::var_os)
        .find(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `'x'` or `"x"` → `x`, when the same quote opens and closes.
fn unquote(text: &str) -> &str {
    for q in ['\'', '"'] {
        if text.len() >= 2 && text.starts_with(q) && text.ends_with(q) {
            return &text[1..text.len() - 1];
        }
    }
    text
}

/// `mi\ nota.txt` → `mi nota.txt`: a backslash before a space or a shell symbol is an
/// escape. Before a letter or digit it is left alone (`C:\Users`).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&next) = chars.peek() {
                if next == ' ' || "()[]{}'\"&;!$#*?<>|~`\\,".contains(next) {
                    out.push(next);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// `~` or `~/x` → the home folder (or inside it).
fn expand_home(text: &str, home: Option<&Path>) -> PathBuf {
    let Some(home) = home else {
        return PathBuf::from(text);
    };
    if text == "~" {
        return home.to_path_buf();
    }
    match text.strip_prefix("~/").or_else(|| text.strip_prefix("~\\")) {
        Some(rest) => home.join(rest),
        None => PathBuf::from(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(typed: &str, home: Option<&Path>, expect: &str) {
        let all = candidates(typed, home);
        assert!(all.contains(&PathBuf::from(expect)), "{typed:?} → {all:?}");
    }

    /// Quotes, escaped spaces and symbols, and ~ are undone.
    #[test]
    fn pasted_shapes_are_undone() {
        let home = Path::new("/home/ana");
        wanted("'/tmp/nota.txt'", None, "/tmp/nota.txt");
        wanted("\"C:\\Users\\ana\\nota.txt\"", None, "C:\\Users\\ana\\nota.txt");
        wanted("/tmp/mi\\ nota.txt", None, "/tmp/mi nota.txt");
        wanted("/tmp/foto\\ \\(1\\).png", None, "/tmp/foto (1).png");
        wanted("~/nota.txt", Some(home), "/home/ana/nota.txt");
        wanted("'~/mi nota.txt'", Some(home), "/home/ana/mi nota.txt");
        wanted("~", Some(home), "/home/ana");
        wanted("  /tmp/x.txt  ", None, "/tmp/x.txt");
    }

    /// The path as typed always comes first, and Windows separators are kept.
    #[test]
    fn the_literal_path_comes_first() {
        let all = candidates("C:\\Users\\ana\\x.txt", None);
        assert_eq!(all, [PathBuf::from("C:\\Users\\ana\\x.txt")]);
        assert_eq!(candidates("a\\ b", None)[0], PathBuf::from("a\\ b"));
        assert_eq!(unquote("'x\""), "'x\"");
    }

    /// An existing file wins over the other readings.
    #[test]
    fn an_existing_path_is_chosen() {
        let dir = std::env::temp_dir().join(format!("cliente-paste-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("mi nota.txt");
        std::fs::write(&file, b"x").unwrap();
        let typed = format!("'{}'", file.display());
        assert_eq!(resolve(&typed, None), file);
        let escaped = file.display().to_string().replace(' ', "\\ ");
        assert_eq!(resolve(&escaped, None), file);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
