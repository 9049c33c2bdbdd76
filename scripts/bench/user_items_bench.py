"""One user × N items latency benchmark; prints one JSON line.

For DeepFM and DIN (samples/*_on_movielens.config, untrained: latency does not depend on the
weights), exports a SavedModel and times, in a fresh process that loads it with plain
TensorFlow, `serving_default` on N rows (the user's columns repeated in every row) against
`score_user_items` on 1 user row and N item rows: p50 / p99 milliseconds over --calls calls
after --warmup calls. Each is measured for

- the export as easy_rec writes it, under the loading process's runtime options: TensorFlow's
  defaults; grappler's constant folding off; grappler off altogether; XLA auto-clustering
  (TF_XLA_FLAGS: clusters what XLA can compile, leaves the rest to TensorFlow);
- a copy whose serving functions carry ``jit_compile=True`` (XLA for the whole function),
  under TensorFlow's defaults.

The two signatures are called alternately, so that both see the same machine load;
`p50_speedup` is serving_default's p50 over score_user_items'.

Usage: python scripts/bench/user_items_bench.py [--models deepfm,din] [--items 200]
       [--calls 300] [--warmup 30] [--work_dir /tmp/easy_rec_user_items_bench]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: runtime options of the process loading the export: (grappler options, extra environment)
RUNTIME_OPTIONS = {
    "default": ({}, {}),
    "no_constant_folding": ({"constant_folding": False}, {}),
    "grappler_off": ({"disable_meta_optimizer": True}, {}),
    "xla_auto_jit": ({}, {"TF_XLA_FLAGS": "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit"}),
}
SIGNATURES = ("serving_default", "score_user_items")


def measure(saved_model: str, inputs_file: str, grappler: str, calls: int, warmup: int) -> dict:
    """p50 / p99 ms of both signatures of one export (run in the child process)."""
    import numpy as np
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options(json.loads(grappler))
    data = np.load(inputs_file)
    user = json.loads(str(data["__user__"]))
    items = int(data["__items__"])
    columns = {c: data[c] for c in data.files if not c.startswith("__")}
    requests = {
        "serving_default": {c: tf.constant(np.repeat(v[:1], items, axis=0) if c in user else v)
                            for c, v in columns.items()},
        "score_user_items": {c: tf.constant(v[:1] if c in user else v)
                             for c, v in columns.items()},
    }
    loaded = tf.saved_model.load(saved_model)
    result, times = {}, {}
    for name in SIGNATURES:
        try:
            for _ in range(warmup):
                loaded.signatures[name](**requests[name])
            times[name] = []
        except Exception as error:  # noqa: BLE001 - reported in the JSON line
            result[name] = {"error": f"{type(error).__name__}: {_reason(str(error))}"}
    for _ in range(calls):  # interleaved: both signatures see the same machine load
        for name in times:
            start = time.perf_counter()
            outputs = loaded.signatures[name](**requests[name])
            next(iter(outputs.values())).numpy()
            times[name].append((time.perf_counter() - start) * 1000)
    for name, values in times.items():
        result[name] = {"p50_ms": round(float(np.percentile(values, 50)), 3),
                        "p99_ms": round(float(np.percentile(values, 99)), 3)}
    if len(times) == 2:
        result["p50_speedup"] = round(result["serving_default"]["p50_ms"]
                                      / result["score_user_items"]["p50_ms"], 2)
    return result


def _reason(text: str) -> str:
    """The telling line of an error message or a crashed child's stderr: the first naming
    an op XLA cannot compile or a failed check, else the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if any(w in line for w in ("unsupported operations", "No registered", "Check failed")):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def export(sample: str, work_dir: str, items: int) -> dict[str, str]:
    """Exports `sample` as easy_rec does and as a jit_compile copy; writes the request
    columns; returns {variant: SavedModel path} and the inputs file under '__inputs__'."""
    import numpy as np
    import tensorflow as tf

    from easy_rec.export.exporter import ServingModule, export_saved_model, serving_specs
    from easy_rec.export.user_items import SIGNATURE, split_columns, user_features
    from easy_rec.input.fields import column_dtypes, parse_cells
    from easy_rec.models.builder import build_model
    from easy_rec.pipeline import load_pipeline_config

    config = load_pipeline_config(os.path.join(REPO, "samples", f"{sample}_on_movielens.config")).config
    model = build_model(config, base_dir=os.path.join(REPO, "samples"))
    user, _ = split_columns(model, user_features(config))
    paths = {"export": export_saved_model(model, config, os.path.join(work_dir, sample, "export"), 1)}
    module = ServingModule(model, serving_specs(model, config), False, user_features(config))
    jitted = {"serving_default": tf.function(module.serve.python_function, jit_compile=True,
                                             input_signature=module.serve.input_signature)}
    jitted[SIGNATURE] = tf.function(module.extra[SIGNATURE].python_function, jit_compile=True,
                                    input_signature=module.extra[SIGNATURE].input_signature)
    paths["jit_compile"] = os.path.join(work_dir, sample, "jit_compile")
    tf.saved_model.save(module, paths["jit_compile"], signatures=jitted)
    fields = [f.input_name for f in config.data_config.input_fields]
    dtypes = column_dtypes(config.data_config)
    with open(os.path.join(REPO, config.eval_input_path), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split(config.data_config.separator) for _, line in zip(range(items), f)]
    columns = {}
    for name in model.serving_input_names:
        value = parse_cells(tf.constant([r[fields.index(name)] for r in rows]), dtypes[name]).numpy()
        columns[name] = value.astype("S") if dtypes[name] == tf.string else value
    paths["__inputs__"] = os.path.join(work_dir, sample, "inputs.npz")
    np.savez(paths["__inputs__"], __user__=json.dumps(user), __items__=items, **columns)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="deepfm,din")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--work_dir", default="/tmp/easy_rec_user_items_bench")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)  # child: model inputs grappler
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.measure:
        print(json.dumps(measure(*args.measure, args.calls, args.warmup)))
        return
    sys.path.insert(0, REPO)
    from tqdm import tqdm

    exports = {sample: export(sample, args.work_dir, args.items) for sample in args.models.split(",")}
    cells = [(s, "export", o) for s in exports for o in RUNTIME_OPTIONS]
    cells += [(s, "jit_compile", "default") for s in exports]
    results: dict = {"items": args.items, "calls": args.calls}
    for sample, variant, option in tqdm(cells, desc="cells", total=len(cells)):
        grappler, env = RUNTIME_OPTIONS[option]
        out = subprocess.run(
            [sys.executable, __file__, "--calls", str(args.calls), "--warmup", str(args.warmup),
             "--measure", exports[sample][variant], exports[sample]["__inputs__"],
             json.dumps(grappler)],
            capture_output=True, text=True, env={**os.environ, **env}, check=False)
        lines = out.stdout.strip().splitlines()
        cell = json.loads(lines[-1]) if out.returncode == 0 and lines else {
            "error": f"exit {out.returncode}: {_reason(out.stderr)}"}
        results.setdefault(sample, {}).setdefault(variant, {})[option] = cell
    print(json.dumps(results))


if __name__ == "__main__":
    main()
