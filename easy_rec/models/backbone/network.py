"""The backbone network: the main DAG, its packages and the optional top MLP.

It is built from its config and the feature layer: the structure is checked (spec.py), then
one forward pass over zero-valued features of the right shapes creates every component with
the sizes of its inputs (EasyRec's Keras layers size themselves on their first call the same
way). `output_shape` is then known, so a model can size its head.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.component import BlockContext, Params
from easy_rec.layers.core import MLP
from easy_rec.models.backbone.block import Value, shapes_of
from easy_rec.models.backbone.input_layer import placeholder_features
from easy_rec.models.backbone.package import Package, Run
from easy_rec.models.backbone.spec import MAIN, BackboneError, analyse, groups_read
from easy_rec.protos import backbone_pb2, easy_rec_model_pb2

BACKBONE_PATH = "model_config.backbone"


class Backbone(tf.Module):
    """`backbone(features, training)` -> (output, losses added by its components).

    The output is a tensor, or a list of tensors when the backbone has output_blocks (and no
    top_mlp); `losses` maps names to scalars (e.g. AuxiliaryLoss terms).
    """

    def __init__(self, config: backbone_pb2.BackboneTower, feature_layer: FeatureLayer,
                 path: str = BACKBONE_PATH):
        super().__init__(name="backbone")
        self.path = path
        groups = list(feature_layer.groups) + list(feature_layer.sequence_groups)
        specs = analyse(config, groups, path)
        self.specs = specs
        with self.name_scope:
            self.packages = {name: Package(spec, feature_layer)
                             for name, spec in specs.items() if name != MAIN}
            self.main = Package(specs[MAIN], feature_layer)
        self.top_mlp = None
        output, losses, blocks = self._run_dag(placeholder_features(feature_layer), False)
        #: static shapes of the main backbone's block outputs (model_params.outputs exports them)
        self.block_shapes = {name: shapes_of(value) for name, value in blocks.items()}
        #: whether components add loss terms (the model must add them to its loss)
        self.adds_losses = bool(losses)
        if config.HasField("top_mlp"):
            output = _concat_list(output)
            with self.name_scope:
                self.top_mlp = MLP.from_params(Params(config.top_mlp, f"{path}.top_mlp"),
                                               shapes_of(output), "top_mlp")
            output = self.top_mlp(output, training=False)
        self.output_shape = shapes_of(output)

    def __call__(self, features: FeatureLayerOutput, training: bool = False
                 ) -> tuple[Value, dict[str, tf.Tensor]]:
        output, losses, _ = self.run(features, training)
        return output, losses

    def run(self, features: FeatureLayerOutput, training: bool = False
            ) -> tuple[Value, dict[str, tf.Tensor], dict[str, Value]]:
        """(output, losses, the outputs of every block of the main backbone by name)."""
        output, losses, blocks = self._run_dag(features, training)
        if self.top_mlp is not None:
            output = self.top_mlp(_concat_list(output), training)
        return output, losses, blocks

    def output_at(self, features: FeatureLayerOutput, training: bool, index: int) -> Value:
        """Output `index` of a backbone with output_blocks, computing only what it needs
        (e.g. a matching model's user tower from the user features alone)."""
        name = self.specs[MAIN].outputs[index]
        return self.main.output_block(Run(features, training, BlockContext(training),
                                          self.packages), name)

    def groups_for_output(self, index: int) -> list[str]:
        """Feature groups output `index` reads."""
        return groups_read(self.specs, MAIN, [self.specs[MAIN].outputs[index]])

    def _run_dag(self, features: FeatureLayerOutput, training: bool
                 ) -> tuple[Value, dict[str, tf.Tensor], dict[str, Value]]:
        context = BlockContext(training=training)
        run = Run(features, training, context, self.packages)
        return self.main(run), context.losses, run.main_outputs

    @property
    def output_dim(self) -> int:
        """Width of a single-tensor output (BackboneError for a list output)."""
        if not isinstance(self.output_shape, tf.TensorShape) or self.output_shape.rank != 2:
            raise BackboneError(self.path, f"the backbone output must be one [batch, dim] "
                                f"tensor here; it is {self.output_shape}")
        return int(self.output_shape[-1])


def _concat_list(output: Value) -> tf.Tensor:
    return tf.concat(list(output), axis=-1) if isinstance(output, (list, tuple)) else output


def wide_output_dim(model_config: easy_rec_model_pb2.EasyRecModel,
                    path: str = BACKBONE_PATH) -> int:
    """The wide_output_dim set on input_layer blocks (one value for the whole backbone), else
    model_params.wide_output_dim, else 1."""
    config = model_config.backbone
    found: dict[int, str] = {}
    blocks = [(f"{path}.blocks[{i}]", b) for i, b in enumerate(config.blocks)]
    blocks += [(f"{path}.packages[{p}].blocks[{i}]", b)
               for p, package in enumerate(config.packages) for i, b in enumerate(package.blocks)]
    for where, block in blocks:
        if block.WhichOneof("layer") == "input_layer" and block.input_layer.HasField(
                "wide_output_dim"):
            found.setdefault(block.input_layer.wide_output_dim, where)
    if len(found) > 1:
        raise BackboneError(f"{max(found.values())}.input_layer.wide_output_dim",
                            f"wide_output_dim must be the same in every input_layer; found "
                            f"{sorted(found)}")
    if found:
        return next(iter(found))
    params = model_config.model_params
    return params.wide_output_dim if params.HasField("wide_output_dim") else 1


LOSS_PREFIX = "backbone_loss_"


def with_losses(outputs: dict[str, tf.Tensor], losses: dict[str, tf.Tensor]
                ) -> dict[str, tf.Tensor]:
    """`outputs` plus the backbone's loss terms (keys LOSS_PREFIX + name), for `model.loss`."""
    return {**outputs, **{LOSS_PREFIX + name: value for name, value in losses.items()}}


def losses_in(outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The backbone loss terms in `outputs`, by their output key."""
    return {k: v for k, v in outputs.items() if k.startswith(LOSS_PREFIX)}


def optional_backbone(model_config: easy_rec_model_pb2.EasyRecModel,
                      feature_layer: FeatureLayer) -> Backbone | None:
    """The backbone of a zoo model that reads one (DBMTL, MMoE) in place of its input group,
    or None. Loss-adding components need a backbone model (RankModel, MultiTaskModel)."""
    if not model_config.HasField("backbone"):
        return None
    backbone = Backbone(model_config.backbone, feature_layer)
    if backbone.adds_losses:
        raise BackboneError(BACKBONE_PATH, f"components that add losses need model_class "
                            f"RankModel or MultiTaskModel, not {model_config.model_class}")
    return backbone


OUTPUTS_PATH = "model_config.model_params.outputs"


class ExtraOutputs:
    """model_params.outputs: more names the exported signature returns (EasyRec's RankModel
    adds them to its export outputs). A name is a block of the main backbone, whose output
    (one tensor) is returned under the block's name, or an output the model computes anyway
    (e.g. `logits_ctr` of a multi-task model)."""

    def __init__(self, names: list[str], backbone: Backbone):
        for i, name in enumerate(names):
            shape = backbone.block_shapes.get(name, tf.TensorShape(None))
            if not isinstance(shape, tf.TensorShape):
                raise BackboneError(f"{OUTPUTS_PATH}[{i}]", f"block {name!r} outputs a list of "
                                    "tensors; only a block with one tensor output can be exported")
        self.names = tuple(names)
        self.blocks = tuple(n for n in names if n in backbone.block_shapes)

    def add(self, outputs: dict[str, tf.Tensor], blocks: dict[str, Value]
            ) -> dict[str, tf.Tensor]:
        """`outputs` plus the named block outputs (a model output keeps its name)."""
        return {**{n: blocks[n] for n in self.blocks}, **outputs}

    def served(self, served: dict[str, tf.Tensor], outputs: dict[str, tf.Tensor]
               ) -> dict[str, tf.Tensor]:
        """`served` plus the named outputs."""
        for i, name in enumerate(self.names):
            if name not in outputs:
                known = sorted(k for k in outputs if not k.startswith(LOSS_PREFIX))
                raise BackboneError(f"{OUTPUTS_PATH}[{i}]", f"{name!r} is neither a block of "
                                    f"the backbone nor an output of the model ({', '.join(known)})")
            served[name] = outputs[name]
        return served
