"""Steady training throughput on EasyRec's example configs; prints one JSON line.

Cases (`--cases`, default all):

- deepfm, wide_and_deep, dcn: EasyRec's own MovieLens example configs
  (`examples/configs/<model>_on_movielens.config`) over `../shared/data/ml-100k-easyrec`, with
  parity_bench.py's edits (the `title` text-CNN SequenceFeature read as a TagFeature, as in
  EasyRec's runs behind its figures); batch 1024. Compared with EasyRec 0.8.7's steady rates on
  the same 2-core machine type (issue 13): DeepFM 45k, WideAndDeep 36.5k, DCN 30.5k examples/s.
- din: `samples/din_on_movielens.config` (MultiTowerDIN, 20-movie histories, the time-split
  MovieLens sequence tables of samples/data); EasyRec has no DIN MovieLens example, so no ratio.
- criteo: DeepFM over 26 hashed categorical and 13 raw integer columns of a 2M-row Criteo-like
  table (scripts/generate_criteo_like.py; the config of input_bench.py), batch 1024.

Each run is a fresh process training with determinism off (no train_config.seed), no
evaluation, no checkpoint and no export inside the measured window; the input repeats its
epochs, so the run lasts as long as needed. After a warm-up (tracing, first batches:
--warmup_steps and --warmup_secs) the bench reads the global step, the wall clock and the
process's CPU seconds (all threads: input pipeline and training), waits --window seconds,
reads them again and stops the trainer through its stop file. Figures per case: the median
over --runs runs of examples/s and of CPU milliseconds per 1,000 examples (steadier than
examples/s on a shared machine), each run's figures, and the ratio to EasyRec's rate.

`--profile` adds, per case, where a step's time goes (see `profile_case`).

Usage: python scripts/bench/train_bench.py [--cases deepfm dcn] [--runs 3] [--window 30]
       [--profile] [--criteo_rows 2000000] [--work_dir /tmp/easy_rec_train_bench]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: EasyRec 0.8.7's steady training examples/s on the 2-core machine type (issue 13)
EASYREC_RATE = {"deepfm": 45_000, "wide_and_deep": 36_500, "dcn": 30_500}
#: the speed goal of issue 13: this multiple of EasyRec's rate
GOAL = 1.5
EXAMPLE_CASES = ("deepfm", "wide_and_deep", "dcn")
CASES = EXAMPLE_CASES + ("din", "criteo")


def load_module(path: str, name: str):
    """A script of this repository as a module."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def case_config(case: str, args: argparse.Namespace, model_dir: str):
    """(the case's pipeline config, its base_dir), edited for a steady run."""
    from easy_rec.pipeline import load_pipeline_config, parse_pipeline_config_text

    if case in EXAMPLE_CASES:
        parity = load_module("scripts/bench/parity_bench.py", "parity_bench")
        path = os.path.join(args.easyrec_configs, f"{case}_on_movielens.config")
        text, _ = parity.edited_config_text(path, args.data, model_dir, seed=0)
        config = parse_pipeline_config_text(text, path=path).config
        base_dir = os.path.dirname(path)
    elif case == "din":
        config = load_pipeline_config(os.path.join(REPO, "samples", "din_on_movielens.config"),
                                      {"model_dir": model_dir}).config
        base_dir = REPO
    else:
        config = load_module("scripts/bench/input_bench.py", "input_bench").criteo_config(
            criteo_table(args))
        config.model_dir = model_dir
        base_dir = REPO
    train = config.train_config
    train.ClearField("seed")
    train.num_steps = 0
    train.save_checkpoints_steps = 1 << 30
    train.ClearField("save_checkpoints_secs")
    train.enable_oss_stop_signal = True
    config.data_config.num_epochs = 0  # repeat until stopped
    config.ClearField("eval_input_path")
    config.export_config.exporter_type = "none"
    return config, base_dir


def criteo_table(args: argparse.Namespace) -> str:
    """The Criteo-like table of --criteo_rows rows (generated once into --work_dir)."""
    path = os.path.join(args.work_dir, f"criteo_like_{args.criteo_rows}.txt")
    if not os.path.exists(path):
        os.makedirs(args.work_dir, exist_ok=True)
        generator = load_module("scripts/generate_criteo_like.py", "generate_criteo_like")
        generator.write_criteo_like(path + ".part", args.criteo_rows, seed=0)
        os.replace(path + ".part", path)
    return path


def cpu_seconds() -> float:
    """CPU seconds of this process so far (user + system, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def per_1k(cpu: float, examples: float) -> float:
    """CPU milliseconds per 1,000 examples."""
    return round(1e6 * cpu / max(examples, 1.0), 2)


# ------------------------------------------------------------------------------ steady run
def steady_run(case: str, args: argparse.Namespace) -> dict:
    """One steady window of training (this process); examples/s and CPU ms per 1k examples."""
    from easy_rec.training import stop_signals
    from easy_rec.training.trainer import Trainer

    stop_signals.STOP_FILE_CHECK_SECS = 0.2
    with tempfile.TemporaryDirectory() as model_dir:
        config, base_dir = case_config(case, args, model_dir)
        trainer = Trainer(config, base_dir=base_dir)
        batch_size = config.data_config.batch_size
        window: dict = {}
        watcher = threading.Thread(target=watch, args=(trainer, args, window), daemon=True)
        watcher.start()
        trainer.train()
        watcher.join()
    if "error" in window:
        raise RuntimeError(window["error"])
    examples = window["steps"] * batch_size
    return {"examples_per_sec": round(examples / window["seconds"], 1),
            "cpu_ms_per_1k": per_1k(window["cpu"], examples),
            "window_s": round(window["seconds"], 1), "steps": window["steps"]}


def watch(trainer, args: argparse.Namespace, window: dict) -> None:
    """Waits out the warm-up, measures one window of --window seconds into `window`, then
    writes the trainer's stop file."""
    def reading() -> tuple[float, int, float]:
        return time.perf_counter(), int(trainer.global_step.numpy()), cpu_seconds()

    try:
        begin = time.perf_counter()
        while (int(trainer.global_step.numpy()) < args.warmup_steps
               or time.perf_counter() - begin < args.warmup_secs):
            time.sleep(0.05)
        start = reading()
        time.sleep(args.window)
        end = reading()
        window.update(seconds=end[0] - start[0], steps=end[1] - start[1], cpu=end[2] - start[2])
    except Exception as error:  # reported by steady_run
        window["error"] = repr(error)
    finally:
        with open(os.path.join(trainer.config.model_dir, "OSS_STOP_SIGNAL"), "w"):
            pass


# ------------------------------------------------------------------------------ profile
def timed(fn: Callable[[], object], steps: int, batch_size: int,
          warmup: int = 5) -> dict[str, float]:
    """ms per call and CPU ms per 1k examples of `fn`, one call = `steps` steps of a batch."""
    for _ in range(warmup):
        fn()
    calls = max(1, 60 // steps)
    start, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(calls):
        fn()
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return {"ms_per_step": round(1000 * seconds / (calls * steps), 2),
            "cpu_ms_per_1k": per_1k(cpu, calls * steps * batch_size)}


def profile_case(case: str, args: argparse.Namespace) -> dict:
    """Where a step's time goes: each part timed alone, after warm-up, on one fixed batch.

    input: the next batch from the training input (reading, parsing, shuffling, batching;
    in tf.data's threads, prefetched); forward: features, model and loss; forward_backward:
    plus the gradients; step: the train step on a fixed batch (plus the optimizer's apply);
    loop: the trainer's compiled call, steps_per_execution steps with the input read inside
    the graph (absent where the trainer has none). backward = forward_backward - forward,
    optimizer = step - forward_backward. step_per_call: one step per call on the next batch
    fetched in Python (the loop without steps_per_execution). graph_ops: ops in the train
    step's graph.
    """
    import tensorflow as tf

    from easy_rec.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as model_dir:
        config, base_dir = case_config(case, args, model_dir)
        trainer = Trainer(config, base_dir=base_dir)
        trainer.restore()
        size = config.data_config.batch_size
        batch = trainer.input.next_batch()
        model = trainer.model

        def forward(b):
            outputs = model(b, training=True)
            return model.loss(outputs, b) + model.regularization(outputs)

        def forward_backward(b):
            with tf.GradientTape() as tape:
                total = forward(b)
            return tape.gradient(total, trainer._variables)

        compiled_forward = tf.function(forward, autograph=False)
        compiled_gradients = tf.function(forward_backward, autograph=False)
        parts = {
            "input": timed(trainer.input.next_batch, 1, size),
            "forward": timed(lambda: compiled_forward(batch), 1, size),
            "forward_backward": timed(lambda: compiled_gradients(batch), 1, size),
            "step": timed(lambda: trainer._train_step(batch), 1, size),
            "step_per_call": timed(lambda: trainer._train_step(trainer.input.next_batch()), 1,
                                   size),
        }
        steps = getattr(trainer, "_train_steps", None)
        if steps is not None:
            count = trainer._steps_per_execution()
            parts["loop"] = timed(lambda: steps(tf.constant(count, tf.int64)), count, size, 1)
        graph = trainer._train_step.get_concrete_function(trainer.input.output_signature).graph
        parts["graph_ops"] = len(graph.get_operations())
        trainer.input.close()
    return parts


# ------------------------------------------------------------------------------ driver
def in_subprocess(mode: str, case: str, args: argparse.Namespace) -> dict:
    """Runs `--one case` (steady run or profile) in a fresh process; its JSON result."""
    command = [sys.executable, __file__, f"--{mode}_one", case, "--window", str(args.window),
               "--warmup_steps", str(args.warmup_steps), "--warmup_secs", str(args.warmup_secs),
               "--criteo_rows", str(args.criteo_rows), "--work_dir", args.work_dir,
               "--easyrec_configs", args.easyrec_configs, "--data", args.data]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = out.stdout.strip().splitlines()
    if out.returncode or not lines:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


def summarize(case: str, runs: list[dict]) -> dict:
    """Medians over the runs, and the comparison with EasyRec's rate where there is one."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return {"error": runs[0]["error"]}
    record: dict = {
        "examples_per_sec": round(statistics.median(r["examples_per_sec"] for r in good)),
        "cpu_ms_per_1k": round(statistics.median(r["cpu_ms_per_1k"] for r in good), 2),
        "runs": [[round(r["examples_per_sec"]), r["cpu_ms_per_1k"], r["window_s"]] for r in good],
    }
    if case in EASYREC_RATE:
        easyrec = EASYREC_RATE[case]
        record.update(easyrec=easyrec, ratio=round(record["examples_per_sec"] / easyrec, 2),
                      target=round(GOAL * easyrec), met=record["examples_per_sec"] >= GOAL * easyrec)
    return record


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (other jobs on the machine slow the wall rates)."""
    return [round(x, 1) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured per run")
    parser.add_argument("--warmup_steps", type=int, default=200)
    parser.add_argument("--warmup_secs", type=float, default=5.0)
    parser.add_argument("--profile", action="store_true", help="also time the parts of a step")
    parser.add_argument("--criteo_rows", type=int, default=2_000_000)
    parser.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(),
                                                           "easy_rec_train_bench"))
    parity = load_module("scripts/bench/parity_bench.py", "parity_bench")
    parser.add_argument("--easyrec_configs", default=parity.DEFAULT_CONFIGS,
                        help="examples/configs of an EasyRec checkout (for deepfm, "
                             "wide_and_deep, dcn); default $EASYREC_CONFIGS or ../EasyRec/...")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(REPO), "shared", "data",
                                                       "ml-100k-easyrec"))
    parser.add_argument("--steady_one", help=argparse.SUPPRESS)  # internal: one run
    parser.add_argument("--profile_one", help=argparse.SUPPRESS)  # internal: one profile
    args = parser.parse_args()
    if args.steady_one or args.profile_one:
        import logging

        logging.basicConfig(level=logging.WARNING)
        one = (steady_run(args.steady_one, args) if args.steady_one
               else profile_case(args.profile_one, args))
        print(json.dumps(one))
        return
    if set(args.cases) & set(EXAMPLE_CASES):
        parity.check_easyrec_configs(parser, args.easyrec_configs)
    report: dict = {"bench": "train", "window_s": args.window, "runs": args.runs,
                    "load_before": load_average()}
    for case in args.cases:
        runs = [in_subprocess("steady", case, args) for _ in range(args.runs)]
        report[case] = summarize(case, runs)
        if args.profile:
            report[case]["profile"] = in_subprocess("profile", case, args)
        print(json.dumps({case: report[case]}), file=sys.stderr, flush=True)
    report["load_after"] = load_average()
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
