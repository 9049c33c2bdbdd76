"""The structure of a backbone config: which name each block input refers to, the order the
blocks run in, the outputs, and every structural error with its config field.

The same analysis serves the config check (`--check_config_only`) and the model, so a config
that passes the check builds the same DAG.

Name resolution (as EasyRec's): an input name is a block of the same package first; else a
`feature_group_name` that names a feature group reads that group through an implicit
`input_layer` block named after it; else, inside a package, a block of the main backbone.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from easy_rec.models.backbone import dag
from easy_rec.protos import backbone_pb2

#: name of the main DAG among the packages
MAIN = "backbone"
#: the block kind that reads a feature group's embeddings
INPUT_LAYER = "input_layer"
#: the block kinds that read a feature group: its embeddings, its features' values before
#: embedding, or their ids through one shared table
GROUP_KINDS = (INPUT_LAYER, "raw_input", "embedding_layer")


class BackboneError(ValueError):
    """A backbone problem at config field `field` (a dotted path such as
    ``model_config.backbone.blocks[2].inputs[0].block_name``)."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass
class InputRef:
    """One `inputs` entry of a block: what it reads.

    kind: 'block' (a block of the same package), 'group' (a feature group, through the
    input_layer block named after it), 'outer' (a block of the main backbone, from a package),
    'package' (a call of a package), 'package_input' (the input a package was called with).
    """

    kind: str
    name: str
    path: str
    config: backbone_pb2.Input


@dataclass
class BlockSpec:
    """A block and its inputs; `group` is set for input_layer blocks (and the implicit ones,
    whose `config` is None)."""

    name: str
    path: str
    config: backbone_pb2.Block | None
    inputs: list[InputRef] = field(default_factory=list)
    group: str | None = None

    @property
    def kind(self) -> str | None:
        """The block's layer kind (input_layer for the implicit group blocks)."""
        return self.config.WhichOneof("layer") if self.config is not None else INPUT_LAYER

    @property
    def deps(self) -> list[str]:
        """Blocks of the same package this block reads."""
        return [ref.name for ref in self.inputs if ref.kind in ("block", "group")]


@dataclass
class PackageSpec:
    """A package (the main backbone is the package named 'backbone')."""

    name: str
    path: str
    blocks: dict[str, BlockSpec]
    order: list[str]
    outputs: list[str]
    #: True: the output is the list of `outputs` (output_blocks); False: they are merged
    output_list: bool
    #: main-backbone blocks the package reads (empty for the main backbone)
    outer_refs: set[str]
    #: packages its blocks call
    calls: set[str]
    #: block -> the blocks of this package that must run before it
    deps: dict[str, list[str]] = field(default_factory=dict)

    def ancestors(self, names: list[str]) -> set[str]:
        """`names` and every block of this package they need."""
        needed: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name not in needed:
                needed.add(name)
                stack += [d for d in self.deps.get(name, []) if d in self.blocks]
        return needed


def groups_read(specs: dict[str, PackageSpec], package: str,
                names: list[str] | None = None) -> list[str]:
    """Feature groups read to compute blocks `names` of `package` (all of them when None),
    directly or through the packages those blocks call, in first-use order."""
    spec = specs[package]
    needed = spec.ancestors(names) if names is not None else set(spec.blocks)
    groups: list[str] = []
    for name in spec.order:
        if name not in needed:
            continue
        block = spec.blocks[name]
        if block.group is not None:
            groups.append(block.group)
        for ref in block.inputs:
            if ref.kind == "package":
                groups += groups_read(specs, ref.name)
    return list(dict.fromkeys(groups))


def analyse(backbone: backbone_pb2.BackboneTower, groups: Collection[str],
            path: str = "model_config.backbone") -> dict[str, PackageSpec]:
    """Every package of `backbone` (the main one under the name 'backbone'), checked.

    `groups`: the feature groups (and sequence groups) blocks may read. BackboneError names
    the first structural problem: duplicate or missing names, unknown inputs, cycles, unknown
    output blocks, or package calls that recurse.
    """
    packages = {p.name for p in backbone.packages}
    main_blocks = {b.name for b in backbone.blocks}
    specs: dict[str, PackageSpec] = {}
    no_outer: dict[str, set[str]] = {}
    for i, package in enumerate(backbone.packages):
        where = f"{path}.packages[{i}]"
        if not package.name:
            raise BackboneError(f"{where}.name", "a package needs a name")
        if package.name in specs or package.name == MAIN:
            raise BackboneError(f"{where}.name", f"package name {package.name!r} is used twice"
                                if package.name in specs else "'backbone' names the main DAG")
        specs[package.name] = _package(package.name, where, package.blocks, package.concat_blocks,
                                       package.output_blocks, groups, packages, main_blocks,
                                       no_outer)
    _check_package_calls(specs, path)
    if not backbone.blocks:
        raise BackboneError(path, "the backbone needs at least one block")
    specs[MAIN] = _package(MAIN, path, backbone.blocks, backbone.concat_blocks,
                           backbone.output_blocks, groups, packages, None,
                           _outer_closure(specs))
    _check_package_inputs(specs)
    return specs


def _package(name: str, path: str, blocks: list[backbone_pb2.Block], concat: list[str],
             output: list[str], groups: Collection[str], packages: Collection[str],
             main_blocks: set[str] | None, package_outer: dict[str, set[str]]) -> PackageSpec:
    """One package; `main_blocks` is None for the main backbone itself, whose blocks that call
    a package run after the main blocks the package reads (`package_outer`)."""
    specs: dict[str, BlockSpec] = {}
    for i, block in enumerate(blocks):
        where = f"{path}.blocks[{i}]"
        if not block.name:
            raise BackboneError(f"{where}.name", "a block needs a name")
        if block.name in specs:
            raise BackboneError(f"{where}.name", f"block name {block.name!r} is used twice")
        specs[block.name] = BlockSpec(block.name, where, block)
    implicit: dict[str, BlockSpec] = {}
    for spec in list(specs.values()):
        _resolve_inputs(spec, specs, implicit, groups, packages, main_blocks)
    all_blocks = {**implicit, **specs}
    deps = {n: _order_deps(s, package_outer) for n, s in all_blocks.items()}
    try:
        order = dag.topological_order(deps)
    except dag.CycleError as error:
        first = specs.get(error.cycle[0]) or next(iter(specs.values()))
        raise BackboneError(f"{first.path}.inputs", str(error)) from None
    outputs, output_list = list(output), bool(output)
    kind = "output_blocks" if output else "concat_blocks"
    if not outputs:
        outputs = list(concat) or dag.leaves({n: s.deps for n, s in specs.items()})
    for i, out in enumerate(outputs):
        if out not in all_blocks:
            raise BackboneError(f"{path}.{kind}[{i}]", f"{out!r} is not a block of {name} "
                                f"(blocks: {', '.join(specs)})")
    outer = {r.name for s in specs.values() for r in s.inputs if r.kind == "outer"}
    calls = {r.name for s in specs.values() for r in s.inputs if r.kind == "package"}
    return PackageSpec(name, path, all_blocks, order, outputs, output_list, outer, calls, deps)


def _resolve_inputs(spec: BlockSpec, blocks: dict[str, BlockSpec], implicit: dict[str, BlockSpec],
                    groups: Collection[str], packages: Collection[str],
                    main_blocks: set[str] | None) -> None:
    block = spec.config
    kind = block.WhichOneof("layer")
    if not block.inputs:
        raise BackboneError(f"{spec.path}.inputs", f"block {spec.name!r} needs at least one input")
    if kind in GROUP_KINDS:
        source = block.inputs[0]
        if len(block.inputs) != 1 or source.WhichOneof("name") != "feature_group_name":
            raise BackboneError(f"{spec.path}.inputs", f"{kind} block {spec.name!r} takes "
                                "exactly one input, a feature_group_name")
        if source.feature_group_name not in groups:
            raise BackboneError(f"{spec.path}.inputs[0].feature_group_name",
                                _unknown_group(source.feature_group_name, groups))
        spec.group = source.feature_group_name
        return
    if spec.name in groups:
        raise BackboneError(f"{spec.path}.name", f"block name {spec.name!r} is a feature group's "
                            "name; only an input_layer block may take it")
    for i, source in enumerate(block.inputs):
        where = f"{spec.path}.inputs[{i}]"
        which = source.WhichOneof("name")
        if which is None:
            raise BackboneError(where, "an input needs feature_group_name, block_name, "
                                "package_name or use_package_input")
        value = getattr(source, which)
        where_name = f"{where}.{which}"
        if which == "use_package_input":
            if main_blocks is None or not value:
                raise BackboneError(where_name, "use_package_input: true reads the input of a "
                                    "package call, so only blocks of a package may set it")
            spec.inputs.append(InputRef("package_input", "", where, source))
        elif which == "package_name":
            if value not in packages:
                raise BackboneError(where_name, f"{value!r} is not a package (packages: "
                                    f"{', '.join(packages) or 'none'})")
            spec.inputs.append(InputRef("package", value, where, source))
        elif value == spec.name:
            raise BackboneError(where_name, f"block {spec.name!r} reads itself")
        elif value in blocks:
            spec.inputs.append(InputRef("block", value, where, source))
        elif which == "feature_group_name" and value in groups:
            implicit.setdefault(value, BlockSpec(value, where, None, group=value))
            spec.inputs.append(InputRef("group", value, where, source))
        elif main_blocks is not None and value in main_blocks:
            spec.inputs.append(InputRef("outer", value, where, source))
        else:
            what = ("a feature group or a block" if which == "feature_group_name" else "a block")
            raise BackboneError(where_name, f"{value!r} is not {what} "
                                f"(blocks: {', '.join(blocks)}; feature groups: "
                                f"{', '.join(groups) or 'none'})")


def _order_deps(spec: BlockSpec, package_outer: dict[str, set[str]]) -> list[str]:
    """What must run before the block: its block inputs and, for package calls, the block a
    package_input names and the main blocks the package reads."""
    deps = spec.deps
    for ref in spec.inputs:
        if ref.kind == "package":
            deps += sorted(package_outer.get(ref.name, ()))
            if ref.config.package_input:
                deps.append(ref.config.package_input)
    return deps


def _check_package_calls(specs: dict[str, PackageSpec], path: str) -> None:
    """Packages may call packages, but not recursively."""
    try:
        dag.topological_order({name: sorted(spec.calls) for name, spec in specs.items()})
    except dag.CycleError as error:
        raise BackboneError(f"{path}.packages", f"packages call each other in a cycle: "
                            f"{' -> '.join(error.cycle)}") from None


def _outer_closure(specs: dict[str, PackageSpec]) -> dict[str, set[str]]:
    """Main-backbone blocks each package reads, itself or through the packages it calls."""
    closure: dict[str, set[str]] = {}

    def outer(name: str) -> set[str]:
        if name not in closure:
            closure[name] = set(specs[name].outer_refs)
            for called in specs[name].calls:
                closure[name] |= outer(called)
        return closure[name]

    for name in specs:
        outer(name)
    return closure


def _check_package_inputs(specs: dict[str, PackageSpec]) -> None:
    """A package_input names a block of the calling package or a package."""
    for spec in specs.values():
        for block in spec.blocks.values():
            for ref in block.inputs:
                source = ref.config.package_input
                if ref.kind == "package" and source and source not in spec.blocks \
                        and source not in specs:
                    raise BackboneError(f"{ref.path}.package_input", f"{source!r} is neither a "
                                        f"block of {spec.name} nor a package")


def _unknown_group(name: str, groups: Collection[str]) -> str:
    return f"{name!r} is not a feature group (groups: {', '.join(groups) or 'none'})"
