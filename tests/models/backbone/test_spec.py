"""The backbone's structure: name resolution, order, outputs, and errors at their field."""
from __future__ import annotations

import pytest
from google.protobuf import text_format

from easy_rec.models.backbone.spec import MAIN, BackboneError, analyse, groups_read
from easy_rec.protos import backbone_pb2

GROUPS = ["wide", "deep", "user", "item"]


def tower(text: str) -> backbone_pb2.BackboneTower:
    return text_format.Parse(text, backbone_pb2.BackboneTower())


def test_blocks_run_after_their_inputs_and_groups_get_implicit_input_blocks():
    specs = analyse(tower("""
        blocks { name: "add" inputs { block_name: "mlp" } inputs { block_name: "wide_in" } }
        blocks { name: "mlp" inputs { feature_group_name: "deep" } }
        blocks { name: "wide_in" inputs { feature_group_name: "wide" } input_layer {} }
    """), GROUPS)
    main = specs[MAIN]
    order = main.order
    assert order.index("deep") < order.index("mlp") < order.index("add")
    assert order.index("wide_in") < order.index("add")
    assert main.blocks["deep"].group == "deep" and main.blocks["deep"].config is None
    assert main.blocks["wide_in"].group == "wide"
    assert [r.kind for r in main.blocks["add"].inputs] == ["block", "block"]
    # no concat_blocks / output_blocks: the blocks nothing reads
    assert main.outputs == ["add"] and not main.output_list


def test_a_feature_group_input_prefers_a_block_of_that_name():
    specs = analyse(tower("""
        blocks { name: "deep" inputs { feature_group_name: "deep" } input_layer {} }
        blocks { name: "mlp" inputs { feature_group_name: "deep" } }
        output_blocks: ["mlp", "deep"]
    """), GROUPS)
    assert specs[MAIN].blocks["mlp"].inputs[0].kind == "block"
    assert specs[MAIN].outputs == ["mlp", "deep"] and specs[MAIN].output_list


def test_packages_read_main_blocks_and_calls_wait_for_them():
    specs = analyse(tower("""
        packages {
          name: "pkg"
          blocks { name: "p1" inputs { block_name: "shared" } inputs { use_package_input: true } }
        }
        blocks { name: "caller" inputs { package_name: "pkg" package_input: "src" } }
        blocks { name: "src" inputs { feature_group_name: "item" } }
        blocks { name: "shared" inputs { feature_group_name: "user" } }
    """), GROUPS)
    assert specs["pkg"].outer_refs == {"shared"}
    order = specs[MAIN].order
    assert order.index("shared") < order.index("caller")
    assert order.index("src") < order.index("caller")
    assert groups_read(specs, MAIN, ["src"]) == ["item"]
    # the call needs src (its package_input) and shared (read inside the package)
    assert sorted(groups_read(specs, MAIN, ["caller"])) == ["item", "user"]


@pytest.mark.parametrize("text, field, reason", [
    ('blocks { name: "a" inputs { block_name: "b" } } blocks { name: "b" inputs { block_name: "a" } }',
     "model_config.backbone.blocks[0].inputs", "cycle: a -> b -> a"),
    ('blocks { name: "a" inputs { block_name: "nope" } }',
     "model_config.backbone.blocks[0].inputs[0].block_name", "'nope' is not a block"),
    ('blocks { name: "a" inputs { feature_group_name: "nope" } }',
     "model_config.backbone.blocks[0].inputs[0].feature_group_name",
     "'nope' is not a feature group or a block"),
    ('blocks { name: "a" inputs { block_name: "a" } }',
     "model_config.backbone.blocks[0].inputs[0].block_name", "reads itself"),
    ('blocks { name: "a" inputs { feature_group_name: "deep" } } '
     'blocks { name: "a" inputs { feature_group_name: "deep" } }',
     "model_config.backbone.blocks[1].name", "used twice"),
    ('blocks { name: "a" }', "model_config.backbone.blocks[0].inputs", "at least one input"),
    ('blocks { name: "deep" inputs { feature_group_name: "wide" } }',
     "model_config.backbone.blocks[0].name", "only an input_layer block may take it"),
    ('blocks { name: "in" inputs { block_name: "x" } input_layer {} }',
     "model_config.backbone.blocks[0].inputs", "exactly one input, a feature_group_name"),
    ('blocks { name: "a" inputs { use_package_input: true } }',
     "model_config.backbone.blocks[0].inputs[0].use_package_input", "only blocks of a package"),
    ('blocks { name: "a" inputs { package_name: "nope" } }',
     "model_config.backbone.blocks[0].inputs[0].package_name", "is not a package"),
    ('blocks { name: "a" inputs { feature_group_name: "deep" } } concat_blocks: "b"',
     "model_config.backbone.concat_blocks[0]", "'b' is not a block of backbone"),
    ('packages { name: "p" blocks { name: "x" inputs { package_name: "q" } } } '
     'packages { name: "q" blocks { name: "y" inputs { package_name: "p" } } } '
     'blocks { name: "a" inputs { package_name: "p" } }',
     "model_config.backbone.packages", "cycle: p -> q -> p"),
    ('', "model_config.backbone", "at least one block"),
])
def test_structural_errors_name_the_field(text, field, reason):
    with pytest.raises(BackboneError) as error:
        analyse(tower(text), GROUPS)
    assert error.value.field == field
    assert reason in error.value.reason
