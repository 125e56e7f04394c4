//! Fuzz target: name validation, and that no accepted name ever reaches outside the folder.
#![no_main]

use almacen::storage::Storage;
use almacen::testkit::name_stays_inside;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static STORAGE: Storage = {
        let dir = std::env::temp_dir().join(format!("almacen-fuzz-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), b"a").unwrap();
        std::fs::create_dir_all(dir.join("carpeta")).unwrap();
        let _ = std::os::unix::fs::symlink("/etc/passwd", dir.join("fuera"));
        Storage::open(&dir).unwrap()
    };
}

fuzz_target!(|data: &[u8]| {
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    STORAGE.with(|s| name_stays_inside(s, name, "a.txt"));
});
