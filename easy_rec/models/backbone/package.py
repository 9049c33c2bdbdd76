"""A package: a DAG of blocks run in topological order (the main backbone is one).

Packages other than the main one are called by blocks (`inputs { package_name: ... }`), each
call with the same weights: EasyRec's way to run a sub-network twice, e.g. on two augmented
views for a contrastive loss. A call may pass the package an input (`package_input`, read by
its blocks with `use_package_input`) and replace the configuration of its input_layer blocks
for that call (`reset_input`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import tensorflow as tf

from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.component import BlockContext
from easy_rec.models.backbone import expressions
from easy_rec.models.backbone.block import Block, Value, merge_inputs, module_name
from easy_rec.models.backbone.group_values import EmbeddingGroupInput, RawGroupInput
from easy_rec.models.backbone.input_layer import GroupInput
from easy_rec.models.backbone.spec import (
    INPUT_LAYER,
    MAIN,
    BackboneError,
    InputRef,
    PackageSpec,
)
from easy_rec.protos import backbone_pb2

_DEFAULT_INPUT_LAYER = backbone_pb2.InputLayer()
#: the group-reading blocks other than input_layer
_GROUP_INPUTS = {"raw_input": RawGroupInput, "embedding_layer": EmbeddingGroupInput}


@dataclass
class Run:
    """One forward pass through the backbone: what every package call shares."""

    features: FeatureLayerOutput
    training: bool
    context: BlockContext
    packages: dict[str, Package]
    #: outputs of the main backbone's blocks so far (packages may read them)
    main_outputs: dict[str, Value] = field(default_factory=dict)


class Package(tf.Module):
    """The blocks of one package and the order they run in."""

    def __init__(self, spec: PackageSpec, feature_layer: FeatureLayer):
        super().__init__(name=module_name(spec.name))
        self.spec = spec
        self.inputs: dict[str, GroupInput] = {}
        self.blocks: dict[str, Block] = {}
        self._package_input_fns: dict[str, expressions.Function] = {}
        with self.name_scope:
            for name in spec.order:
                block = spec.blocks[name]
                if block.group is not None:
                    input_class = _GROUP_INPUTS.get(block.kind)
                    self.inputs[name] = (
                        input_class(feature_layer, block, module_name(f"input_{name}"))
                        if input_class is not None else
                        GroupInput(feature_layer, block.group, block.path,
                                   name=module_name(f"input_{name}")))
                else:
                    self.blocks[name] = Block(block)
                    for ref in block.inputs:
                        if ref.config.HasField("package_input_fn"):
                            self._package_input_fns[ref.path] = _parse(
                                ref.config.package_input_fn, f"{ref.path}.package_input_fn")

    def __call__(self, run: Run, package_input: Value = None,
                 reset_input: backbone_pb2.InputLayer | None = None) -> Value:
        """The package's output: its output_blocks as a list, or its concat_blocks (default:
        the blocks no other block reads) merged. `reset_input` replaces the configuration of
        its input_layer blocks for this call."""
        outputs = self._run_blocks(run, set(self.spec.blocks), package_input, reset_input)
        selected = [outputs[name] for name in self.spec.outputs]
        if self.spec.output_list:
            return selected
        return merge_inputs(selected, -1, f"{self.spec.path}.concat_blocks")

    def output_block(self, run: Run, name: str) -> Value:
        """The output of block `name` alone, running only the blocks it needs."""
        return self._run_blocks(run, self.spec.ancestors([name]), None, None)[name]

    def _run_blocks(self, run: Run, needed: set[str], package_input: Value,
                    reset_input: backbone_pb2.InputLayer | None) -> dict[str, Value]:
        outputs: dict[str, Value] = run.main_outputs if self.spec.name == MAIN else {}
        for name in self.spec.order:
            if name not in needed:
                continue
            block = self.spec.blocks[name]
            if block.group is not None and block.kind != INPUT_LAYER:
                outputs[name] = self.inputs[name](run.features, run.training)
            elif block.group is not None:
                config = (reset_input if reset_input is not None
                          else block.config.input_layer if block.config is not None
                          else _DEFAULT_INPUT_LAYER)
                outputs[name] = self.inputs[name](run.features, config, run.training)
            else:
                values = [self._resolve(ref, outputs, run, package_input) for ref in block.inputs]
                outputs[name] = self.blocks[name](values, run.training, run.context)
        return outputs

    def _resolve(self, ref: InputRef, outputs: dict[str, Value], run: Run,
                 package_input: Value) -> Value:
        if ref.kind in ("block", "group"):
            return outputs[ref.name]
        if ref.kind == "outer":
            return run.main_outputs[ref.name]
        if ref.kind == "package_input":
            if package_input is None:
                raise BackboneError(ref.path, "use_package_input, but the package was called "
                                    "without package_input")
            return package_input
        config = ref.config
        given = None
        if config.package_input:
            source = config.package_input
            given = outputs[source] if source in outputs else run.packages[source](run)
            if ref.path in self._package_input_fns:
                given = self._package_input_fns[ref.path](given)
        reset = config.reset_input if config.HasField("reset_input") else None
        return run.packages[ref.name](run, given, reset)


def _parse(text: str, path: str) -> expressions.Function:
    try:
        return expressions.parse_function(text)
    except expressions.ExpressionError as error:
        raise BackboneError(path, str(error)) from None
