"""Writes the table of refused options in docs/compatibility.md from the protos' marks.

Usage::

    python scripts/compat/compat_table.py [--check]

Walks the config messages from ``EasyRecConfig`` and lists every field and enum value marked
``(unsupported)`` / ``(unsupported_value)`` with its reason, between the
``<!-- REFUSED -->`` markers of docs/compatibility.md. ``--check`` exits 1 when the file is out
of date instead of writing it (a test runs that).
"""
from __future__ import annotations

import argparse
import os
import sys

from google.protobuf.descriptor import Descriptor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from easy_rec.config.unsupported import enum_value_refusal, field_refusal  # noqa: E402
from easy_rec.protos import pipeline_pb2  # noqa: E402

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                   "compatibility.md")
MARKER = "<!-- REFUSED -->"


def refused_options(root: Descriptor = pipeline_pb2.EasyRecConfig.DESCRIPTOR
                    ) -> list[tuple[str, str]]:
    """(option path, reason) of every refused field or enum value reachable from `root`; a
    message type reached on several paths is listed on the first one."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()

    def walk(message: Descriptor, prefix: str) -> None:
        if message.full_name in seen:
            return
        seen.add(message.full_name)
        for field in message.fields:
            path = f"{prefix}.{field.name}" if prefix else field.name
            reason = field_refusal(field)
            if reason is not None:
                rows.append((f"`{path}`", reason))
                continue
            if field.enum_type is not None and field.enum_type.full_name not in seen:
                seen.add(field.enum_type.full_name)
                for value in field.enum_type.values:
                    why = enum_value_refusal(value)
                    if why is not None:
                        rows.append((f"`{path}: {value.name}`", why))
            if field.message_type is not None and not field.message_type.GetOptions().map_entry:
                walk(field.message_type, path)

    walk(root, "")
    return rows


def table() -> str:
    lines = ["| option | why it is refused |", "|---|---|"]
    lines += [f"| {path} | {reason} |" for path, reason in refused_options()]
    return "\n".join(lines)


def render(doc: str) -> str:
    head, _, rest = doc.partition(MARKER)
    _, _, tail = rest.partition(MARKER)
    return f"{head}{MARKER}\n{table()}\n{MARKER}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the doc is stale")
    args = parser.parse_args()
    with open(DOC, encoding="utf-8") as f:
        doc = f.read()
    new = render(doc)
    if args.check:
        if new != doc:
            print("docs/compatibility.md is out of date: run scripts/compat/compat_table.py")
            return 1
        return 0
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
