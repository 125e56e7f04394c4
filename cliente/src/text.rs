//! Text for people: sizes as they read them, untrusted text made safe to print, and
//! printing itself.
//!
//! Every other part of the client shows sizes and names through these two, so they live
//! here, below everything, where any module can use them without pulling in another.

/// A byte count as people read it: `512 B`, `1.5 KiB`, `190.7 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `text` with control characters (escape sequences, carriage returns, newlines)
/// shown as escapes instead of acted on by the terminal.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes to stdout. A reader that went away (the other end of a pipe closed) ends the
/// program quietly: there is nobody left to tell anything.
pub fn out(args: std::fmt::Arguments) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes read as people say them.
    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(200_000_000), "190.7 MiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }

    /// Escape sequences in a text are shown, not obeyed.
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("hola\x1b[2J\n"), "hola\\u{1b}[2J\\n");
        assert_eq!(printable("ñandú"), "ñandú");
    }
}
