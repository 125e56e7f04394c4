//! Section 11, uploads: what a write that survives a power cut costs.
//!
//! servidor answers `subir` only once the file's bytes and its name are on the disk
//! (`fsync` of the file, then of the folder). The reference is the bench doing the same
//! durable write of the same bytes in its own process, with no network and no event loop
//! (write a staged file, fsync it, rename it over the name, fsync the folder): the disk's
//! own limit for writes that survive a power cut. A second reference writes without any
//! fsync, for what the page cache alone allows (what servidor did before issue 16).
//!
//! Each upload replaces one name per connection (`reemplazar`), so the folder does not
//! grow during the run. `--servidor PATH` measures another build (an older one, to see
//! what changed).

use super::*;
use std::fs::File;

/// The upload sizes measured, with the connections sending at once.
const CASES: [(usize, usize); 3] = [(4 * 1024, 1), (4 * 1024, 8), (8 << 20, 1)];

/// How a reference writes one file.
#[derive(Clone, Copy)]
enum Flush {
    /// fsync of the file, rename over the name, fsync of the folder.
    Durable,
    /// Into the page cache only.
    Cached,
}

impl Bench {
    /// Section 11.
    pub fn uploads(&mut self) -> Result<()> {
        let span = if self.budget.round_trip_reps > 1 {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(800)
        };
        let folder = self.scratch.dir("subidas").map_err(|e| e.to_string())?;
        let srv = self.servidor(&folder)?;
        for (size, conns) in CASES {
            let content = vec![0x5a; size];
            let theirs = reference_rate(&folder, &content, conns, Flush::Durable, span)?;
            let cached = reference_rate(&folder, &content, conns, Flush::Cached, span)?;
            let ours = upload_rate(srv.addr, &content, conns, span)?;
            let what = format!("subir {}, {conns} conn(s): uploads/s (MB/s)", size_label(size));
            let show = |r: f64| format!("{} ({:.1} MB/s)", rate(r), r * size as f64 / 1e6);
            eprintln!(
                "bench:   {what}: servidor {}, durable {}, page cache {}",
                show(ours),
                show(theirs),
                show(cached)
            );
            self.push("11", what, show(ours), format!("{} durable write", show(theirs)));
            // No target: a cost to know, which the disk and the machine's load set.
            self.rows.last_mut().expect("just pushed").ratio = Some(ours / theirs);
            self.push(
                "11",
                format!("  the same written to the page cache only, {conns} conn(s)"),
                String::new(),
                show(cached),
            );
        }
        warn_if_logged(&srv);
        Ok(())
    }
}

/// `subir` round trips per second from `conns` connections, each replacing its own name,
/// every reply checked.
fn upload_rate(addr: SocketAddr, content: &[u8], conns: usize, span: Duration) -> Result<f64> {
    let deadline = Instant::now() + span;
    let threads: Vec<_> = (0..conns)
        .map(|c| {
            let frame = request(
                "subir",
                Data::dict([
                    ("nombre", Data::str(format!("subida-{c}.bin"))),
                    ("contenido", Data::Bytes(content.to_vec())),
                    ("reemplazar", Data::Bool(true)),
                ]),
            );
            std::thread::spawn(move || -> Result<u64> {
                let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
                s.set_nodelay(true).map_err(|e| e.to_string())?;
                let mut done = 0;
                while Instant::now() < deadline {
                    let reply = fetch_on(&mut s, &frame)?;
                    let parsed = message::parse(&reply[4..], Limits::default()).map_err(|e| e.detail)?;
                    if parsed.estado != Value::String("ok".into()) {
                        return Err(format!("subir answered {:?}", parsed.data));
                    }
                    done += 1;
                }
                Ok(done)
            })
        })
        .collect();
    per_second(threads, span)
}

/// Writes per second from threads that each count theirs until the deadline `span` away.
fn per_second(threads: Vec<std::thread::JoinHandle<Result<u64>>>, span: Duration) -> Result<f64> {
    let started = Instant::now();
    let mut total = 0;
    for t in threads {
        total += t.join().map_err(|_| "a writing thread panicked".to_string())??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64().max(span.as_secs_f64()))
}

/// The same writes done by the bench itself, `conns` threads at once, in `folder`.
fn reference_rate(folder: &Path, content: &[u8], conns: usize, how: Flush, span: Duration) -> Result<f64> {
    let deadline = Instant::now() + span;
    let threads: Vec<_> = (0..conns)
        .map(|c| {
            let (folder, content) = (folder.to_path_buf(), content.to_vec());
            std::thread::spawn(move || {
                durable_loop(&folder, &content, c, how, deadline).map_err(|e| format!("reference write: {e}"))
            })
        })
        .collect();
    per_second(threads, span)
}

fn size_label(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{} MiB", size >> 20)
    } else {
        format!("{} KiB", size >> 10)
    }
}

/// One reference thread: the same file written under its own name until `deadline`.
fn durable_loop(
    folder: &Path,
    content: &[u8],
    c: usize,
    how: Flush,
    deadline: Instant,
) -> std::io::Result<u64> {
    let name = folder.join(format!("referencia-{c}.bin"));
    let staged = folder.join(format!(".referencia-{c}.tmp"));
    let mut done = 0;
    while Instant::now() < deadline {
        let mut f = File::create(&staged)?;
        f.write_all(content)?;
        if let Flush::Durable = how {
            f.sync_all()?;
        }
        drop(f);
        // What servidor does for `reemplazar`: one rename over the old file.
        std::fs::rename(&staged, &name)?;
        if let Flush::Durable = how {
            File::open(folder)?.sync_all()?;
        }
        done += 1;
    }
    Ok(done)
}
