//! Fuzz target: one connection state machine over a scripted socket, with the real
//! operations over a scratch folder. The input picks read sizes, WouldBlock, Interrupted,
//! send-buffer room and resets (see `almacen::testkit::scripted`).
#![no_main]

use almacen::testkit::{context, drive, scripted, tight_tuning, Context};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::path::PathBuf;

struct Fixture {
    dir: PathBuf,
    ctx: Context,
    runs: u64,
}

thread_local! {
    static FIXTURE: RefCell<Option<Fixture>> = const { RefCell::new(None) };
}

fn fresh() -> Fixture {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    let dir = PathBuf::from(base).join(format!("almacen-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), b"hola").unwrap();
    std::fs::write(dir.join("b.bin"), vec![7u8; 70_000]).unwrap();
    let ctx = context(&dir, tight_tuning().max_frame);
    Fixture { dir, ctx, runs: 0 }
}

fuzz_target!(|data: &[u8]| {
    FIXTURE.with(|f| {
        let mut f = f.borrow_mut();
        // Uploads accumulate files; start over now and then so the folder stays small.
        if f.as_ref().is_none_or(|f| f.runs >= 2000) {
            if let Some(old) = f.take() {
                let _ = std::fs::remove_dir_all(&old.dir);
            }
            *f = Some(fresh());
        }
        let fx = f.as_mut().unwrap();
        fx.runs += 1;
        drive(scripted(data), &mut fx.ctx, &tight_tuning());
    });
});
