//! The pickle opcodes, by name: one table for the pre-scan that reads them and the encoder
//! that writes them.
//!
//! Each opcode is one byte; Python's `Lib/pickle.py` and `pickletools` give them these names
//! (the bytes are facts of the format). Protocol 0 and 1 opcodes are mostly printable ASCII,
//! which is why a protocol-0 pickle looks almost like text; protocol 2 and later added the
//! bytes from 0x80 up.

// The stack machine itself.
/// Pushes a marker that a later opcode collects everything above.
pub(crate) const MARK: u8 = b'(';
/// Ends the pickle; the one item left on the stack is the result.
pub(crate) const STOP: u8 = b'.';
/// Drops the top item.
pub(crate) const POP: u8 = b'0';
/// Drops everything down to the top MARK.
pub(crate) const POP_MARK: u8 = b'1';
/// Pushes the top item again (refused by the pre-scan: it would share a container).
#[allow(dead_code)] // named for the table; the pre-scan refuses it by omission
pub(crate) const DUP: u8 = b'2';
/// Protocol 2+: the first opcode, followed by the protocol number.
pub(crate) const PROTO: u8 = 0x80;
/// Protocol 4+: an 8-byte length of the next batch of opcodes (a hint for readers).
pub(crate) const FRAME: u8 = 0x95;

// Scalars.
pub(crate) const NONE: u8 = b'N';
pub(crate) const NEWTRUE: u8 = 0x88;
pub(crate) const NEWFALSE: u8 = 0x89;
/// Protocol 0: a decimal integer on a line.
pub(crate) const INT: u8 = b'I';
/// Signed 4-byte little-endian integer.
pub(crate) const BININT: u8 = b'J';
/// Unsigned 1-byte integer.
pub(crate) const BININT1: u8 = b'K';
/// Unsigned 2-byte little-endian integer.
pub(crate) const BININT2: u8 = b'M';
/// Protocol 0: a decimal long on a line.
pub(crate) const LONG: u8 = b'L';
/// Two's-complement integer of a 1-byte length.
pub(crate) const LONG1: u8 = 0x8a;
/// Two's-complement integer of a 4-byte length.
pub(crate) const LONG4: u8 = 0x8b;
/// Protocol 0: a float on a line.
#[allow(dead_code)] // named for the table; the pre-scan refuses it by omission
pub(crate) const FLOAT: u8 = b'F';
/// 8-byte big-endian float.
#[allow(dead_code)] // named for the table; the pre-scan refuses it by omission
pub(crate) const BINFLOAT: u8 = b'G';

// Text and bytes. "BIN" opcodes carry a little-endian length, then the bytes.
/// Protocol 0: a quoted Python 2 string on a line.
pub(crate) const STRING: u8 = b'S';
pub(crate) const BINSTRING: u8 = b'T';
pub(crate) const SHORT_BINSTRING: u8 = b'U';
/// Protocol 0: raw-unicode-escaped text on a line.
pub(crate) const UNICODE: u8 = b'V';
pub(crate) const BINUNICODE: u8 = b'X';
pub(crate) const SHORT_BINUNICODE: u8 = 0x8c;
pub(crate) const BINUNICODE8: u8 = 0x8d;
pub(crate) const BINBYTES: u8 = b'B';
pub(crate) const SHORT_BINBYTES: u8 = b'C';
pub(crate) const BINBYTES8: u8 = 0x8e;
pub(crate) const BYTEARRAY8: u8 = 0x96;

// Containers.
pub(crate) const EMPTY_LIST: u8 = b']';
pub(crate) const EMPTY_DICT: u8 = b'}';
pub(crate) const EMPTY_TUPLE: u8 = b')';
pub(crate) const EMPTY_SET: u8 = 0x8f;
/// Builds a list of the items above the top MARK.
pub(crate) const LIST: u8 = b'l';
/// Builds a dict of the key/value pairs above the top MARK.
pub(crate) const DICT: u8 = b'd';
/// Builds a tuple of the items above the top MARK.
pub(crate) const TUPLE: u8 = b't';
pub(crate) const TUPLE1: u8 = 0x85;
pub(crate) const TUPLE2: u8 = 0x86;
pub(crate) const TUPLE3: u8 = 0x87;
/// Builds a frozenset of the items above the top MARK.
pub(crate) const FROZENSET: u8 = 0x91;
/// Adds the top item to the list below it.
pub(crate) const APPEND: u8 = b'a';
/// Adds the items above the top MARK to the list below the MARK.
pub(crate) const APPENDS: u8 = b'e';
/// Sets one key/value pair in the dict below them.
pub(crate) const SETITEM: u8 = b's';
/// Sets the key/value pairs above the top MARK in the dict below the MARK.
pub(crate) const SETITEMS: u8 = b'u';
/// Adds the items above the top MARK to the set below the MARK.
pub(crate) const ADDITEMS: u8 = 0x90;

// Objects: naming a class or function, and calling it.
/// Protocol 0: module and name, each on a line.
pub(crate) const GLOBAL: u8 = b'c';
/// Protocol 4+: module and name taken from the two text items on top of the stack.
pub(crate) const STACK_GLOBAL: u8 = 0x93;
/// Calls a callable with an argument tuple.
pub(crate) const REDUCE: u8 = b'R';
/// `cls.__new__(cls, *args)`.
pub(crate) const NEWOBJ: u8 = 0x81;
/// Sets an object's state (its `__dict__`, for a plain class).
pub(crate) const BUILD: u8 = b'b';

// The memo: values stored by index so that later opcodes can refer to them again.
/// Protocol 0: store the top item at the index on a line.
pub(crate) const PUT: u8 = b'p';
pub(crate) const BINPUT: u8 = b'q';
pub(crate) const LONG_BINPUT: u8 = b'r';
/// Protocol 4+: store the top item at the next free index.
pub(crate) const MEMOIZE: u8 = 0x94;
/// Protocol 0: push the item stored at the index on a line.
pub(crate) const GET: u8 = b'g';
pub(crate) const BINGET: u8 = b'h';
pub(crate) const LONG_BINGET: u8 = b'j';
