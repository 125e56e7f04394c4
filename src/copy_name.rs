//! The name `duplicar` gives a copy, `poema.txt` → `poema (copia).txt`, `poema (copia 2).txt`,
//! … found in a handful of lookups however many copies exist.
//!
//! Trying `(copia)`, `(copia 2)`, `(copia 3)` … in turn costs one `stat` per copy already
//! made: with 9,999 copies, 9,999 system calls (13 ms) per `duplicar`, during which the
//! one-thread loop serves nobody else. Here the search gallops instead: it tries n, n+1, n+2,
//! n+4, n+8 … until a name is free, then halves the last gap, `2·log₂ k` lookups for k copies
//! (28 for 9,999). And [`CopyHints`] remembers, per file, the number after the last copy it
//! handed out, so the next `duplicar` of that file usually needs one lookup.
//!
//! The trade-off. Galloping finds *the smallest* free number only when the copies below it
//! have no gaps. Copies made through this server have none, and a copy removed through it is
//! reported with [`CopyHints::released`], so its number is reused first, as the linear
//! search would. A gap made by another program, or while the server was down, may be
//! skipped: the copy then gets a larger free number. It never gets a taken one, since every
//! answer is a name `taken` said was free. The alternative, exact in every case, reads the
//! whole folder once per `duplicar` and collects the numbers in use: no `stat`s, but work in
//! proportion to every name in the folder, even for a file that has no copy yet.

use crate::storage::check_name;
use std::collections::{BTreeSet, HashMap};

/// The highest copy number; past it, `duplicar` says there are too many copies.
pub const MAX_COPIES: u32 = 9_999;
/// Files whose next copy number is remembered. Past this, the memory starts over (it is
/// only a hint: a lost hint costs one gallop, not a wrong name).
const MAX_FILES: usize = 1024;
/// Released numbers remembered per file; past this, the highest are forgotten.
const MAX_HOLES: usize = 64;

/// How copies of one file are named: the file's name split before its last dot, so that
/// the copy keeps the extension (`a.tar.gz` → `a.tar (copia).gz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyName<'a> {
    stem: &'a str,
    ext: &'a str,
}

impl<'a> CopyName<'a> {
    /// The naming of copies of `source`.
    pub fn of(source: &'a str) -> CopyName<'a> {
        let (stem, ext) = match source.rfind('.') {
            Some(i) if i > 0 => source.split_at(i),
            _ => (source, ""),
        };
        CopyName { stem, ext }
    }

    /// The name of copy number `n` (1 is plain `(copia)`).
    pub fn nth(&self, n: u32) -> String {
        let (stem, ext) = (self.stem, self.ext);
        if n == 1 {
            format!("{stem} (copia){ext}")
        } else {
            format!("{stem} (copia {n}){ext}")
        }
    }

    /// The file `copy` is a copy of, and its number: `poema (copia 7).txt` → (`poema.txt`, 7).
    /// None when `copy` is not named like a copy.
    pub(crate) fn parse(copy: &str) -> Option<(String, u32)> {
        let (head, ext) = match copy.rfind('.') {
            Some(i) if i > 0 => copy.split_at(i),
            _ => (copy, ""),
        };
        let (stem, n) = if let Some(stem) = head.strip_suffix(" (copia)") {
            (stem, 1)
        } else {
            let inner = head.strip_suffix(')')?;
            let (stem, digits) = inner.rsplit_once(" (copia ")?;
            // Exactly the spelling `nth` writes: digits only, no leading zero, 2 and up.
            if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u32 = digits.parse().ok()?;
            if n < 2 {
                return None;
            }
            (stem, n)
        };
        if stem.is_empty() || n > MAX_COPIES {
            return None;
        }
        Some((format!("{stem}{ext}"), n))
    }
}

/// What the search remembers about one file's copies.
#[derive(Debug, Default)]
struct Floor {
    /// The number after the last copy handed out: the search starts here.
    next: u32,
    /// Numbers below `next` whose copy was removed through the server, tried first.
    holes: BTreeSet<u32>,
}

/// Per-file memory of copy numbers, kept by the server between requests (in `Context`).
/// Bounded: at most 1,024 files and 64 released numbers each.
#[derive(Debug, Default)]
pub struct CopyHints {
    floors: HashMap<String, Floor>,
    /// Lookups made by the last search, for the bench and the tests.
    last_probes: u32,
}

impl CopyHints {
    /// A name left the folder (`borrar`, `renombrar` away, a copy that failed and was never
    /// published): if it was a copy, its number is offered again before any higher one.
    pub(crate) fn released(&mut self, name: &str) {
        let Some((source, n)) = CopyName::parse(name) else {
            return;
        };
        if let Some(floor) = self.floors.get_mut(&source) {
            if n < floor.next {
                floor.holes.insert(n);
                if floor.holes.len() > MAX_HOLES {
                    floor.holes.pop_last();
                }
            }
        }
    }

    /// How many names the last [`free_copy_name`] looked up (the bench counts them).
    pub fn last_probes(&self) -> u32 {
        self.last_probes
    }
}

/// A free name for a copy of `source`, or the reply's error text. `taken` says whether a
/// name is in use (on disk, or reserved by a copy in progress); it is called about
/// `2·log₂ k` times for k existing copies, and once when `hints` knows the file.
pub fn free_copy_name(
    source: &str,
    mut taken: impl FnMut(&str) -> bool,
    hints: &mut CopyHints,
) -> Result<String, String> {
    let naming = CopyName::of(source);
    let mut probes = 0u32;
    // A name that is not valid (too long, once the number is added) counts as unusable;
    // numbers only make names longer, so the unusable ones are all at the top.
    let mut invalid: Option<&'static str> = None;
    let mut free = |n: u32| -> Option<String> {
        probes += 1;
        let name = naming.nth(n);
        if let Err(why) = check_name(&name) {
            invalid.get_or_insert(why);
            return None;
        }
        (!taken(&name)).then_some(name)
    };

    let floor = hints.floors.get_mut(source);
    let start = floor.as_ref().map_or(1, |f| f.next.max(1));
    // First, numbers released below the floor, smallest first.
    let mut found = None;
    if let Some(floor) = floor {
        while let Some(hole) = floor.holes.pop_first() {
            if let Some(name) = free(hole) {
                found = Some((hole, name));
                break;
            }
        }
    }
    if found.is_none() && start <= MAX_COPIES {
        found = gallop(start, &mut free);
    }
    hints.last_probes = probes;

    match found {
        Some((n, name)) => {
            if !hints.floors.contains_key(source) && hints.floors.len() >= MAX_FILES {
                hints.floors.clear();
            }
            let floor = hints.floors.entry(source.to_string()).or_default();
            floor.next = floor.next.max(n + 1);
            Ok(name)
        }
        None => {
            // Next time, look again from 1: copies may have been removed meanwhile.
            hints.floors.remove(source);
            Err(invalid
                .unwrap_or("hay demasiadas copias de ese archivo")
                .to_string())
        }
    }
}

/// The first free number at or above `start` that follows a taken one, assuming taken
/// numbers form a run: tries start, start+1, +2, +4 … then bisects the last step.
fn gallop(start: u32, free: &mut impl FnMut(u32) -> Option<String>) -> Option<(u32, String)> {
    if let Some(name) = free(start) {
        return Some((start, name));
    }
    // `lo` is taken; look for a free `hi` above it.
    let (mut lo, mut step) = (start, 1u32);
    let (mut hi, mut hi_name) = loop {
        if lo >= MAX_COPIES {
            return None;
        }
        let probe = lo.saturating_add(step).min(MAX_COPIES);
        match free(probe) {
            Some(name) => break (probe, name),
            None => {
                lo = probe;
                step = step.saturating_mul(2);
            }
        }
    };
    // Bisect: lo taken, hi free; find where one turns into the other.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match free(mid) {
            Some(name) => (hi, hi_name) = (mid, name),
            None => lo = mid,
        }
    }
    Some((hi, hi_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn set(names: impl IntoIterator<Item = String>) -> HashSet<String> {
        names.into_iter().collect()
    }

    /// The same names as the linear search: extension kept, `(copia)` then `(copia 2)`.
    #[test]
    fn copies_count_up_and_keep_the_extension() {
        let mut hints = CopyHints::default();
        let taken = set(["poema (copia).txt".into(), "poema (copia 2).txt".into()]);
        let name = free_copy_name("poema.txt", |n| taken.contains(n), &mut hints).unwrap();
        assert_eq!(name, "poema (copia 3).txt");
        let mut fresh = CopyHints::default();
        assert_eq!(
            free_copy_name("notas", |_| false, &mut fresh).unwrap(),
            "notas (copia)"
        );
        assert_eq!(
            free_copy_name("a.tar.gz", |_| false, &mut fresh).unwrap(),
            "a.tar (copia).gz"
        );
    }

    /// A name with no room for the suffix gets check_name's reason, as before.
    #[test]
    fn a_name_too_long_for_a_copy_is_refused_with_the_reason() {
        let err = free_copy_name(&"x".repeat(250), |_| false, &mut CopyHints::default());
        assert_eq!(err.unwrap_err(), "nombre demasiado largo");
    }

    /// When numbers run out before names get too long, the reason is that there are too many.
    #[test]
    fn all_numbers_taken_is_refused_in_few_lookups() {
        let mut hints = CopyHints::default();
        let err = free_copy_name("poema.txt", |_| true, &mut hints).unwrap_err();
        assert_eq!(err, "hay demasiadas copias de ese archivo");
        assert!(hints.last_probes() <= 16, "{} lookups", hints.last_probes());
    }

    /// With 9,998 copies in a row, the free 9,999th is found in about 2·log₂ k lookups,
    /// where the linear search makes 9,999.
    #[test]
    fn thousands_of_copies_cost_a_few_dozen_lookups() {
        let naming = CopyName::of("poema.txt");
        let taken = set((1..MAX_COPIES).map(|n| naming.nth(n)));
        let mut hints = CopyHints::default();
        let mut lookups = 0;
        let name = free_copy_name(
            "poema.txt",
            |n| {
                lookups += 1;
                taken.contains(n)
            },
            &mut hints,
        )
        .unwrap();
        assert_eq!(name, "poema (copia 9999).txt");
        assert!(lookups <= 30, "{lookups} lookups");
        assert_eq!(hints.last_probes(), lookups);
    }

    /// Once a file's last copy number is known, the next copy costs one lookup.
    #[test]
    fn the_next_copy_of_a_known_file_is_one_lookup() {
        let mut taken = HashSet::new();
        let mut hints = CopyHints::default();
        for n in 1..=50u32 {
            let name = free_copy_name("a.txt", |x| taken.contains(x), &mut hints).unwrap();
            assert_eq!(name, CopyName::of("a.txt").nth(n));
            if n > 1 {
                assert_eq!(hints.last_probes(), 1);
            }
            taken.insert(name);
        }
    }

    /// A copy removed through the server frees its number first, smallest first, like the
    /// linear search would pick it.
    #[test]
    fn released_numbers_are_reused_smallest_first() {
        let naming = CopyName::of("a.txt");
        let mut taken = HashSet::new();
        let mut hints = CopyHints::default();
        for _ in 0..20 {
            let name = free_copy_name("a.txt", |x| taken.contains(x), &mut hints).unwrap();
            taken.insert(name);
        }
        for n in [12, 3, 7] {
            taken.remove(&naming.nth(n));
            hints.released(&naming.nth(n));
        }
        for n in [3, 7, 12, 21] {
            let name = free_copy_name("a.txt", |x| taken.contains(x), &mut hints).unwrap();
            assert_eq!(name, naming.nth(n));
            taken.insert(name);
        }
    }

    /// Whatever the hints say, a name that is taken is never handed out: a stale hint for a
    /// number that another program has since used is skipped.
    #[test]
    fn a_stale_hint_never_yields_a_taken_name() {
        let naming = CopyName::of("a.txt");
        let mut taken = HashSet::new();
        let mut hints = CopyHints::default();
        for _ in 0..5 {
            let name = free_copy_name("a.txt", |x| taken.contains(x), &mut hints).unwrap();
            taken.insert(name);
        }
        hints.released(&naming.nth(2)); // reported, but the file is still there
        taken.insert(naming.nth(6)); // made by someone else
        taken.insert(naming.nth(7));
        let name = free_copy_name("a.txt", |x| taken.contains(x), &mut hints).unwrap();
        assert_eq!(name, naming.nth(8));
    }

    /// While copies come and go only through the server, every answer is the one the old
    /// linear search gives: the smallest free number.
    #[test]
    fn through_the_server_the_answer_is_always_the_smallest_free() {
        let naming = CopyName::of("a.txt");
        let linear = |taken: &HashSet<String>| {
            (1..=MAX_COPIES)
                .map(|n| naming.nth(n))
                .find(|x| !taken.contains(x))
        };
        let mut taken = HashSet::new();
        let mut hints = CopyHints::default();
        let mut x: u32 = 0x2545_f491;
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if !x.is_multiple_of(3) || taken.is_empty() {
                let expected = linear(&taken).unwrap();
                let name = free_copy_name("a.txt", |n| taken.contains(n), &mut hints).unwrap();
                assert_eq!(name, expected);
                taken.insert(name);
            } else {
                let n = 1 + (x >> 8) % 60;
                if taken.remove(&naming.nth(n)) {
                    hints.released(&naming.nth(n));
                }
            }
        }
    }

    /// Copy names parse back to their file and number; other names do not.
    #[test]
    fn copy_names_parse_back_to_their_source() {
        for source in ["poema.txt", "notas", "a.tar.gz", "x (copia).txt", "v1.0 final"] {
            let naming = CopyName::of(source);
            for n in [1, 2, 10, MAX_COPIES] {
                assert_eq!(CopyName::parse(&naming.nth(n)), Some((source.to_string(), n)));
            }
        }
        for other in [
            "poema.txt",
            "poema (copia 1).txt",
            "poema (copia 02).txt",
            "poema (copia -2).txt",
            "poema (copia 10000).txt",
            " (copia).txt",
            "(copia 3)",
        ] {
            assert_eq!(CopyName::parse(other), None, "{other}");
        }
    }

    /// The memory stays bounded however many files are copied.
    #[test]
    fn hints_stay_bounded() {
        let mut hints = CopyHints::default();
        for i in 0..3 * MAX_FILES {
            free_copy_name(&format!("f{i}.txt"), |_| false, &mut hints).unwrap();
            assert!(hints.floors.len() <= MAX_FILES);
        }
        free_copy_name("a.txt", |_| false, &mut hints).unwrap();
        for _ in 0..200 {
            free_copy_name("a.txt", |_| false, &mut hints).unwrap();
        }
        for n in 1..200 {
            hints.released(&CopyName::of("a.txt").nth(n));
        }
        assert!(hints.floors["a.txt"].holes.len() <= MAX_HOLES);
    }
}
