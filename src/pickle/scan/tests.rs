//! Pre-scan and decoder tests on byte slices: real CPython layouts pass, bombs are refused.

use super::*;
use crate::message;
use crate::pickle::{decode, Envelope, Value};

// Pickles made by CPython 3.11 (`pickle.dumps(..., protocol=N).hex()`).
const COURSE_P0: &str =
    "63636f70795f7265670a5f7265636f6e7374727563746f720a70300a28635f5f6d61696e5f5f0a4d656e73616a650a70310a635f5f6275696c74696e5f5f0a6f626a6563740a70320a4e7470330a5270340a286470350a566f7065726163696f6e0a70360a566465736361726761720a70370a7356646174610a70380a56706f656d612e7478740a70390a735665737461646f0a7031300a4e73622e";
const COURSE_P1: &str =
    "63636f70795f7265670a5f7265636f6e7374727563746f720a710028635f5f6d61696e5f5f0a4d656e73616a650a7101635f5f6275696c74696e5f5f0a6f626a6563740a71024e7471035271047d71052858090000006f7065726163696f6e71065809000000646573636172676172710758040000006461746171085809000000706f656d612e7478747109580600000065737461646f710a4e75622e";
const COURSE_P2: &str =
    "8002635f5f6d61696e5f5f0a4d656e73616a650a7100298171017d71022858090000006f7065726163696f6e71035809000000646573636172676172710458040000006461746171055809000000706f656d612e7478747106580600000065737461646f71074e75622e";
const COURSE_P3: &str =
    "8003635f5f6d61696e5f5f0a4d656e73616a650a7100298171017d71022858090000006f7065726163696f6e71035809000000646573636172676172710458040000006461746171055809000000706f656d612e7478747106580600000065737461646f71074e75622e";
const COURSE_P4: &str =
    "80049555000000000000008c085f5f6d61696e5f5f948c074d656e73616a659493942981947d94288c096f7065726163696f6e948c09646573636172676172948c0464617461948c09706f656d612e747874948c0665737461646f944e75622e";
const COURSE_P5: &str =
    "80059555000000000000008c085f5f6d61696e5f5f948c074d656e73616a659493942981947d94288c096f7065726163696f6e948c09646573636172676172948c0464617461948c09706f656d612e747874948c0665737461646f944e75622e";
const DICT_P0: &str =
    "286470300a566f7065726163696f6e0a70310a566c69737461720a70320a7356646174610a70330a4e735665737461646f0a70340a4e732e";
const DICT_P2: &str =
    "80027d71002858090000006f7065726163696f6e710158060000006c6973746172710258040000006461746171034e580600000065737461646f71044e752e";
const DICT_P4: &str =
    "8004952c000000000000007d94288c096f7065726163696f6e948c066c6973746172948c0464617461944e8c0665737461646f944e752e";
const NESTED_P2: &str =
    "8002635f5f6d61696e5f5f0a4d656e73616a650a7100298171017d71022858090000006f7065726163696f6e710358050000007375626972710458040000006461746171057d71062858060000006e6f6d62726571075805000000612e74787471085809000000636f6e74656e69646f7109635f636f646563730a656e636f64650a710a5805000000686f6c6100710b58060000006c6174696e31710c86710d52710e58050000006465736465710f4b03580300000066696e71108875580600000065737461646f71114e75622e";
const NESTED_P3: &str =
    "8003635f5f6d61696e5f5f0a4d656e73616a650a7100298171017d71022858090000006f7065726163696f6e710358050000007375626972710458040000006461746171057d71062858060000006e6f6d62726571075805000000612e74787471085809000000636f6e74656e69646f71094305686f6c6100710a58050000006465736465710b4b03580300000066696e710c8875580600000065737461646f710d4e75622e";
const NESTED_P4: &str =
    "8004957f000000000000008c085f5f6d61696e5f5f948c074d656e73616a659493942981947d94288c096f7065726163696f6e948c057375626972948c0464617461947d94288c066e6f6d627265948c05612e747874948c09636f6e74656e69646f944305686f6c6100948c056465736465944b038c0366696e9488758c0665737461646f944e75622e";
const MODULE_CLIENTE: &str =
    "80049546000000000000008c07636c69656e7465948c074d656e73616a659493942981947d94288c096f7065726163696f6e948c066c6973746172948c0464617461944e8c0665737461646f944e75622e";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn limits() -> Limits {
    Limits::default()
}

/// The course's `Mensaje("descargar", "poema.txt")` decodes in every protocol, 0 to 5.
#[test]
fn course_layouts_decode_in_every_protocol() {
    for (p, hex) in [COURSE_P0, COURSE_P1, COURSE_P2, COURSE_P3, COURSE_P4, COURSE_P5]
        .iter()
        .enumerate()
    {
        let payload = unhex(hex);
        let req = message::parse(&payload, limits()).unwrap_or_else(|e| panic!("protocol {p}: {e:?}"));
        assert_eq!(req.operacion, "descargar", "protocol {p}");
        assert_eq!(req.data, Value::String("poema.txt".into()), "protocol {p}");
        assert_eq!(req.envelope, Envelope::course(), "protocol {p}");
    }
}

/// The hex in the issue (CPython 3.11, protocol 4) is byte for byte what we test with.
#[test]
fn the_documented_layout_is_the_protocol_4_fixture() {
    let documented = "80049555000000000000008c085f5f6d61696e5f5f948c074d656e73616a659493942981947d94288c096f7065726163696f6e948c09646573636172676172948c0464617461948c09706f656d612e747874948c0665737461646f944e75622e";
    assert_eq!(COURSE_P4, documented);
    assert_eq!(scan(&unhex(documented), limits()).unwrap().protocol, 4);
}

/// A plain dict is a request too, and its reply envelope is a dict.
#[test]
fn plain_dict_requests_decode_with_a_dict_envelope() {
    for hex in [DICT_P0, DICT_P2, DICT_P4] {
        let payload = unhex(hex);
        let req = message::parse(&payload, limits()).unwrap();
        assert_eq!(req.operacion, "listar");
        assert_eq!(req.envelope, Envelope::Dict);
    }
}

/// Nested data (a dict with bytes, ints and bools) survives protocols 2 to 4.
#[test]
fn nested_data_with_bytes_decodes() {
    for hex in [NESTED_P2, NESTED_P3, NESTED_P4] {
        let payload = unhex(hex);
        let req = message::parse(&payload, limits()).unwrap();
        assert_eq!(req.operacion, "subir");
        let contenido = decode::get(&req.data, "contenido").unwrap();
        assert_eq!(contenido, &Value::Bytes(b"hola\0".to_vec()));
        assert_eq!(decode::get(&req.data, "desde"), Some(&Value::I64(3)));
        assert_eq!(decode::get(&req.data, "fin"), Some(&Value::Bool(true)));
    }
}

/// A client imported as a module names its class `cliente.Mensaje`; the reply must too.
#[test]
fn the_class_module_is_remembered_for_the_reply() {
    let payload = unhex(MODULE_CLIENTE);
    let req = message::parse(&payload, limits()).unwrap();
    assert_eq!(
        req.envelope,
        Envelope::Instance {
            module: "cliente".into(),
            name: "Mensaje".into()
        }
    );
}

/// What we encode, we (and serde-pickle) read back, with the same class.
#[test]
fn our_replies_decode_back() {
    use crate::pickle::Data;
    let data = Data::dict([
        (
            "nombres",
            Data::List(vec![Data::str("a"), Data::str("ñ".repeat(300))]),
        ),
        ("bytes", Data::Bytes(vec![7; 70_000])),
        ("grande", Data::Int(1 << 40)),
        ("negativo", Data::Int(-5)),
        ("si", Data::Bool(true)),
        ("nada", Data::None),
    ]);
    for env in [Envelope::course(), Envelope::Dict] {
        let frame = message::ok(&env, "x", &data);
        let req = message::parse(&frame[4..], limits()).unwrap();
        assert_eq!(req.envelope, env);
        assert_eq!(decode::get(&req.data, "grande"), Some(&Value::I64(1 << 40)));
        assert_eq!(decode::get(&req.data, "negativo"), Some(&Value::I64(-5)));
        // The big bytes were not copied: the request points into the payload for them.
        let big = decode::get(&req.data, "bytes").unwrap();
        assert_eq!(big, &Value::Bytes(decode::blob_mark().to_vec()));
        assert_eq!(req.bytes_of(big), Some(&[7u8; 70_000][..]));
        let (start, blob) = (frame.as_ptr() as usize, req.blob.unwrap());
        let at = blob.as_ptr() as usize;
        assert!(
            at >= start && at + blob.len() <= start + frame.len(),
            "inside the frame"
        );
    }
}

/// Bytes of 64 KiB or more sit outside any FRAME; FRAME is only a hint.
#[test]
fn bytes_outside_a_frame_are_fine() {
    let mut p = vec![0x80, 4, 0x95];
    p.extend_from_slice(&3u64.to_le_bytes());
    p.extend_from_slice(&[b'}', b'(', 0x8c, 1, b'd']); // EMPTY_DICT MARK 'd'
    p.push(0x8e); // BINBYTES8
    p.extend_from_slice(&70_000u64.to_le_bytes());
    p.extend(std::iter::repeat_n(9u8, 70_000));
    p.extend_from_slice(b"u.");
    scan(&p, limits()).unwrap();
}

fn refused(p: &[u8]) -> ScanError {
    scan(p, limits()).expect_err("should be refused")
}

/// One megabyte of MARK opcodes is refused at the depth limit, right away.
#[test]
fn mark_flood_is_refused() {
    let mut p = vec![0x80, 4];
    p.extend(std::iter::repeat_n(b'(', 1 << 20));
    assert!(matches!(refused(&p), ScanError::TooDeep { .. }));
}

/// Deeply nested lists (7,000 and 200,000 levels) are refused before any decoding.
#[test]
fn deep_nesting_is_refused() {
    for levels in [7_000, 200_000] {
        let mut p = vec![0x80, 4];
        for _ in 0..levels {
            p.extend_from_slice(b"](");
        }
        assert!(matches!(refused(&p), ScanError::TooDeep { .. }), "{levels}");
        // Nesting by APPEND (no marks left open) is caught too.
        let mut q = vec![0x80, 4];
        q.extend(std::iter::repeat_n(b']', 100));
        q.extend(std::iter::repeat_n(b'a', 99));
        q.push(b'.');
        assert!(matches!(refused(&q), ScanError::TooDeep { .. }));
    }
}

/// DUP is refused outright, and memo gets of containers (the exponential copy) too.
#[test]
fn dup_and_shared_containers_are_refused() {
    assert!(matches!(
        refused(b"\x80\x04]2."),
        ScanError::Opcode { op: b'2', .. }
    ));
    // a = []; memo; b = [a, a] via BINGET
    let p = b"\x80\x04]\x94](h\x00h\x00e.";
    assert!(matches!(refused(p), ScanError::Memo { .. }));
}

/// Thousands of memo gets of a big string are capped (each get would copy it).
#[test]
fn memo_get_chains_are_capped() {
    let mut p = vec![0x80, 4, b']', b'(', b'X'];
    p.extend_from_slice(&1000u32.to_le_bytes());
    p.extend(std::iter::repeat_n(b'x', 1000));
    p.push(0x94);
    for _ in 0..2000 {
        p.extend_from_slice(&[b'h', 0]);
    }
    p.extend_from_slice(b"e.");
    assert!(matches!(refused(&p), ScanError::Memo { .. }));
}

/// Length fields that point past the end are refused without allocating.
#[test]
fn lying_lengths_are_refused() {
    let mut p = vec![0x80, 4, 0x8e];
    p.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(refused(&p), ScanError::BadArgument { .. }));
    let mut q = vec![0x80, 3, b'B'];
    q.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    q.extend_from_slice(b"short.");
    assert!(matches!(refused(&q), ScanError::BadArgument { .. }));
}

/// A pickle that would run `os.system` when unpickled names a global we refuse.
#[test]
fn code_execution_globals_are_refused() {
    let p = b"\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c\x02id\x85R.";
    assert!(matches!(refused(p), ScanError::Global { .. }));
    let q = b"cos\nsystem\n(S'id'\ntR.";
    assert!(matches!(refused(q), ScanError::Global { .. }));
    let r = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
    assert!(matches!(refused(r), ScanError::Global { .. }));
}

/// Persistent ids, extensions, INST/OBJ and out-of-band buffers are not allowed.
#[test]
fn exotic_opcodes_are_refused() {
    for p in [
        &b"Pfoo\n."[..],
        b"\x80\x02\x82\x01.",
        b"\x80\x05\x97.",
        b"(i__main__\nX\n.",
    ] {
        assert!(matches!(refused(p), ScanError::Opcode { .. }), "{p:?}");
    }
}

/// Truncated pickles, bytes after STOP and empty payloads are refused.
#[test]
fn malformed_payloads_are_refused() {
    let full = unhex(COURSE_P4);
    for cut in 0..full.len() - 1 {
        assert!(scan(&full[..cut], limits()).is_err(), "cut at {cut}");
    }
    let mut trailing = full.clone();
    trailing.push(b'x');
    assert!(matches!(refused(&trailing), ScanError::Trailing { .. }));
    assert_eq!(refused(b""), ScanError::Empty);
    assert!(refused(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .to_string()
        .contains("not allowed"));
}

/// A pickle whose root is not a dict or an instance is a bad request, with a Spanish message.
#[test]
fn non_message_roots_are_bad_requests() {
    let bad = message::parse(b"\x80\x04K\x05.", limits()).unwrap_err();
    assert!(bad.mensaje.contains("Mensaje"));
    let no_op = message::parse(b"\x80\x04}.", limits()).unwrap_err();
    assert!(no_op.mensaje.contains("operacion"));
}

/// MEMOIZE after a PUT that left a gap stores where CPython would (at the count of filled
/// slots), so gets of a big value behind the gap are counted and capped.
#[test]
fn memoize_after_a_gap_is_tracked_like_cpython() {
    let mut p = b"\x80\x04Nq\x010B".to_vec();
    p.extend_from_slice(&(1u32 << 20).to_le_bytes());
    p.extend(std::iter::repeat_n(b'x', 1 << 20));
    p.extend_from_slice(b"\x940](");
    for _ in 0..200 {
        p.extend_from_slice(b"h\x01");
    }
    p.extend_from_slice(b"e.");
    assert!(matches!(refused(&p), ScanError::Memo { .. }));
}

/// The reply's class is the root object's: a dict request that carries a `Mensaje` inside
/// its data still gets a dict reply.
#[test]
fn the_envelope_follows_the_root_not_a_nested_class() {
    // {"operacion": "listar", "data": __main__.Mensaje(), "estado": None}, protocol 4
    let p = b"\x80\x04}(\x8c\toperacion\x8c\x06listar\x8c\x04data\x8c\x08__main__\x8c\x07Mensaje\x93)\x81\x8c\x06estadoNu.";
    let req = message::parse(p, limits()).unwrap();
    assert_eq!(req.envelope, Envelope::Dict);
}

/// Floats are refused: a set of NaNs made serde-pickle's sort panic (a fuzzing find).
#[test]
fn floats_are_refused() {
    // frozenset-style: EMPTY_SET, MARK, BINFLOAT NaN x3, ADDITEMS
    let mut p = vec![0x80, 4, 0x8f, b'('];
    for _ in 0..3 {
        p.push(b'G');
        p.extend_from_slice(&f64::NAN.to_be_bytes());
    }
    p.extend_from_slice(&[0x90, b'.']);
    assert!(matches!(refused(&p), ScanError::Opcode { op: b'G', .. }));
    assert!(matches!(refused(b"F1.5\n."), ScanError::Opcode { op: b'F', .. }));
}

/// A second PUT of the same item is refused: serde-pickle clones the stored value on every
/// PUT after the first, so a few KB of PUTs could copy a big string thousands of times.
#[test]
fn repeated_memo_puts_are_refused() {
    let mut same_slot = vec![0x80, 4, b'X'];
    same_slot.extend_from_slice(&100_000u32.to_le_bytes());
    same_slot.extend(std::iter::repeat_n(b'a', 100_000));
    let mut many_slots = same_slot.clone();
    for _ in 0..3 {
        same_slot.extend_from_slice(b"q\x00");
    }
    same_slot.push(b'.');
    assert!(matches!(refused(&same_slot), ScanError::Memo { .. }));
    for i in 0..3u32 {
        many_slots.push(b'r');
        many_slots.extend_from_slice(&i.to_le_bytes());
    }
    many_slots.push(b'.');
    assert!(matches!(refused(&many_slots), ScanError::Memo { .. }));
    // A value fetched from the memo cannot be stored again either.
    assert!(matches!(
        refused(b"\x80\x04K\x01\x94h\x00\x94."),
        ScanError::Memo { .. }
    ));
}

/// Millions of small items, added one at a time so the stack never grows, are refused:
/// each would become a decoded value.
#[test]
fn item_floods_are_refused() {
    let mut p = vec![0x80, 4, b']'];
    for _ in 0..200_000 {
        p.extend_from_slice(b"Na");
    }
    p.push(b'.');
    assert!(matches!(refused(&p), ScanError::TooManyItems { .. }));
}

/// A client cannot forge the marker that stands for the big value: a literal value that
/// looks like an old fixed marker stays itself.
#[test]
fn the_blob_marker_cannot_be_forged() {
    use crate::pickle::Data;
    let forged = b"\0almacen:blob\0".to_vec();
    let data = Data::dict([
        ("contenido", Data::Bytes(forged.clone())),
        ("otro", Data::Bytes(vec![b'Z'; 70_000])),
    ]);
    let frame = message::frame_request(&Envelope::course(), "subir", &data);
    let req = message::parse(&frame[4..], limits()).unwrap();
    let contenido = decode::get(&req.data, "contenido").unwrap();
    assert_eq!(req.bytes_of(contenido), Some(&forged[..]));
    let otro = decode::get(&req.data, "otro").unwrap();
    assert_eq!(req.bytes_of(otro), Some(&[b'Z'; 70_000][..]));
}

/// Every small check of the walk refuses with its own reason, at the opcode that broke it.
#[test]
fn each_check_refuses_with_its_reason() {
    let long_int = [&b"I"[..], &[b'1'; 193], b"\n."].concat();
    let mut long1 = vec![0x80, 2, 0x8a, 65];
    long1.extend_from_slice(&[1; 65]);
    long1.push(b'.');
    let mut long4 = vec![0x80, 2, 0x8b];
    long4.extend_from_slice(&65u32.to_le_bytes());
    long4.extend_from_slice(&[1; 65]);
    long4.push(b'.');
    let long_line = [&b"S"[..], &[b'a'; 300], b"\n."].concat();
    let cases: [(&[u8], ScanError); 15] = [
        // PROTO comes first or not at all, and names a protocol that exists.
        (b"N\x80\x04.", ScanError::BadArgument { at: 1 }),
        (b"\x80\x06N.", ScanError::BadArgument { at: 0 }),
        // Integers: at most 64 bytes (192 digits in protocol 0).
        (&long_int, ScanError::BadArgument { at: 0 }),
        (&long1, ScanError::BadArgument { at: 2 }),
        (&long4, ScanError::BadArgument { at: 2 }),
        // Lines: a long one is malformed, a short unfinished one is cut off.
        (&long_line, ScanError::BadArgument { at: 1 }),
        (b"Sabc", ScanError::Truncated),
        // Only a named global can be called or instantiated.
        (b"\x80\x04N)R.", ScanError::BadArgument { at: 4 }),
        (b"\x80\x04N)\x81.", ScanError::BadArgument { at: 4 }),
        // Escaped protocol-0 text cannot name a class.
        (
            b"V__main__\nVMens\\u0061je\n\x93.",
            ScanError::BadArgument { at: 24 },
        ),
        // STOP with a MARK still open.
        (b"\x80\x04(N.", ScanError::StackUnderflow { at: 4 }),
        // The memo has 4096 slots.
        (b"\x80\x04Nr\x00\x10\x00\x00.", ScanError::Memo { at: 3 }),
        // Memo indexes in protocol 0 are decimal numbers.
        (b"Np-1\n.", ScanError::BadArgument { at: 1 }),
        (b"Ngx\n.", ScanError::BadArgument { at: 1 }),
        // A bare POP on an empty stack.
        (b"0.", ScanError::StackUnderflow { at: 0 }),
    ];
    for (p, want) in cases {
        assert_eq!(refused(p), want, "{p:?}");
    }
}

/// The bounds that sit just inside each check still pass, so the checks are not too eager.
#[test]
fn values_at_the_limits_pass() {
    let int = [&b"I"[..], &[b'1'; 192], b"\n."].concat();
    let mut long1 = vec![0x80, 2, 0x8a, 64];
    long1.extend_from_slice(&[1; 64]);
    long1.push(b'.');
    // POP right after a MARK takes the MARK away, as CPython does.
    let pop_mark = b"\x80\x04(0N.";
    let last_memo_slot = b"\x80\x04Nr\xff\x0f\x00\x00.";
    for p in [&int[..], &long1, pop_mark, last_memo_slot] {
        scan(p, limits()).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    }
}

/// The stack cap counts items on the stack at once, and BUILD fills an object with its
/// state's items without adding a level.
#[test]
fn stack_and_depth_limits_count_what_the_decoder_holds() {
    let three = Limits {
        max_stack: 3,
        ..limits()
    };
    scan(b"\x80\x04](NNe.", three).unwrap();
    assert_eq!(
        scan(b"\x80\x04](NNNe.", three),
        Err(ScanError::TooManyItems { at: 6 })
    );
    let flat = Limits {
        max_depth: 1,
        ..limits()
    };
    let built = scan(b"\x80\x02c__main__\nMensaje\n)\x81}b.", flat).unwrap();
    assert_eq!(built.class, Some(("__main__".into(), "Mensaje".into())));
}

/// The root's class is found however the pickle builds it: a plain protocol-0 line names
/// it, a short tuple carries it to `_reconstructor`, and a REDUCE prefers the class it
/// calls over one in its arguments. Past eight classes the root's class is not kept.
#[test]
fn the_root_class_is_found_in_every_construction() {
    let class = |p: &[u8]| scan(p, limits()).unwrap().class.map(|(m, _)| m);
    let by_lines = b"\x80\x04V__main__\nVMensaje\n\x93)\x81}b.";
    assert_eq!(class(by_lines).as_deref(), Some("__main__"));
    let short_tuple = b"\x80\x02ccopy_reg\n_reconstructor\ncm\nMensaje\nc__builtin__\nobject\nN\x87R}b.";
    assert_eq!(class(short_tuple).as_deref(), Some("m"));
    let reduce = b"\x80\x02ca\nMensaje\ncb\nMensaje\n\x85R.";
    assert_eq!(class(reduce).as_deref(), Some("a"));
    let mut many = b"\x80\x02".to_vec();
    for _ in 0..8 {
        many.extend_from_slice(b"c__main__\nMensaje\n0");
    }
    many.extend_from_slice(b"cninth\nMensaje\n)\x81}b.");
    assert_eq!(class(&many), None);
}

/// With two big bytes values, the larger one is the blob, whichever comes first.
#[test]
fn the_largest_bytes_value_is_the_blob() {
    let mut p = vec![0x80, 4, b']', b'('];
    for n in [80_000u32, 70_000] {
        p.push(b'B');
        p.extend_from_slice(&n.to_le_bytes());
        p.extend(std::iter::repeat_n(7u8, n as usize));
    }
    p.extend_from_slice(b"e.");
    let blob = scan(&p, limits()).unwrap().blob.unwrap();
    assert_eq!(blob.data, 9..80_009);
    assert_eq!(blob.opcode, 4..80_009);
}

/// Memo gets are capped by count too, even when each copies almost nothing.
#[test]
fn memo_gets_of_small_values_are_counted() {
    let gets = |n: usize| {
        let mut p = b"\x80\x04](K\x01\x94".to_vec();
        p.extend(std::iter::repeat_n(*b"h\x00", n).flatten());
        p.extend_from_slice(b"e.");
        scan(&p, limits())
    };
    gets(1024).unwrap();
    assert!(matches!(gets(1025), Err(ScanError::Memo { .. })));
}
