"""Compares easy_rec's config protos with EasyRec's, field by field.

Usage::

    python scripts/compat/proto_diff.py --easyrec_protos /path/to/EasyRec/easy_rec/python/protos

EasyRec's .proto files are compiled into a private descriptor pool and walked from its root
message (``protos.EasyRecConfig``) side by side with ours (``easy_rec.protos.EasyRecConfig``),
matching fields by name. Every field EasyRec declares must exist here with the same number,
type, label and default, and every enum value it declares must exist too. Prints one line per
difference, then one JSON summary line; exits 1 when anything differs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from easy_rec.protos import pipeline_pb2  # noqa: E402


def compile_easyrec_protos(proto_dir: str) -> descriptor_pool.DescriptorPool:
    """EasyRec's pipeline.proto and what it imports (from `proto_dir`), compiled into a fresh
    descriptor pool."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "easy_rec", "python", "protos")
        os.makedirs(tree)
        names = sorted(n for n in os.listdir(proto_dir) if n.endswith(".proto"))
        for name in names:
            shutil.copy(os.path.join(proto_dir, name), tree)
        out = os.path.join(tmp, "set.pb")
        include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        # a separate process: grpc_tools' protoc crashes once TensorFlow is loaded here
        args = [sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp}", f"-I{include}",
                f"--descriptor_set_out={out}", "--include_imports",
                "easy_rec/python/protos/pipeline.proto"]
        if subprocess.run(args, check=False).returncode != 0:
            raise SystemExit("protoc failed on EasyRec's protos")
        files = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            files.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file_proto in files.file:
        pool.Add(file_proto)
    return pool


def _type_name(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return "message " + field.message_type.name
    if field.enum_type is not None:
        return "enum " + field.enum_type.name
    return str(field.type)


def _label(field: FieldDescriptor) -> str:
    return "repeated" if field.is_repeated else "required" if field.is_required else "optional"


def _default(field: FieldDescriptor) -> object:
    if field.is_repeated or field.message_type is not None:
        return None
    if field.enum_type is not None:
        return field.enum_type.values_by_number[field.default_value].name
    value = field.default_value
    return round(value, 6) if isinstance(value, float) else value


class ProtoDiff:
    """Differences found by walking two message trees from their roots."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str, str]] = []  # (kind, path, detail)
        self._seen: set[tuple[str, str]] = set()
        self.fields_checked = 0

    def compare(self, theirs: Descriptor, ours: Descriptor, path: str) -> None:
        key = (theirs.full_name, ours.full_name)
        if key in self._seen:
            return
        self._seen.add(key)
        for field in theirs.fields:
            self.fields_checked += 1
            where = f"{path}.{field.name}" if path else field.name
            mine = ours.fields_by_name.get(field.name)
            if mine is None:
                self.problems.append(("missing", where, f"{_type_name(field)} = {field.number}"))
                continue
            for kind, a, b in (("number", field.number, mine.number),
                               ("type", _type_name(field), _type_name(mine)),
                               ("label", _label(field), _label(mine)),
                               ("default", _default(field), _default(mine))):
                if a != b:
                    self.problems.append((kind, where, f"EasyRec {a!r}, here {b!r}"))
            if field.containing_oneof is not None and mine.containing_oneof is None:
                self.problems.append(("oneof", where, f"in oneof {field.containing_oneof.name}"))
            if field.message_type is not None and mine.message_type is not None:
                self.compare(field.message_type, mine.message_type, where)
            elif field.enum_type is not None and mine.enum_type is not None:
                self._compare_enum(field.enum_type, mine.enum_type, where)

    def _compare_enum(self, theirs: EnumDescriptor, ours: EnumDescriptor, path: str) -> None:
        key = (theirs.full_name, ours.full_name)
        if key in self._seen:
            return
        self._seen.add(key)
        for value in theirs.values:
            mine = ours.values_by_name.get(value.name)
            if mine is None:
                self.problems.append(("enum value", f"{path}:{value.name}", str(value.number)))
            elif mine.number != value.number:
                self.problems.append(("enum number", f"{path}:{value.name}",
                                      f"EasyRec {value.number}, here {mine.number}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--easyrec_protos", required=True,
                        help="folder with EasyRec's .proto files (easy_rec/python/protos)")
    args = parser.parse_args()
    pool = compile_easyrec_protos(args.easyrec_protos)
    diff = ProtoDiff()
    diff.compare(pool.FindMessageTypeByName("protos.EasyRecConfig"),
                 pipeline_pb2.EasyRecConfig.DESCRIPTOR, "")
    for kind, where, detail in diff.problems:
        print(f"{kind:12} {where}: {detail}")
    counts: dict[str, int] = {}
    for kind, _, _ in diff.problems:
        counts[kind] = counts.get(kind, 0) + 1
    print(json.dumps({"tool": "proto_diff", "fields_checked": diff.fields_checked,
                      "differences": len(diff.problems), "by_kind": counts}))
    return 1 if diff.problems else 0


if __name__ == "__main__":
    sys.exit(main())
