//! Fuzz target: name validation, and that no accepted name ever reaches outside the folder.
#![no_main]

use almacen::storage::{check_name, Storage};
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
    STORAGE.with(|s| check(s, name));
});

fn check(s: &Storage, name: &str) {
    match check_name(name) {
        Ok(()) => {
            assert!(!name.is_empty() && name.len() <= 255);
            assert!(!name.contains(['/', '\\', '\0']) && !name.starts_with('.'));
            let joined = s.root().join(name);
            assert_eq!(joined.parent(), Some(s.root()), "{name:?} leaves the folder");
            if let Ok((file, _)) = s.open_file(name) {
                // Whatever opened is a regular file inside the folder.
                let meta = file.metadata().unwrap();
                assert!(meta.is_file());
                assert!(name == "a.txt", "opened {name:?}");
            }
        }
        Err(msg) => {
            assert!(!msg.is_empty());
            assert!(s.open_file(name).is_err());
            assert!(!s.is_served_file(name));
        }
    }
}
