//! A bounded randomized run in plain `cargo test`: a few hundred scripted connections, each
//! a random mix of good, broken and hostile frames over a socket that splits reads, says
//! WouldBlock and runs out of room at random. The fuzz targets explore the same driver
//! without bounds (see docs/security.md).

use super::{drive, scripted, tight_tuning};
use crate::message;
use crate::ops::Context;
use crate::pickle::{Data, Envelope};
use crate::storage::Storage;

/// A small deterministic generator (xorshift), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NAMES: [&str; 10] = [
    "a.txt",
    "b.bin",
    "nuevo",
    "..",
    "a/b",
    "",
    ".x",
    "ñandú.txt",
    "a\0b",
    "c (copia).txt",
];
const OPS: [&str; 14] = [
    "listar",
    "listar_detalle",
    "descargar",
    "subir",
    "subir_parte",
    "duplicar",
    "borrar",
    "renombrar",
    "suscribir",
    "clientes",
    "difundir",
    "mensaje",
    "bailar",
    "",
];

fn data(rng: &mut Rng) -> Data {
    let name = Data::str(*rng.pick(&NAMES));
    match rng.below(7) {
        0 => Data::None,
        1 => name,
        2 => Data::Int(rng.below(1000) as i64 - 10),
        3 => Data::dict([
            ("nombre", name),
            ("contenido", Data::Bytes(vec![b'z'; rng.below(3000)])),
            ("desde", Data::Int(rng.below(3) as i64 * 100)),
            ("fin", Data::Bool(rng.below(2) == 0)),
            ("reemplazar", Data::Bool(rng.below(2) == 0)),
        ]),
        4 => Data::dict([("nombre", name), ("nuevo", Data::str(*rng.pick(&NAMES)))]),
        5 => Data::dict([("para", Data::str("todos")), ("texto", Data::str("hola"))]),
        _ => Data::dict([
            ("nombre", name),
            ("desde", Data::Int(rng.below(5000) as i64)),
            ("largo", Data::Int(7)),
        ]),
    }
}

/// Thousands of random scripts: every request in a clean stream gets exactly one reply,
/// every frame written decodes, and nothing panics or spins.
#[test]
fn random_scripts_keep_every_invariant() {
    let dir = std::env::temp_dir().join(format!("almacen-random-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), b"hola").unwrap();
    let noise: Vec<u8> = (0..70_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(dir.join("b.bin"), noise).unwrap();
    let storage = Storage::open(&dir).unwrap();
    storage
        .prepare_staging(std::time::Duration::from_secs(3600))
        .unwrap();
    let tuning = tight_tuning();
    let mut ctx = Context::new(storage, tuning.max_frame);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut replies_seen = 0;
    for round in 0..4000 {
        let mut stream = Vec::new();
        let mut frames = 0;
        let mut clean = true;
        for _ in 0..1 + rng.below(6) {
            let env = if rng.below(4) == 0 {
                Envelope::Dict
            } else {
                Envelope::course()
            };
            let op = OPS[rng.below(OPS.len())];
            let mut frame = message::frame_request(&env, op, &data(&mut rng));
            match rng.below(10) {
                // A flipped byte: still a frame unless it hit the length.
                0 => {
                    let i = 4 + rng.below(frame.len() - 4);
                    frame[i] ^= 1 << rng.below(8);
                }
                // Garbage with a true length: answered with an error.
                1 => {
                    let junk: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
                    frame = (junk.len() as u32).to_be_bytes().to_vec();
                    frame.extend(junk);
                }
                // Cut short, or an absurd length: the stream ends or closes after it.
                2 => {
                    frame.truncate(rng.below(frame.len()));
                    clean = false;
                }
                3 => {
                    frame = vec![0xff, 0xff, 0xff, 0xff];
                    clean = false;
                }
                _ => {}
            }
            if frame.len() > tuning.max_frame + 4 {
                clean = false;
            }
            frames += 1;
            stream.extend(frame);
        }
        let plan: Vec<u8> = (0..rng.below(48)).map(|_| rng.next() as u8).collect();
        if plan.contains(&0xfe) {
            clean = false; // a reset drops the rest
        }
        let mut input = (plan.len() as u16).to_be_bytes().to_vec();
        input.extend(&plan);
        input.extend(&stream);
        let outcome = drive(scripted(&input), &mut ctx, &tuning);
        if clean {
            assert_eq!(
                outcome.replies.len(),
                frames,
                "round {round}: one reply per request"
            );
        }
        replies_seen += outcome.replies.len();
    }
    assert!(
        replies_seen > 8000,
        "the generator should mostly make answerable requests"
    );
    drop(ctx);
    let _ = std::fs::remove_dir_all(&dir);
}
