//! The pickle opcodes, by name: one table for the pre-scan that reads them and the encoder
//! that writes them.
//!
//! Each opcode is one byte; Python's `Lib/pickle.py` and `pickletools` give them these names
//! (the bytes are facts of the format). Protocol 0 and 1 opcodes are mostly printable ASCII,
//! which is why a protocol-0 pickle looks almost like text; protocol 2 and later added the
//! bytes from 0x80 up.

// The stack machine itself.
/// Pushes a marker that a later opcode collects everything above.
pub const MARK: u8 = b'(';
/// Ends the pickle; the one item left on the stack is the result.
pub const STOP: u8 = b'.';
/// Drops the top item.
pub const POP: u8 = b'0';
/// Drops everything down to the top MARK.
pub const POP_MARK: u8 = b'1';
/// Pushes the top item again (refused by the pre-scan: it would share a container).
pub const DUP: u8 = b'2';
/// Protocol 2+: the first opcode, followed by the protocol number.
pub const PROTO: u8 = 0x80;
/// Protocol 4+: an 8-byte length of the next batch of opcodes (a hint for readers).
pub const FRAME: u8 = 0x95;

// Scalars.
pub const NONE: u8 = b'N';
pub const NEWTRUE: u8 = 0x88;
pub const NEWFALSE: u8 = 0x89;
/// Protocol 0: a decimal integer on a line.
pub const INT: u8 = b'I';
/// Signed 4-byte little-endian integer.
pub const BININT: u8 = b'J';
/// Unsigned 1-byte integer.
pub const BININT1: u8 = b'K';
/// Unsigned 2-byte little-endian integer.
pub const BININT2: u8 = b'M';
/// Protocol 0: a decimal long on a line.
pub const LONG: u8 = b'L';
/// Two's-complement integer of a 1-byte length.
pub const LONG1: u8 = 0x8a;
/// Two's-complement integer of a 4-byte length.
pub const LONG4: u8 = 0x8b;
/// Protocol 0: a float on a line.
pub const FLOAT: u8 = b'F';
/// 8-byte big-endian float.
pub const BINFLOAT: u8 = b'G';

// Text and bytes. "BIN" opcodes carry a little-endian length, then the bytes.
/// Protocol 0: a quoted Python 2 string on a line.
pub const STRING: u8 = b'S';
pub const BINSTRING: u8 = b'T';
pub const SHORT_BINSTRING: u8 = b'U';
/// Protocol 0: raw-unicode-escaped text on a line.
pub const UNICODE: u8 = b'V';
pub const BINUNICODE: u8 = b'X';
pub const SHORT_BINUNICODE: u8 = 0x8c;
pub const BINUNICODE8: u8 = 0x8d;
pub const BINBYTES: u8 = b'B';
pub const SHORT_BINBYTES: u8 = b'C';
pub const BINBYTES8: u8 = 0x8e;
pub const BYTEARRAY8: u8 = 0x96;

// Containers.
pub const EMPTY_LIST: u8 = b']';
pub const EMPTY_DICT: u8 = b'}';
pub const EMPTY_TUPLE: u8 = b')';
pub const EMPTY_SET: u8 = 0x8f;
/// Builds a list of the items above the top MARK.
pub const LIST: u8 = b'l';
/// Builds a dict of the key/value pairs above the top MARK.
pub const DICT: u8 = b'd';
/// Builds a tuple of the items above the top MARK.
pub const TUPLE: u8 = b't';
pub const TUPLE1: u8 = 0x85;
pub const TUPLE2: u8 = 0x86;
pub const TUPLE3: u8 = 0x87;
/// Builds a frozenset of the items above the top MARK.
pub const FROZENSET: u8 = 0x91;
/// Adds the top item to the list below it.
pub const APPEND: u8 = b'a';
/// Adds the items above the top MARK to the list below the MARK.
pub const APPENDS: u8 = b'e';
/// Sets one key/value pair in the dict below them.
pub const SETITEM: u8 = b's';
/// Sets the key/value pairs above the top MARK in the dict below the MARK.
pub const SETITEMS: u8 = b'u';
/// Adds the items above the top MARK to the set below the MARK.
pub const ADDITEMS: u8 = 0x90;

// Objects: naming a class or function, and calling it.
/// Protocol 0: module and name, each on a line.
pub const GLOBAL: u8 = b'c';
/// Protocol 4+: module and name taken from the two text items on top of the stack.
pub const STACK_GLOBAL: u8 = 0x93;
/// Calls a callable with an argument tuple.
pub const REDUCE: u8 = b'R';
/// `cls.__new__(cls, *args)`.
pub const NEWOBJ: u8 = 0x81;
/// Sets an object's state (its `__dict__`, for a plain class).
pub const BUILD: u8 = b'b';

// The memo: values stored by index so that later opcodes can refer to them again.
/// Protocol 0: store the top item at the index on a line.
pub const PUT: u8 = b'p';
pub const BINPUT: u8 = b'q';
pub const LONG_BINPUT: u8 = b'r';
/// Protocol 4+: store the top item at the next free index.
pub const MEMOIZE: u8 = 0x94;
/// Protocol 0: push the item stored at the index on a line.
pub const GET: u8 = b'g';
pub const BINGET: u8 = b'h';
pub const LONG_BINGET: u8 = b'j';
