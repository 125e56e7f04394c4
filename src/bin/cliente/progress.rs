//! A one-line progress report on stderr for long transfers: bytes, rate and time left.
//!
//! It shows only when stderr is a terminal and the transfer is large, so scripts, pipes
//! and logs never get carriage returns mixed into them.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Transfers smaller than this finish too fast for a progress line to help.
pub const THRESHOLD: u64 = 4 * 1024 * 1024;
/// Redraw at most this often: the terminal is slower than the network.
const EVERY: Duration = Duration::from_millis(200);

/// Whether a progress line would be shown at all (so callers can skip work that only
/// serves it, such as asking for a file's size).
pub fn wanted() -> bool {
    std::io::stderr().is_terminal()
}

pub struct Progress {
    label: String,
    total: u64,
    /// Bytes already there when we started (a resumed transfer): not part of the rate.
    base: u64,
    started: Instant,
    drawn: Option<Instant>,
    active: bool,
}

impl Progress {
    /// A progress line for `label`, `total` bytes long, starting at `base`. Inactive
    /// (silent) unless stderr is a terminal and the total is known and large.
    pub fn new(label: &str, total: Option<u64>, base: u64) -> Progress {
        let total_bytes = total.unwrap_or(0);
        Progress {
            label: label.to_string(),
            total: total_bytes,
            base,
            started: Instant::now(),
            drawn: None,
            active: total.is_some() && total_bytes >= THRESHOLD && wanted(),
        }
    }

    /// Records that `done` bytes (of the whole, `base` included) are through.
    pub fn update(&mut self, done: u64) {
        if !self.active {
            return;
        }
        let now = Instant::now();
        if self.drawn.is_some_and(|t| now - t < EVERY) && done < self.total {
            return;
        }
        self.drawn = Some(now);
        let elapsed = now - self.started;
        let text = line(
            &self.label,
            done,
            self.total,
            done.saturating_sub(self.base),
            elapsed,
        );
        let mut err = std::io::stderr().lock();
        // \r returns to the start of the line, ESC[K clears what a longer line left.
        let _ = write!(err, "\r{text}\x1b[K");
        let _ = err.flush();
    }

    /// Clears the line, so whatever is printed next starts clean.
    pub fn finish(&mut self) {
        if self.active && self.drawn.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
        self.active = false;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The text of one progress line. `moved` is how much went through in `elapsed`.
pub fn line(label: &str, done: u64, total: u64, moved: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { moved as f64 / secs } else { 0.0 };
    let percent = (done.min(total) * 100).checked_div(total).unwrap_or(100);
    let eta = if rate >= 1.0 {
        clock(((total.saturating_sub(done)) as f64 / rate).round() as u64)
    } else {
        "--:--".to_string()
    };
    format!(
        "{label}: {} / {} ({percent}%)  {}/s  quedan {eta}",
        human(done),
        human(total),
        human(rate as u64)
    )
}

/// A byte count with a binary unit: `512 B`, `1.5 KiB`, `3.0 GiB`.
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

/// Seconds as `m:ss`, or `h:mm:ss` past an hour.
fn clock(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
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
        assert_eq!(human(10 * 1024 * 1024), "10.0 MiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }

    /// The line has bytes, percent, rate and time left; an idle start shows no ETA.
    #[test]
    fn the_line_shows_bytes_rate_and_time_left() {
        let mib = 1024 * 1024;
        let l = line("subiendo", 25 * mib, 100 * mib, 20 * mib, Duration::from_secs(2));
        assert_eq!(l, "subiendo: 25.0 MiB / 100.0 MiB (25%)  10.0 MiB/s  quedan 0:08");
        let l = line("x", 0, 100 * mib, 0, Duration::ZERO);
        assert!(l.ends_with("quedan --:--"), "{l}");
        assert_eq!(clock(3725), "1:02:05");
    }
}
