#!/usr/bin/env python3
"""Counts the lines of the reading path in docs/architecture.md: the functions and types
that one `listar` from the course's client passes through, from accept to reply.

Each entry names a file and an item (a function, method, struct or enum). Its lines are
counted from its doc comment and attributes to its closing brace, comments included: a
reader reads those too. Files are rustfmt-formatted, so an item ends at the first line
that closes it at its own indentation.

    python3 docs/reading_path.py            # the total, per file
    python3 docs/reading_path.py --items    # and every item

Whole files on the same path are counted too (the measure the reshaping issue used), so
the two can be compared.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (file, item, occurrence) in reading order. An item that appears more than once in a file
# (a method name in two impls) is picked by its 1-based occurrence.
PATH = [
    # The loop: accept, hear the event, give the client a turn, settle interest.
    ("src/server.rs", "Client", 1),
    ("src/server.rs", "run", 1),
    ("src/server.rs", "next_timeout", 1),
    ("src/server.rs", "note_event", 1),
    ("src/server.rs", "accept", 1),
    ("src/server.rs", "admit", 1),
    ("src/server.rs", "service", 1),
    ("src/server.rs", "sync_interest", 1),
    ("src/server.rs", "deliver", 1),
    # One connection: read until WouldBlock, hand whole frames over, write.
    ("src/connection.rs", "Handler", 1),
    ("src/connection.rs", "Flow", 1),
    ("src/connection.rs", "State", 1),
    ("src/connection.rs", "Readiness", 1),
    ("src/connection.rs", "Connection", 1),
    ("src/connection.rs", "new", 2),
    ("src/connection.rs", "mark_ready", 1),
    ("src/connection.rs", "service", 1),
    ("src/connection.rs", "backpressured", 1),
    ("src/connection.rs", "is_parked", 1),
    ("src/connection.rs", "holding", 1),
    ("src/connection.rs", "front", 1),
    ("src/connection.rs", "short_of_need", 1),
    ("src/connection.rs", "refresh_need", 1),
    ("src/connection.rs", "has_complete_frame", 1),
    ("src/connection.rs", "flush", 1),
    ("src/connection.rs", "handle_frames", 1),
    ("src/connection.rs", "read_and_handle", 1),
    ("src/connection.rs", "answer_buffered", 1),
    ("src/connection.rs", "may_read", 1),
    ("src/connection.rs", "take_read", 1),
    ("src/connection.rs", "admit", 1),
    ("src/connection.rs", "keep", 1),
    ("src/connection.rs", "large_frame_pending", 1),
    ("src/connection.rs", "over_high_water", 1),
    ("src/connection.rs", "take_frames", 1),
    # The seam and the course's codec: is a whole frame there, and what does it ask.
    ("src/protocol/mod.rs", "Codec", 1),
    ("src/protocol/mod.rs", "check", 1),
    ("src/protocol/mod.rs", "decode", 1),
    ("src/protocol/mod.rs", "negotiate", 1),
    ("src/protocol/course.rs", "check", 1),
    ("src/protocol/course.rs", "decode", 1),
    ("src/frame.rs", "announced", 1),
    ("src/message.rs", "Request", 1),
    ("src/message.rs", "lookup", 1),
    ("src/message.rs", "parse", 2),
    ("src/message.rs", "parse", 1),
    ("src/message.rs", "parse_as", 1),
    ("src/pickle/decode.rs", "decode", 1),
    # The pre-scan's entry; its insides are a side room, to read later.
    ("src/pickle/scan.rs", "scan", 1),
    # The operation: dispatch by name, parse, run, queue the reply.
    ("src/ops/dispatch.rs", "request", 1),
    ("src/ops/dispatch.rs", "isolate_panics", 1),
    ("src/ops/dispatch.rs", "handle", 1),
    ("src/ops/dispatch.rs", "folder_check", 1),
    ("src/ops/dispatch.rs", "guard", 1),
    ("src/ops/dispatch.rs", "run", 1),
    ("src/ops/dispatch.rs", "queue", 1),
    ("src/ops/dispatch.rs", "push", 1),
    ("src/ops/operation.rs", "Operation", 1),
    ("src/ops/listar.rs", "parse", 1),
    ("src/ops/listar.rs", "run", 1),
    ("src/storage/mod.rs", "check_present", 1),
    ("src/storage/mod.rs", "stamp", 1),
    ("src/storage/mod.rs", "look", 1),
    ("src/storage/mod.rs", "list", 1),
    ("src/storage/mod.rs", "each_listable", 1),
    ("src/listing.rs", "get", 1),
    ("src/listing.rs", "store", 1),
    ("src/reply.rs", "Outcome", 1),
    # The reply on the wire: a pickle into the outbox, and out to the socket.
    ("src/protocol/mod.rs", "reply", 2),
    ("src/protocol/mod.rs", "ok", 1),
    ("src/message.rs", "frame_reply", 1),
    ("src/message.rs", "frame_message", 1),
    ("src/outbox.rs", "push", 1),
    ("src/outbox.rs", "write_to", 1),
]

ITEM = r"^(\s*)(?:pub(?:\([a-z]+\))? )?(?:async )?(?:fn|struct|enum|trait) {name}\b"


def item_lines(path, name, occurrence):
    lines = path.read_text(encoding="utf-8").split("\n")
    pattern = re.compile(ITEM.format(name=re.escape(name)))
    starts = [i for i, line in enumerate(lines) if pattern.match(line)]
    if len(starts) < occurrence:
        sys.exit(f"{path.relative_to(ROOT)}: no item {name!r} (occurrence {occurrence})")
    start = starts[occurrence - 1]
    indent = pattern.match(lines[start]).group(1)
    first = start
    while first > 0 and re.match(r"\s*(///|#\[)", lines[first - 1]):
        first -= 1
    end = start
    if not lines[start].rstrip().endswith(";"):
        while not (lines[end].startswith(indent + "}") and len(lines[end]) - len(lines[end].lstrip()) == len(indent)):
            end += 1
    return first, end


def main():
    show = "--items" in sys.argv
    per_file = {}
    for file, name, occurrence in PATH:
        first, end = item_lines(ROOT / file, name, occurrence)
        n = end - first + 1
        per_file[file] = per_file.get(file, 0) + n
        if show:
            print(f"  {file}:{first + 1}-{end + 1} {name}: {n}")
    total = sum(per_file.values())
    whole = 0
    for file, n in per_file.items():
        file_lines = len((ROOT / file).read_text(encoding="utf-8").splitlines())
        whole += file_lines
        print(f"{n:5} of {file_lines:5}  {file}")
    print(f"{total:5} of {whole:5}  lines on the path, of the whole files they are in")


if __name__ == "__main__":
    main()
