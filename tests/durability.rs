//! Crash tests: a write answered "ok" survives the server being killed and the machine
//! losing power, and a restart leaves nothing half-written behind.
//!
//! Both tests run the same workload (uploads, uploads in parts and copies from several
//! connections at once), stop it brutally in the middle, and then check the folder
//! through a restarted server:
//! - every file answered "ok" is listed and whole;
//! - every listed file is whole (a file published without its reply is fine; half of
//!   one is not);
//! - staging holds no temporary file (the restart cleans them).
//!
//! `kill -9` (`killed_mid_write_keeps_every_ok_and_cleans_staging`) leaves the kernel's
//! page cache alone, so it checks atomic publishing and the clean-up. A power cut also
//! loses whatever the kernel had not written to the disk yet; the second test makes one
//! (see [`PowerCut`]). It needs root and loop devices, so it is `#[ignore]`d and `.ci/run`
//! runs it where it can.

mod common;

use almacen::pickle::Data;
use common::{decode_reply, Client, Server, TempDir};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The file every copy is made from: large enough that copies run as jobs.
const SEED: &str = "semilla.bin";
const SEED_LEN: usize = 3 * 1024 * 1024;
/// An upload in parts is three pieces of this size, the last one with `fin`.
const PIECE: usize = 192 * 1024;
/// The workload runs until this many writes were answered "ok" (or a time limit).
const OKS_BEFORE_CRASH: usize = 24;

/// Bytes that differ for every seed, so a file mixed up with another shows.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// What a file of the workload must hold, from its name alone; None for a name the
/// workload never writes.
fn expected(name: &str) -> Option<Vec<u8>> {
    let num = |s: &str| s.parse::<u64>().ok();
    let stem = name.strip_suffix(".bin")?;
    if name == SEED {
        return Some(bytes(1, SEED_LEN));
    }
    if let Some(rest) = stem.strip_prefix('s') {
        let (t, i) = rest.split_once('-')?;
        let (t, i) = (num(t)?, num(i)?);
        return Some(bytes(1000 * t + i + 10, upload_len(i)));
    }
    if let Some(i) = stem.strip_prefix('p').and_then(num) {
        return Some(bytes(900_000 + i, 3 * PIECE));
    }
    if stem.strip_prefix('c').and_then(num).is_some() {
        return Some(bytes(1, SEED_LEN));
    }
    None
}

/// Uploads go from 64 KiB to about 900 KiB.
fn upload_len(i: u64) -> usize {
    64 * 1024 + (i as usize % 8) * 120 * 1024
}

/// Names answered "ok", shared by the workload's threads.
type Oks = Arc<Mutex<Vec<String>>>;
/// Pieces of uploads in parts answered "ok": the name, and the bytes the reply said the
/// server holds.
type Pieces = Arc<Mutex<Vec<(String, usize)>>>;
/// One kind of writer: its next write on `client` (number `i`), returning the name and
/// the reply's estado, or None once the server is gone. Pieces it had acknowledged go
/// into `pieces`.
type Writer = fn(&mut Client, u64, &Pieces) -> Option<(String, String)>;

/// One request on a raw connection; None once the server is gone.
fn ask(client: &mut Client, operacion: &str, data: Data) -> Option<String> {
    client.stream.write_all(&Client::frame(operacion, data)).ok()?;
    let payload = client.read_payload().ok()?;
    Some(decode_reply(&payload).estado)
}

/// Writers on their own connections until `stop`, or until the server dies.
struct Workload {
    stop: Arc<AtomicBool>,
    oks: Oks,
    pieces: Pieces,
    threads: Vec<JoinHandle<()>>,
}

impl Workload {
    fn start(port: u16) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let oks: Oks = Arc::default();
        let pieces: Pieces = Arc::default();
        let mut threads = Vec::new();
        let mut spawn = |work: Writer| {
            let (stop, oks, pieces) = (Arc::clone(&stop), Arc::clone(&oks), Arc::clone(&pieces));
            threads.push(std::thread::spawn(move || {
                let mut client = Client::connect(port);
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Some((name, estado)) = work(&mut client, i, &pieces) else {
                        return; // the server is gone
                    };
                    assert_eq!(estado, "ok", "{name}: the workload's writes are all valid");
                    oks.lock().unwrap().push(name);
                }
            }));
        };
        spawn(|c, i, _| upload(c, 1, i));
        spawn(|c, i, _| upload(c, 2, i));
        spawn(|c, i, _| upload(c, 3, i));
        spawn(upload_in_parts);
        spawn(|c, i, _| copy(c, i));
        Workload {
            stop,
            oks,
            pieces,
            threads,
        }
    }

    /// How many writes were answered "ok" so far.
    fn count(&self) -> usize {
        self.oks.lock().unwrap().len()
    }

    /// Waits until `n` writes were answered "ok" (the test fails after 60 s).
    fn wait_for(&self, n: usize) {
        common::wait_until("writes answered ok", Duration::from_secs(60), || {
            self.count() >= n
        });
    }

    /// The names answered "ok" up to now.
    fn acknowledged(&self) -> Vec<String> {
        self.oks.lock().unwrap().clone()
    }

    /// The pieces answered "ok" up to now.
    fn acknowledged_pieces(&self) -> Vec<(String, usize)> {
        self.pieces.lock().unwrap().clone()
    }

    /// Stops the threads (the server is dead by now, so they end quickly).
    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("a workload thread panicked");
        }
    }
}

fn upload(c: &mut Client, t: u64, i: u64) -> Option<(String, String)> {
    let name = format!("s{t}-{i}.bin");
    let data = Data::dict([
        ("nombre", Data::str(&name)),
        ("contenido", Data::Bytes(expected(&name).unwrap())),
    ]);
    Some((name, ask(c, "subir", data)?))
}

fn upload_in_parts(c: &mut Client, i: u64, pieces: &Pieces) -> Option<(String, String)> {
    let name = format!("p{i}.bin");
    let all = expected(&name).unwrap();
    for (k, piece) in all.chunks(PIECE).enumerate() {
        let data = Data::dict([
            ("nombre", Data::str(&name)),
            ("contenido", Data::Bytes(piece.to_vec())),
            ("desde", Data::Int((k * PIECE) as i64)),
            ("fin", Data::Bool(k == 2)),
        ]);
        let estado = ask(c, "subir_parte", data)?;
        if k < 2 {
            assert_eq!(estado, "ok", "{name}: piece {k}");
            pieces.lock().unwrap().push((name.clone(), (k + 1) * PIECE));
        } else {
            return Some((name, estado));
        }
    }
    unreachable!("three pieces")
}

fn copy(c: &mut Client, i: u64) -> Option<(String, String)> {
    let name = format!("c{i}.bin");
    let data = Data::dict([("nombre", Data::str(SEED)), ("nuevo", Data::str(&name))]);
    Some((name, ask(c, "duplicar", data)?))
}

/// A folder with the file copies are made from.
fn seeded(dir: &Path) {
    std::fs::write(dir.join(SEED), expected(SEED).unwrap()).unwrap();
}

/// Restarts a server on `dir` and checks what the crash left: every name in
/// `acknowledged` listed and whole, every listed file whole, every piece in `pieces`
/// still staged (unless its upload was published), no temporary file in staging.
/// Returns how many files the workload had published in all.
fn check_after_restart(dir: &Path, acknowledged: &[String], pieces: &[(String, usize)]) -> usize {
    let server = Server::start(dir, &[]);
    let staging = dir.join(almacen::storage::STAGING);
    let leftovers: Vec<String> = std::fs::read_dir(&staging)
        .expect("staging exists after a start")
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "half-written files left in staging: {leftovers:?}"
    );

    let mut c = server.connect();
    let listed = c.ask("listar", Data::None).names();
    for name in &listed {
        let want = expected(name).unwrap_or_else(|| panic!("{name:?} listed, never written"));
        let got = c.ask("descargar", Data::str(name.as_str()));
        assert_eq!(got.estado, "ok", "{name}");
        assert!(
            got.bytes() == want,
            "{name} is listed but not whole ({} B)",
            got.bytes().len()
        );
    }
    let lost: Vec<&String> = acknowledged.iter().filter(|n| !listed.contains(n)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} writes answered ok were lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    for (name, held) in pieces.iter().filter(|(n, _)| !listed.contains(n)) {
        let staged = std::fs::read(staging.join("partes").join(name)).unwrap_or_default();
        assert!(
            staged.len() >= *held && staged[..*held] == expected(name).unwrap()[..*held],
            "{name}: the server answered that it held {held} B, and {} B are staged",
            staged.len()
        );
    }
    listed.len() - 1
}

/// kill -9 in the middle of uploads, uploads in parts and copies: after a restart every
/// "ok" file is listed and whole, nothing partial is listed, and staging is clean.
#[test]
fn killed_mid_write_keeps_every_ok_and_cleans_staging() {
    let dir = TempDir::new("killed");
    seeded(dir.path());
    let mut server = Server::start(dir.path(), &[]);
    let work = Workload::start(server.port);
    work.wait_for(OKS_BEFORE_CRASH);
    server.child.kill().unwrap(); // SIGKILL on Unix, TerminateProcess on Windows
    server.child.wait().unwrap();
    let (acknowledged, pieces) = (work.acknowledged(), work.acknowledged_pieces());
    work.finish();
    let published = check_after_restart(dir.path(), &acknowledged, &pieces);
    eprintln!(
        "{} writes answered ok, {published} files published",
        acknowledged.len()
    );
}

/// A second server started on a folder another one writes to leaves that one's staged
/// files alone and says so; once the first is gone, the next start removes them.
#[test]
fn a_second_server_leaves_the_first_ones_staged_files_alone() {
    let dir = TempDir::new("two-servers");
    let first = Server::start(dir.path(), &[]);
    let staged = dir.path().join(almacen::storage::STAGING).join("tmp-1-0");
    std::fs::write(&staged, b"a write in progress").unwrap();
    let second = Server::start(dir.path(), &[]);
    assert!(staged.exists(), "the first server's staged file was removed");
    common::wait_until("the warning", Duration::from_secs(10), || {
        second.stderr().contains("otro servidor escribe en")
    });
    drop(second);
    drop(first);
    let _third = Server::start(dir.path(), &[]);
    assert!(!staged.exists(), "a leftover with nobody writing stays");
}

/// The power is cut in the middle of uploads, uploads in parts and copies: after a
/// restart every file answered "ok" before the cut is listed and whole, nothing partial
/// is listed, and staging is clean.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root, loop devices and mkfs.xfs: .ci/run runs it where it can"]
fn power_cut_keeps_every_ok_file() {
    let cut = PowerCut::new();
    let served = cut.served(seeded);
    let mut server = Server::start(&served, &[]);
    let work = Workload::start(server.port);
    work.wait_for(OKS_BEFORE_CRASH);
    // The moment of the cut: what was answered before it must be on the disk image.
    let (acknowledged, pieces) = (work.acknowledged(), work.acknowledged_pieces());
    let started = std::time::Instant::now();
    let after = cut.cut();
    eprintln!("disk image taken in {:?}", started.elapsed());
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    work.finish();
    let published = check_after_restart(&after.join("archivos"), &acknowledged, &pieces);
    eprintln!(
        "{} writes and {} pieces answered ok before the cut, {published} files on the disk after it",
        acknowledged.len(),
        pieces.len()
    );
}

/// One writer, one change after another, then the power is cut at once: with nobody
/// else flushing, only the server's own flushes can have put each change on the disk,
/// names included (a new file, a replaced one, a deletion, a rename).
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root, loop devices and mkfs.xfs: .ci/run runs it where it can"]
fn power_cut_keeps_each_change_of_names() {
    let cut = PowerCut::new();
    let served = cut.served(|served| {
        for name in ["viejo.bin", "antes.bin", "cambia.bin"] {
            std::fs::write(served.join(name), b"lo de antes").unwrap();
        }
    });
    let server = Server::start(&served, &[]);
    let mut c = server.connect();
    let new = bytes(7, 300 * 1024);
    let steps = [
        (
            "subir",
            Data::dict([
                ("nombre", Data::str("nuevo.bin")),
                ("contenido", Data::Bytes(new.clone())),
            ]),
        ),
        (
            "subir",
            Data::dict([
                ("nombre", Data::str("cambia.bin")),
                ("contenido", Data::Bytes(new.clone())),
                ("reemplazar", Data::Bool(true)),
            ]),
        ),
        ("borrar", Data::str("viejo.bin")),
        (
            "renombrar",
            Data::dict([
                ("nombre", Data::str("antes.bin")),
                ("nuevo", Data::str("despues.bin")),
            ]),
        ),
    ];
    for (op, data) in steps {
        assert_eq!(c.ask(op, data).estado, "ok", "{op}");
    }
    let after = cut.cut().join("archivos");
    drop(server);
    let read = |name: &str| std::fs::read(after.join(name)).ok();
    assert!(
        read("nuevo.bin") == Some(new.clone()),
        "the new file is lost or partial"
    );
    assert!(
        read("cambia.bin") == Some(new),
        "the replaced file is not the new one"
    );
    assert_eq!(read("viejo.bin"), None, "the deleted file came back");
    assert_eq!(
        read("antes.bin"),
        None,
        "the renamed file is back under its old name"
    );
    assert_eq!(
        read("despues.bin").as_deref(),
        Some(&b"lo de antes"[..]),
        "the rename is lost"
    );
}

/// One writer sends the first pieces of an upload in parts, then the power is cut: every
/// byte a reply said the server holds is staged after the cut, so the upload resumes
/// from the figure the client was given.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root, loop devices and mkfs.xfs: .ci/run runs it where it can"]
fn power_cut_keeps_each_acknowledged_piece() {
    let cut = PowerCut::new();
    let served = cut.served(|_| {});
    let server = Server::start(&served, &[]);
    let mut c = server.connect();
    let name = "p7.bin";
    let all = expected(name).unwrap();
    for k in 0..2 {
        let data = Data::dict([
            ("nombre", Data::str(name)),
            ("contenido", Data::Bytes(all[k * PIECE..(k + 1) * PIECE].to_vec())),
            ("desde", Data::Int((k * PIECE) as i64)),
        ]);
        assert_eq!(c.ask("subir_parte", data).estado, "ok", "piece {k}");
    }
    let after = cut.cut().join("archivos");
    drop(server);
    let resumed = Server::start(&after, &[]);
    let asked = resumed
        .connect()
        .ask("subir_parte", Data::dict([("nombre", Data::str(name))]));
    let told = almacen::pickle::decode::get(&asked.data, "recibidos");
    assert!(
        matches!(told, Some(almacen::pickle::Value::I64(n)) if *n == (2 * PIECE) as i64),
        "after the cut the server says it holds {told:?} B ({} B were answered ok)",
        2 * PIECE
    );
    let staged =
        std::fs::read(after.join(almacen::storage::STAGING).join("partes").join(name)).unwrap_or_default();
    assert!(
        staged == all[..2 * PIECE],
        "2 pieces ({} B) were answered ok; {} B are staged after the cut",
        2 * PIECE,
        staged.len()
    );
}

/// A disk whose power can be cut: an ext4 filesystem on a loop device over an image file.
/// The image lives on an XFS filesystem (itself on a loop device) that can clone a file in
/// one atomic step, so a clone of the image holds exactly what had reached the "disk" at
/// that instant: what the kernel still held in its page cache is not in it, as after a
/// power cut. Mounting the clone replays ext4's journal, as a reboot would.
#[cfg(target_os = "linux")]
struct PowerCut {
    root: TempDir,
    /// Mount points, innermost last, unmounted in reverse on drop.
    mounts: Mutex<Vec<std::path::PathBuf>>,
}

#[cfg(target_os = "linux")]
impl PowerCut {
    fn new() -> PowerCut {
        let root = TempDir::new("power-cut");
        let cut = PowerCut {
            root,
            mounts: Mutex::new(Vec::new()),
        };
        let outer = cut.root.path().join("outer.img");
        std::fs::File::create(&outer).unwrap().set_len(1 << 30).unwrap();
        run("mkfs.xfs", &["-q", "-f", "-m", "reflink=1"], &outer);
        let host = cut.mount(&outer, "host");
        let disk = host.join("disk.img");
        std::fs::File::create(&disk).unwrap().set_len(256 << 20).unwrap();
        run("mkfs.ext4", &["-q", "-F"], &disk);
        // Without `noauto_da_alloc`, ext4 starts writing a file out when it is closed
        // after being cut to zero, to help programs that never flush; XFS and btrfs have
        // no such habit, and no test should lean on it.
        cut.mount_with(&disk, "live", "loop,noauto_da_alloc");
        cut
    }

    fn host(&self) -> std::path::PathBuf {
        self.root.path().join("host")
    }

    /// The filesystem the server writes to.
    fn live(&self) -> std::path::PathBuf {
        self.root.path().join("live")
    }

    /// The served folder on the live disk, filled by `fill` and then written out: what
    /// was there before the server started is on the disk for sure.
    fn served(&self, fill: impl FnOnce(&Path)) -> std::path::PathBuf {
        let served = self.live().join("archivos");
        std::fs::create_dir(&served).unwrap();
        fill(&served);
        assert!(std::process::Command::new("sync").status().unwrap().success());
        served
    }

    /// Takes the disk as it is now, mounted elsewhere: the filesystem after the cut.
    fn cut(&self) -> std::path::PathBuf {
        let image = self.host().join("after.img");
        let clone = std::process::Command::new("cp")
            .arg("--reflink=always")
            .arg(self.host().join("disk.img"))
            .arg(&image)
            .status()
            .unwrap();
        assert!(clone.success(), "cannot clone the disk image");
        self.mount(&image, "after")
    }

    fn mount(&self, image: &Path, at: &str) -> std::path::PathBuf {
        self.mount_with(image, at, "loop")
    }

    fn mount_with(&self, image: &Path, at: &str, options: &str) -> std::path::PathBuf {
        let point = self.root.path().join(at);
        std::fs::create_dir_all(&point).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-o", options])
            .arg(image)
            .arg(&point)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "cannot mount {}: run this test as root on Linux",
            image.display()
        );
        self.mounts.lock().unwrap().push(point.clone());
        point
    }
}

#[cfg(target_os = "linux")]
impl Drop for PowerCut {
    fn drop(&mut self) {
        for point in self.mounts.lock().unwrap().drain(..).rev() {
            let _ = std::process::Command::new("umount").arg(&point).status();
        }
    }
}

#[cfg(target_os = "linux")]
fn run(program: &str, args: &[&str], on: &Path) {
    let ok = std::process::Command::new(program)
        .args(args)
        .arg(on)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{program} failed on {}: {}",
        on.display(),
        install_hint(program)
    );
}

/// What to do when a tool the power-cut tests run is missing: the Debian and Ubuntu
/// package that has it (other distributions mostly use the same names).
#[cfg(target_os = "linux")]
fn install_hint(program: &str) -> String {
    let package = match program {
        "mkfs.xfs" => "xfsprogs",
        "mkfs.ext4" => "e2fsprogs",
        other => other,
    };
    format!("is it installed? (on Debian or Ubuntu: sudo apt-get install {package})")
}

/// A missing mkfs names the package to install, not only the program.
#[cfg(target_os = "linux")]
#[test]
fn a_missing_mkfs_names_its_debian_package() {
    assert!(install_hint("mkfs.xfs").ends_with("sudo apt-get install xfsprogs)"));
    assert!(install_hint("mkfs.ext4").ends_with("sudo apt-get install e2fsprogs)"));
}
