//! The pre-scan: one linear walk over a pickle that decides whether it is safe to decode.
//!
//! A pickle is a little stack-machine program. Python runs it, which is how a client's
//! pickle once ran `os.system` on the course's server. We never run anything, but even a
//! plain decoder can be made to allocate gigabytes (a flood of MARKs), to recurse until the
//! process aborts (deeply nested lists), or to copy one value again and again (memo gets of
//! a shared container). So before `serde-pickle` sees a payload, this module walks it once,
//! opcode by opcode, keeping a *shadow* stack that records only how deep and how heavy each
//! item is. It refuses:
//!
//! - opcodes outside an allow-list (persistent ids, extension registry, INST/OBJ, buffers,
//!   floats: a NaN set member or dict key breaks the order serde-pickle sorts by);
//! - globals other than the class `Mensaje` and the few helpers CPython itself uses to
//!   spell plain data in old protocols (`copy_reg._reconstructor`, `object`, `_codecs.encode`);
//! - DUP, and memo gets of containers (so the decoded value is a tree, never a DAG that
//!   expands exponentially);
//! - nesting deeper than a small limit, too many items at once, too many memo gets;
//! - any length field that points past the end of the payload.
//!
//! It also reports the class (`module.Mensaje`) the request used, because the reply has to
//! name the same class for the client's `pickle.loads` to give it back `.data` and `.estado`.

use super::opcodes as op;
use std::fmt;
use std::ops::Range;

/// Bounds for one payload. The defaults are far above anything the protocol needs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Containers inside containers, plus open MARKs.
    pub max_depth: usize,
    /// Items on the stack at one time.
    pub max_stack: usize,
    /// Highest memo slot a PUT may use.
    pub max_memo: usize,
    /// Memo gets in one payload.
    pub max_gets: usize,
    /// Bytes that memo gets may copy, in total.
    pub max_copied: usize,
    /// Items pushed in one payload, in total (each becomes a decoded value).
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 32,
            max_stack: 4096,
            max_memo: 4096,
            max_gets: 1024,
            max_copied: 64 * 1024,
            max_items: 100_000,
        }
    }
}

/// Why a payload was refused. Positions are byte offsets into the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanError {
    Truncated,
    Empty,
    Opcode { op: u8, at: usize },
    Global { module: String, name: String },
    BadArgument { at: usize },
    TooDeep { at: usize },
    TooManyItems { at: usize },
    Memo { at: usize },
    StackUnderflow { at: usize },
    Trailing { at: usize },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::Truncated => write!(f, "the pickle ends before STOP"),
            ScanError::Empty => write!(f, "empty payload"),
            ScanError::Opcode { op, at } => write!(f, "opcode 0x{op:02x} at {at} is not allowed"),
            ScanError::Global { module, name } => write!(f, "global {module}.{name} is not allowed"),
            ScanError::BadArgument { at } => write!(f, "malformed argument at {at}"),
            ScanError::TooDeep { at } => write!(f, "nesting too deep at {at}"),
            ScanError::TooManyItems { at } => write!(f, "too many items at {at}"),
            ScanError::Memo { at } => write!(f, "memo use not allowed at {at}"),
            ScanError::StackUnderflow { at } => write!(f, "stack underflow at {at}"),
            ScanError::Trailing { at } => write!(f, "bytes after STOP at {at}"),
        }
    }
}

/// What the scan learned about an acceptable payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Scan {
    /// The protocol from a PROTO opcode (0 or 1 when there is none).
    pub protocol: u8,
    /// `(module, name)` of the root object's class, when it is a `Mensaje` instance.
    pub class: Option<(String, String)>,
    /// The largest bytes value, when it is big enough to be worth not copying (an
    /// upload's `contenido`).
    pub blob: Option<Blob>,
}

/// Where a large bytes value sits in the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blob {
    /// The whole opcode: its byte, its length field and the bytes.
    pub opcode: Range<usize>,
    /// Just the bytes.
    pub data: Range<usize>,
}

/// Bytes values at least this long are reported as a [`Blob`].
pub(crate) const BLOB_MIN: usize = 64 * 1024;

/// What the shadow stack remembers about one item.
#[derive(Debug, Clone)]
struct Item {
    /// 0 for a scalar, 1 for an empty container, one more per level inside.
    depth: usize,
    /// Bytes the item carries (strings, bytes); a memo get copies this many.
    weight: usize,
    /// For short text items: where the text sits in the payload (STACK_GLOBAL needs it).
    text: Option<Range<usize>>,
    /// A class or function named by GLOBAL/STACK_GLOBAL.
    global: bool,
    /// A `Mensaje` class, an instance made from one, or a tuple holding one (protocol 0
    /// builds instances from `(class, object, None)`): an index into `Walker::classes`.
    class: Option<u8>,
    /// Already stored in the memo. serde-pickle moves a value into the memo on its first
    /// PUT and clones it on every later one, so a second PUT of the same item is refused
    /// (CPython never writes one).
    memoized: bool,
}

impl Item {
    fn scalar(weight: usize) -> Item {
        Item {
            depth: 0,
            weight,
            text: None,
            global: false,
            class: None,
            memoized: false,
        }
    }
    fn container(depth: usize) -> Item {
        Item {
            depth,
            weight: 0,
            text: None,
            global: false,
            class: None,
            memoized: false,
        }
    }
    fn instance(depth: usize, class: Option<u8>) -> Item {
        Item {
            class,
            ..Item::container(depth)
        }
    }
}

/// Longest text line (protocol 0 arguments) we accept.
const MAX_LINE: usize = 256;
/// How many `Mensaje` classes one pickle may name and still have its root's class known.
const MAX_CLASSES: usize = 8;
/// Longest LONG1/LONG4 integer, in bytes.
const MAX_LONG_BYTES: usize = 64;

/// The globals a request may name. Everything else is refused.
fn allowed_global(module: &str, name: &str) -> bool {
    match (module, name) {
        ("copy_reg" | "copyreg", "_reconstructor") => true,
        ("__builtin__" | "builtins", "object") => true,
        ("_codecs", "encode") => true,
        (m, "Mensaje") => is_dotted_identifier(m),
        _ => false,
    }
}

/// `a.b_c.d`: what a Python module path looks like (ASCII only, to keep it simple).
pub(crate) fn is_dotted_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
                && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        })
}

/// The walker's state. It lives only for one call of [`scan`].
struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: Limits,
    stack: Vec<Item>,
    /// Stack lengths at each open MARK.
    marks: Vec<usize>,
    memo: Vec<Option<Item>>,
    /// Filled memo slots. MEMOIZE stores at this index, as CPython and serde-pickle do
    /// (not at the highest slot + 1, which differs once a PUT leaves a gap).
    memo_filled: usize,
    /// `(module, name)` of each `Mensaje` class named, in order (a few at most).
    classes: Vec<(String, String)>,
    gets: usize,
    copied: usize,
    /// Items pushed so far.
    items: usize,
    result: Scan,
}

/// Walks `payload` once and says whether it is safe to decode.
pub(crate) fn scan(payload: &[u8], limits: Limits) -> Result<Scan, ScanError> {
    if payload.is_empty() {
        return Err(ScanError::Empty);
    }
    let mut w = Walker {
        buf: payload,
        pos: 0,
        limits,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: Vec::new(),
        memo_filled: 0,
        classes: Vec::new(),
        gets: 0,
        copied: 0,
        items: 0,
        result: Scan::default(),
    };
    w.run()?;
    Ok(w.result)
}

impl<'a> Walker<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ScanError> {
        let end = self.pos.checked_add(n).ok_or(ScanError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(ScanError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn take_u8(&mut self) -> Result<usize, ScanError> {
        Ok(self.take(1)?[0] as usize)
    }

    fn take_u32(&mut self) -> Result<usize, ScanError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn take_u64(&mut self) -> Result<u64, ScanError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length field followed by that many bytes; the length is checked against what is
    /// left *before* anything is taken, so a lying BINBYTES8 costs nothing.
    fn take_counted(&mut self, len: u64) -> Result<Range<usize>, ScanError> {
        let at = self.pos;
        let left = (self.buf.len() - self.pos) as u64;
        if len > left {
            return Err(ScanError::BadArgument { at });
        }
        let start = self.pos;
        self.take(len as usize)?;
        Ok(start..self.pos)
    }

    /// A protocol-0 argument: text up to a newline.
    fn take_line(&mut self) -> Result<Range<usize>, ScanError> {
        let start = self.pos;
        let rest = &self.buf[self.pos..];
        let window = &rest[..rest.len().min(MAX_LINE + 1)];
        match window.iter().position(|&b| b == b'\n') {
            Some(n) => {
                self.pos += n + 1;
                Ok(start..start + n)
            }
            None if rest.len() <= MAX_LINE => Err(ScanError::Truncated),
            None => Err(ScanError::BadArgument { at: start }),
        }
    }

    /// A protocol-0 memo index: a decimal number on a line.
    fn line_index(&mut self, at: usize) -> Result<usize, ScanError> {
        let line = self.take_line()?;
        self.line_text(line, at)?
            .parse::<usize>()
            .map_err(|_| ScanError::BadArgument { at })
    }

    fn line_text(&self, r: Range<usize>, at: usize) -> Result<&'a str, ScanError> {
        std::str::from_utf8(&self.buf[r]).map_err(|_| ScanError::BadArgument { at })
    }

    fn push(&mut self, item: Item, at: usize) -> Result<(), ScanError> {
        self.items += 1;
        if self.stack.len() >= self.limits.max_stack || self.items > self.limits.max_items {
            return Err(ScanError::TooManyItems { at });
        }
        if item.depth + self.marks.len() > self.limits.max_depth {
            return Err(ScanError::TooDeep { at });
        }
        self.stack.push(item);
        Ok(())
    }

    /// Pops one item that sits above the top MARK.
    fn pop(&mut self, at: usize) -> Result<Item, ScanError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(ScanError::StackUnderflow { at });
        }
        Ok(self.stack.pop().expect("checked above"))
    }

    /// Pops everything down to the top MARK; returns the deepest item among them.
    fn pop_mark(&mut self, at: usize) -> Result<usize, ScanError> {
        Ok(self.pop_mark_with_class(at)?.0)
    }

    /// Like [`Walker::pop_mark`], also returning the first class among the items.
    fn pop_mark_with_class(&mut self, at: usize) -> Result<(usize, Option<u8>), ScanError> {
        let floor = self.marks.pop().ok_or(ScanError::StackUnderflow { at })?;
        let depth = self.stack[floor..].iter().map(|i| i.depth).max().unwrap_or(0);
        let class = self.stack[floor..].iter().find_map(|i| i.class);
        self.stack.truncate(floor);
        Ok((depth, class))
    }

    /// Puts `depth` worth of items into the container on top of the stack.
    fn fill_top(&mut self, inner_depth: usize, at: usize) -> Result<(), ScanError> {
        let marks = self.marks.len();
        let max = self.limits.max_depth;
        let top = self.pop(at)?;
        let depth = top.depth.max(inner_depth + 1);
        if depth + marks > max {
            return Err(ScanError::TooDeep { at });
        }
        self.stack.push(Item { depth, ..top });
        Ok(())
    }

    fn memo_put(&mut self, index: usize, at: usize) -> Result<(), ScanError> {
        if index >= self.limits.max_memo {
            return Err(ScanError::Memo { at });
        }
        let floor = self.marks.last().copied().unwrap_or(0);
        let above_mark = self.stack.len() > floor;
        let top = match self.stack.last_mut() {
            Some(item) if above_mark && !item.memoized => {
                item.memoized = true;
                item.clone()
            }
            Some(_) if above_mark => return Err(ScanError::Memo { at }),
            _ => return Err(ScanError::StackUnderflow { at }),
        };
        if self.memo.len() <= index {
            self.memo.resize(index + 1, None);
        }
        if self.memo[index].is_none() {
            self.memo_filled += 1;
        }
        self.memo[index] = Some(top);
        Ok(())
    }

    fn memo_get(&mut self, index: usize, at: usize) -> Result<(), ScanError> {
        self.gets += 1;
        let item = match self.memo.get(index) {
            Some(Some(item)) => item.clone(),
            _ => return Err(ScanError::Memo { at }),
        };
        // Sharing a container would let a small pickle describe an exponentially large
        // tree once the decoder copies each reference; requests never need it.
        if item.depth > 0 || self.gets > self.limits.max_gets {
            return Err(ScanError::Memo { at });
        }
        self.copied += item.weight;
        if self.copied > self.limits.max_copied {
            return Err(ScanError::Memo { at });
        }
        self.push(item, at)
    }

    /// Remembers the largest bytes value seen, if it is big.
    fn note_blob(&mut self, at: usize, data: Range<usize>) {
        let bigger = self
            .result
            .blob
            .as_ref()
            .is_none_or(|b| b.data.len() < data.len());
        if data.len() >= BLOB_MIN && bigger {
            self.result.blob = Some(Blob {
                opcode: at..data.end,
                data,
            });
        }
    }

    fn global(&mut self, module: &str, name: &str, at: usize) -> Result<(), ScanError> {
        if !allowed_global(module, name) {
            return Err(ScanError::Global {
                module: module.chars().take(64).collect(),
                name: name.chars().take(64).collect(),
            });
        }
        let mut class = None;
        if name == "Mensaje" && self.classes.len() < MAX_CLASSES {
            class = Some(self.classes.len() as u8);
            self.classes.push((module.to_string(), name.to_string()));
        }
        self.push(
            Item {
                global: true,
                class,
                ..Item::scalar(0)
            },
            at,
        )
    }

    fn text(&mut self, range: Range<usize>, at: usize) -> Result<(), ScanError> {
        let weight = range.len();
        let text = (weight <= MAX_LINE).then_some(range);
        self.push(
            Item {
                text,
                ..Item::scalar(weight)
            },
            at,
        )
    }

    /// Walks opcode by opcode until STOP or the first refusal.
    fn run(&mut self) -> Result<(), ScanError> {
        loop {
            let at = self.pos;
            let code = self.take_u8().map_err(|_| ScanError::Truncated)? as u8;
            if code == op::STOP {
                return self.stop(at);
            }
            self.step(code, at)?;
        }
    }

    /// Hands one opcode to its family. Each family says whether the opcode is one of its
    /// own; an opcode no family takes is refused. That covers floats (no request needs
    /// one, and a NaN among set members or dict keys breaks the total order serde-pickle
    /// sorts them by, which makes the sort panic: found by fuzzing), DUP, PERSID,
    /// BINPERSID, INST, OBJ, EXT1/2/4, NEWOBJ_EX, NEXT_BUFFER, READONLY_BUFFER and
    /// anything unknown.
    ///
    /// The families are marked `#[inline(always)]` so the chain compiles back into one
    /// jump per opcode: without it, small requests scanned about 40% slower.
    fn step(&mut self, code: u8, at: usize) -> Result<(), ScanError> {
        let known = self.control(code, at)?
            || self.number(code, at)?
            || self.bytes(code, at)?
            || self.unicode(code, at)?
            || self.new_container(code, at)?
            || self.fill_container(code, at)?
            || self.object(code, at)?
            || self.memo(code, at)?;
        if known {
            Ok(())
        } else {
            Err(ScanError::Opcode { op: code, at })
        }
    }

    /// STOP: exactly one item left, no MARK open, nothing after it.
    fn stop(&mut self, at: usize) -> Result<(), ScanError> {
        if self.stack.len() != 1 || !self.marks.is_empty() {
            return Err(ScanError::StackUnderflow { at });
        }
        if self.pos != self.buf.len() {
            return Err(ScanError::Trailing { at: self.pos });
        }
        // The reply names the class of the root object, not of something nested in it.
        let root = self.stack[0].class;
        self.result.class = root.map(|i| self.classes[i as usize].clone());
        Ok(())
    }

    /// PROTO and FRAME, which only describe the pickle, and the stack-machine opcodes
    /// MARK, POP and POP_MARK.
    #[inline(always)]
    fn control(&mut self, code: u8, at: usize) -> Result<bool, ScanError> {
        match code {
            op::PROTO => {
                let v = self.take_u8()?;
                if v > 5 || at != 0 {
                    return Err(ScanError::BadArgument { at });
                }
                self.result.protocol = v as u8;
            }
            // FRAME only says how the writer batched its output. It is a hint; bytes of
            // 64 KiB or more are written outside any frame, so we check nothing else.
            op::FRAME => {
                self.take(8)?;
            }
            op::MARK => {
                if self.marks.len() + 1 > self.limits.max_depth {
                    return Err(ScanError::TooDeep { at });
                }
                self.marks.push(self.stack.len());
            }
            op::POP => {
                let floor = self.marks.last().copied();
                if floor == Some(self.stack.len()) {
                    self.marks.pop();
                } else {
                    self.pop(at)?;
                }
            }
            op::POP_MARK => {
                self.pop_mark(at)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// None, booleans and integers: each pushes a weightless scalar.
    #[inline(always)]
    fn number(&mut self, code: u8, at: usize) -> Result<bool, ScanError> {
        match code {
            op::NONE | op::NEWTRUE | op::NEWFALSE => {}
            op::BININT1 => {
                self.take(1)?;
            }
            op::BININT2 => {
                self.take(2)?;
            }
            op::BININT => {
                self.take(4)?;
            }
            op::INT | op::LONG => {
                let line = self.take_line()?;
                if line.len() > MAX_LONG_BYTES * 3 {
                    return Err(ScanError::BadArgument { at });
                }
            }
            op::LONG1 | op::LONG4 => {
                let n = if code == op::LONG1 {
                    self.take_u8()?
                } else {
                    self.take_u32()?
                };
                if n > MAX_LONG_BYTES {
                    return Err(ScanError::BadArgument { at });
                }
                self.take_counted(n as u64)?;
            }
            _ => return Ok(false),
        }
        self.push(Item::scalar(0), at)?;
        Ok(true)
    }

    /// Python 2 strings, bytes and bytearrays: a scalar as heavy as its bytes. A big
    /// `bytes` value is also noted as the payload's blob.
    #[inline(always)]
    fn bytes(&mut self, code: u8, at: usize) -> Result<bool, ScanError> {
        let r = match code {
            op::STRING => self.take_line()?,
            op::SHORT_BINSTRING | op::SHORT_BINBYTES => {
                let n = self.take_u8()?;
                self.take_counted(n as u64)?
            }
            op::BINSTRING | op::BINBYTES => {
                let n = self.take_u32()?;
                self.take_counted(n as u64)?
            }
            op::BINBYTES8 | op::BYTEARRAY8 => {
                let n = self.take_u64()?;
                self.take_counted(n)?
            }
            _ => return Ok(false),
        };
        if code == op::BINBYTES || code == op::BINBYTES8 {
            self.note_blob(at, r.clone());
        }
        self.push(Item::scalar(r.len()), at)?;
        Ok(true)
    }

    /// str values. Short plain ones remember where they sit, so STACK_GLOBAL can read a
    /// class name from them.
    #[inline(always)]
    fn unicode(&mut self, code: u8, at: usize) -> Result<bool, ScanError> {
        let r = match code {
            op::UNICODE => {
                let line = self.take_line()?;
                // Protocol 0 text is raw-unicode-escaped; only plain lines can name a class.
                if self.buf[line.clone()].contains(&b'\\') {
                    self.push(Item::scalar(line.len()), at)?;
                    return Ok(true);
                }
                line
            }
            op::SHORT_BINUNICODE => {
                let n = self.take_u8()?;
                self.take_counted(n as u64)?
            }
            op::BINUNICODE => {
                let n = self.take_u32()?;
                self.take_counted(n as u64)?
            }
            op::BINUNICODE8 => {
                let n = self.take_u64()?;
                self.take_counted(n)?
            }
            _ => return Ok(false),
        };
        self.text(r, at)?;
        Ok(true)
    }

    /// Opcodes that push a new container: empty, or made of the items above a MARK (or
    /// of the top one to three items, for the short tuples).
    #[inline(always)]
    fn new_container(&mut self, code: u8, at: usize) -> Result<bool, ScanError> {
        let item = match code {
            op::EMPTY_LIST | op::EMPTY_DICT | op::EMPTY_TUPLE | op::EMPTY_SET => Item::container(1),
            op::LIST | op::DICT | op::FROZENSET => {
                let inner = self.pop_mark(at)?;
                Item::container(inner + 1)
            }
            op::TUPLE => {
                let (inner, class) = self.pop_mark_with_class(at)?;
                Item::instance(inner + 1, class)
            }
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = (code - op::TUPLE1 + 1) as usize;
                let mut inner = 0;
                let mut class = None;
                for _ in 0..n {
                    let item = self.pop(at)?;
                    inner = inner.max(item.depth);
                    class = item.class.or(class);
                }
                Item::instance(inner + 1, class)
            }
            _ => return Ok(false),
        };
        self.push(item, at)?;
        Ok(true)
    }

    /// Opcodes that put items into the container below them (BUILD puts an object's
    /// state into it).
    #[inline(always)]
    fn fill_container(&mut self, code: u8, at: usize) -> Result<bool, ScanError> {
        let inner = match code {
            op::APPEND => self.pop(at)?.depth,
            op::SETITEM => {
                let value = self.pop(at)?;
                let key = self.pop(at)?;
                value.depth.max(key.depth)
            }
            op::APPENDS | op::SETITEMS | op::ADDITEMS => self.pop_mark(at)?,
            op::BUILD => self.pop(at)?.depth.saturating_sub(1),
            _ => return Ok(false),
        };
        self.fill_top(inner, at)?;
        Ok(true)
    }

    /// Naming a global (only the allowed few), and calling one to make an object.
    #[inline(always)]
    fn object(&mut self, code: u8, at: usize) -> Result<bool, ScanError> {
        match code {
            op::GLOBAL => {
                let m = self.take_line()?;
                let n = self.take_line()?;
                let module = self.line_text(m, at)?;
                let name = self.line_text(n, at)?;
                self.global(module, name, at)?;
            }
            op::STACK_GLOBAL => {
                let name = self.pop(at)?;
                let module = self.pop(at)?;
                let (Some(n), Some(m)) = (name.text, module.text) else {
                    return Err(ScanError::BadArgument { at });
                };
                let name = self.line_text(n, at)?;
                let module = self.line_text(m, at)?;
                self.global(module, name, at)?;
            }
            op::REDUCE | op::NEWOBJ => {
                let args = self.pop(at)?;
                let callable = self.pop(at)?;
                if !callable.global {
                    return Err(ScanError::BadArgument { at });
                }
                // `Mensaje(...)` keeps the class; protocol 0's `_reconstructor` call takes
                // it from its argument tuple `(class, object, None)`.
                let class = match code {
                    op::REDUCE => callable.class.or(args.class),
                    _ => callable.class,
                };
                self.push(Item::instance(args.depth.max(1), class), at)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Storing the top item in the memo, and pushing a copy of a stored one.
    #[inline(always)]
    fn memo(&mut self, code: u8, at: usize) -> Result<bool, ScanError> {
        match code {
            op::PUT => {
                let index = self.line_index(at)?;
                self.memo_put(index, at)?;
            }
            op::BINPUT => {
                let index = self.take_u8()?;
                self.memo_put(index, at)?;
            }
            op::LONG_BINPUT => {
                let index = self.take_u32()?;
                self.memo_put(index, at)?;
            }
            op::MEMOIZE => {
                let index = self.memo_filled;
                self.memo_put(index, at)?;
            }
            op::GET => {
                let index = self.line_index(at)?;
                self.memo_get(index, at)?;
            }
            op::BINGET => {
                let index = self.take_u8()?;
                self.memo_get(index, at)?;
            }
            op::LONG_BINGET => {
                let index = self.take_u32()?;
                self.memo_get(index, at)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
