//! A one-line progress report on stderr for long transfers: bytes, rate and time left.
//!
//! indicatif draws it, which also works in Windows consoles (old ones included) and
//! hides itself when stderr is not a terminal, so scripts, pipes and logs never get
//! carriage returns mixed into them. The words and units are ours: Spanish, and sizes
//! as `190.7 MiB`.

use super::text::human;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Transfers smaller than this finish too fast for a progress line to help.
pub const THRESHOLD: u64 = 4 * 1024 * 1024;

/// Whether a progress line would be shown at all.
pub fn wanted() -> bool {
    std::io::stderr().is_terminal()
}

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress line for `label`, `total` bytes long, starting at `base` (a resumed
    /// transfer: those bytes do not count toward the rate). Silent unless stderr is a
    /// terminal and the total is known and large.
    pub fn new(label: &str, total: Option<u64>, base: u64) -> Progress {
        let bar = match total {
            Some(total) if total >= THRESHOLD && wanted() => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(5));
                bar.set_style(style());
                bar.set_message(label.to_string());
                bar.set_position(base);
                bar.reset_eta();
                Some(bar)
            }
            _ => None,
        };
        Progress { bar }
    }

    /// Records that `done` bytes (of the whole, `base` included) are through.
    pub fn update(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    /// Clears the line, so whatever is printed next starts clean.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{msg}: {hecho} / {total} ({percent}%)  {ritmo}  quedan {quedan}")
        .expect("the template is valid")
        .with_key("hecho", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&human(s.pos()));
        })
        .with_key("total", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&human(s.len().unwrap_or(0)));
        })
        .with_key("ritmo", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", human(s.per_sec() as u64));
        })
        .with_key("quedan", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let left = if s.per_sec() >= 1.0 {
                clock(s.eta())
            } else {
                "--:--".to_string()
            };
            let _ = w.write_str(&left);
        })
}

/// A duration as `m:ss`, or `h:mm:ss` past an hour.
pub fn clock(d: Duration) -> String {
    let secs = d.as_secs();
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

    /// Time left reads as a clock.
    #[test]
    fn time_left_reads_as_a_clock() {
        assert_eq!(clock(Duration::from_secs(8)), "0:08");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
    }

    /// Off a terminal (as under `cargo test`), nothing is drawn and updates are free.
    #[test]
    fn no_terminal_no_line() {
        let mut p = Progress::new("x", Some(100 * THRESHOLD), 0);
        if !wanted() {
            assert!(p.bar.is_none());
        }
        p.update(5);
        p.finish();
        assert!(Progress::new("x", Some(10), 0).bar.is_none());
    }
}
