"""Input throughput benchmark; prints one JSON line of rows/s.

For two tables, a Criteo-like file (scripts/generate_criteo_like.py, 2M rows, 40 columns, tab
separated) and the MovieLens sample (samples/data/movielens_train.csv, read 5 times):

1. DeepFM training examples/s on the table (the trainer's own figure; Criteo-like: the first
   300 steps; MovieLens: samples/deepfm_on_movielens.config, 5 epochs);
2. raw pyarrow: ``pyarrow.csv.read_csv`` of all columns (default threads, and one thread), and
   ``pyarrow.parquet.read_table`` of a Parquet copy;
3. the easy_rec CSV pipeline (``CSVInput.make_dataset``, batch 1024, every column parsed), in
   file order and shuffled (the training path, shuffle buffer of the config);
4. the same plus the feature transforms and embedding lookups of a FeatureLayer inside a
   ``tf.function`` (Criteo: IdFeature with hash buckets for C1..C26, RawFeature for I1..I13;
   MovieLens: the features and groups of samples/deepfm_on_movielens.config), no training;
5. 3. and 4. for the Parquet reader (``input_type: ParquetInput``).

Each rate is the best of --repeats runs and includes the pipeline start-up.
Goals (issue 4, docs/benchmarks.md): input rows/s with the feature transforms >= 3x the
training examples/s of 1., and CSV parsing >= half of pyarrow's raw CSV rate.

Usage: python scripts/bench/input_bench.py [--rows 2000000] [--work_dir /tmp/easy_rec_input_bench]
       [--reuse] [--skip_criteo] [--skip_movielens]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tqdm import tqdm  # noqa: E402

from easy_rec.config.features import feature_configs  # noqa: E402
from easy_rec.features.feature_layer import FeatureLayer  # noqa: E402
from easy_rec.input.csv_input import CSVInput  # noqa: E402
from easy_rec.pipeline import load_pipeline_config  # noqa: E402
from easy_rec.protos import dataset_pb2, pipeline_pb2  # noqa: E402
from easy_rec.training.trainer import Trainer  # noqa: E402

BATCH_SIZE = 1024
MOVIELENS_EPOCHS = 5
CRITEO_HASH_BUCKETS = 100_000
CRITEO_TRAIN_STEPS = 300
logger = logging.getLogger("input_bench")


def load_generator():
    """scripts/generate_criteo_like.py as a module."""
    path = os.path.join(REPO, "scripts", "generate_criteo_like.py")
    spec = importlib.util.spec_from_file_location("generate_criteo_like", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Table:
    """One benchmark table: its files, schema and the reader / feature configuration."""

    name: str
    csv_path: str
    parquet_path: str
    column_names: list[str]
    arrow_types: dict[str, pa.DataType]
    config: pipeline_pb2.EasyRecConfig
    epochs: int = 1
    rows: int = 0


def rows_per_sec(rows: int, seconds: float) -> float:
    return round(rows / seconds, 1) if seconds > 0 else float("nan")


def timed(fn: Callable[[], int], repeats: int) -> float:
    """Best rows/s of `repeats` runs of `fn`, which returns the number of rows it processed
    (the best run is the one least disturbed by other processes on the machine)."""
    best = 0.0
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        rows = fn()
        best = max(best, rows_per_sec(rows, time.perf_counter() - start))
    return best


def warm_page_cache(*paths: str) -> None:
    """Reads the files once so that no measurement pays for the first disk read."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(16 << 20):
                pass


# ------------------------------------------------------------------------------------- tables


def criteo_config(rows_path: str) -> pipeline_pb2.EasyRecConfig:
    """data_config for the Criteo schema and DeepFM-like feature groups over all 39 features."""
    gen = load_generator()
    fields = [f'input_fields {{ input_name: "{gen.LABEL}" input_type: INT32 }}']
    fields += [f'input_fields {{ input_name: "{c}" input_type: INT64 }}' for c in gen.INT_COLUMNS]
    fields += [f'input_fields {{ input_name: "{c}" input_type: STRING }}' for c in gen.CAT_COLUMNS]
    features = [f'features {{ input_names: "{c}" feature_type: IdFeature embedding_dim: 16 '
                f'hash_bucket_size: {CRITEO_HASH_BUCKETS} }}' for c in gen.CAT_COLUMNS]
    features += [f'features {{ input_names: "{c}" feature_type: RawFeature }}'
                 for c in gen.INT_COLUMNS]
    names = ", ".join(f'"{c}"' for c in gen.CAT_COLUMNS + gen.INT_COLUMNS)
    text = f"""
    train_input_path: "{rows_path}"
    train_config {{
      log_step_count_steps: 1000
      optimizer_config {{ adam_optimizer {{ learning_rate {{ constant_learning_rate {{
        learning_rate: 0.001 }} }} }} }}
      save_checkpoints_steps: 1000000
      num_steps: {CRITEO_TRAIN_STEPS}
    }}
    export_config {{ exporter_type: "none" }}
    data_config {{
      input_type: CSVInput separator: "\\t" batch_size: {BATCH_SIZE} prefetch_size: 8
      shuffle_buffer_size: 8192 num_epochs: 1
      label_fields: "label"
      {chr(10).join(fields)}
    }}
    feature_config {{ {chr(10).join(features)} }}
    model_config {{
      model_class: "DeepFM"
      feature_groups {{ group_name: "wide" feature_names: [{names}] wide_deep: WIDE }}
      feature_groups {{ group_name: "deep" feature_names: [{names}] wide_deep: DEEP }}
      deepfm {{ dnn {{ hidden_units: [256, 128, 64] }} l2_regularization: 1e-4 }}
      embedding_regularization: 1e-5
    }}
    """
    config = pipeline_pb2.EasyRecConfig()
    text_format.Parse(text, config)
    return config


def criteo_table(work_dir: str, rows: int, reuse: bool) -> Table:
    """The generated Criteo-like table (written unless `reuse` finds it)."""
    gen = load_generator()
    csv_path = os.path.join(work_dir, f"criteo_like_{rows}.txt")
    parquet_path = os.path.join(work_dir, f"criteo_like_{rows}.parquet")
    if not (reuse and os.path.exists(csv_path) and os.path.exists(parquet_path)):
        logger.info("generating %d Criteo-like rows in %s", rows, work_dir)
        gen.write_criteo_like(csv_path, rows, seed=0, parquet_path=parquet_path)
    types = {field.name: field.type for field in gen.SCHEMA}
    return Table("criteo_like", csv_path, parquet_path, gen.COLUMNS, types,
                 criteo_config(csv_path), rows=rows)


def movielens_table(work_dir: str) -> Table:
    """The MovieLens sample table with the DeepFM sample config, read MOVIELENS_EPOCHS times."""
    samples = os.path.join(REPO, "samples")
    config = load_pipeline_config(os.path.join(samples, "deepfm_on_movielens.config")).config
    csv_path = os.path.join(samples, "data", "movielens_train.csv")
    names = [f.input_name for f in config.data_config.input_fields]
    arrow = {dataset_pb2.DatasetConfig.INT32: pa.int32(), dataset_pb2.DatasetConfig.INT64: pa.int64(),
             dataset_pb2.DatasetConfig.STRING: pa.string()}
    types = {f.input_name: arrow[f.input_type] for f in config.data_config.input_fields}
    table = read_csv(csv_path, names, types, "\t")
    parquet_path = os.path.join(work_dir, "movielens_train.parquet")
    pq.write_table(table, parquet_path, row_group_size=65_536)
    return Table("movielens", csv_path, parquet_path, names, types, config,
                 epochs=MOVIELENS_EPOCHS, rows=table.num_rows)


# ----------------------------------------------------------------------------- measurements


def read_csv(path: str, names: list[str], types: dict[str, pa.DataType], separator: str,
             use_threads: bool = True) -> pa.Table:
    return pa_csv.read_csv(
        path, read_options=pa_csv.ReadOptions(column_names=names, use_threads=use_threads),
        parse_options=pa_csv.ParseOptions(delimiter=separator, quote_char=False),
        convert_options=pa_csv.ConvertOptions(column_types=types))


def pyarrow_rates(table: Table, repeats: int) -> dict[str, float]:
    """Raw pyarrow rates: CSV (threads / one thread) and Parquet, all columns."""
    separator = table.config.data_config.separator

    def csv(use_threads: bool) -> Callable[[], int]:
        return lambda: sum(read_csv(table.csv_path, table.column_names, table.arrow_types,
                                    separator, use_threads).num_rows for _ in range(table.epochs))

    def parquet() -> int:
        return sum(pq.read_table(table.parquet_path).num_rows for _ in range(table.epochs))

    return {"pyarrow_csv": timed(csv(True), repeats),
            "pyarrow_csv_1_thread": timed(csv(False), repeats),
            "pyarrow_parquet": timed(parquet, repeats)}


def build_dataset(table: Table, parquet: bool, shuffle: bool = False) -> tf.data.Dataset:
    """CSVInput over the text file, or the configured ParquetInput reader over the Parquet
    copy: every column, batch 1024, shuffled (the training path) or not."""
    if not parquet:
        reader = CSVInput(table.config.data_config, table.csv_path)
    else:
        from easy_rec.input.column_plan import build_column_plan
        from easy_rec.input.reader import build_reader

        config = pipeline_pb2.EasyRecConfig()
        config.CopyFrom(table.config)
        config.data_config.input_type = dataset_pb2.DatasetConfig.ParquetInput
        reader = build_reader(config.data_config, table.parquet_path, build_column_plan(config),
                              table.column_names)
    return reader.make_dataset(BATCH_SIZE, num_epochs=table.epochs, shuffle=shuffle)


def count_rows(dataset: tf.data.Dataset, step: Callable | None, desc: str, total: int) -> int:
    """Iterates the dataset (calling `step` on each batch); returns the rows seen."""
    rows = 0
    with tqdm(total=total, unit="rows", desc=desc, disable=None) as bar:
        for batch in dataset:
            if step is not None:
                step(batch)
            n = int(batch[table_key(batch)].shape[0])
            rows += n
            bar.update(n)
    return rows


def table_key(batch: dict) -> str:
    return next(k for k in batch if not k.startswith("__"))


def feature_step(table: Table, dataset: tf.data.Dataset) -> Callable:
    """tf.function running the feature transforms and lookups on one batch (sum of outputs)."""
    config = table.config
    layer = FeatureLayer(feature_configs(config), config.model_config.feature_groups)

    def transform(batch: dict) -> tf.Tensor:
        out = layer(batch, training=False)
        parts = [tf.reduce_sum(out.concat(g)) for g in out.deep]
        parts += [tf.reduce_sum(out.wide_sum(g)) for g in out.wide]
        return tf.add_n(parts)

    return tf.function(transform, input_signature=[dataset.element_spec], autograph=False)


def pipeline_rates(table: Table, parquet: bool, repeats: int) -> dict[str, float]:
    """rows/s of a reader alone and with the feature transforms."""
    prefix = "parquet_input" if parquet else "csv_input"
    total = table.rows * table.epochs
    parse = build_dataset(table, parquet)
    rates = {prefix: timed(lambda: count_rows(parse, None, prefix, total), repeats)}
    shuffled = build_dataset(table, parquet, shuffle=True)
    rates[f"{prefix}_shuffled"] = timed(
        lambda: count_rows(shuffled, None, f"{prefix} shuffled", total), repeats)
    with_features = build_dataset(table, parquet)
    step = feature_step(table, with_features)
    rates[f"{prefix}_with_features"] = timed(
        lambda: count_rows(with_features, step, f"{prefix}+features", total), repeats)
    return rates


def training_rate(table: Table, work_dir: str) -> float:
    """DeepFM training examples/s on the same table with the same features (the trainer's
    own figure: CSV input, shuffle buffer 8192, batch 1024)."""
    config = pipeline_pb2.EasyRecConfig()
    config.CopyFrom(table.config)
    config.model_dir = os.path.join(work_dir, f"train_{table.name}_{time.time_ns()}")
    config.train_config.save_checkpoints_steps = 1_000_000
    config.export_config.exporter_type = "none"
    config.ClearField("eval_path")
    trainer = Trainer(config, base_dir=REPO)
    trainer.train()
    return round(trainer.train_stats["examples_per_sec"], 1)


def goals(rates: dict) -> dict:
    """The two goals. Input with feature transforms (the whole input side of a step) at
    least 3x the training rate, for CSV and Parquet; CSV parsing at least half of pyarrow's
    raw CSV rate (the faster of its threaded and one-thread reads)."""
    training = rates["training_examples_per_sec"]
    pyarrow = max(rates["pyarrow_csv"], rates["pyarrow_csv_1_thread"])
    out = {"csv_input_vs_pyarrow_csv": round(rates["csv_input"] / pyarrow, 3),
           "csv_parse_goal_met": rates["csv_input"] >= 0.5 * pyarrow}
    for prefix in ("csv_input", "parquet_input"):
        if f"{prefix}_with_features" in rates:
            ratio = rates[f"{prefix}_with_features"] / training
            out[f"{prefix}_with_features_vs_training"] = round(ratio, 2)
            out[f"{prefix}_3x_training_goal_met"] = ratio >= 3
    return out


def bench(table: Table, repeats: int, work_dir: str) -> dict:
    """All measurements of one table."""
    warm_page_cache(table.csv_path, table.parquet_path)
    rates: dict = {"rows": table.rows * table.epochs,
                   "training_examples_per_sec": training_rate(table, work_dir)}
    rates.update(pyarrow_rates(table, repeats))
    rates.update(pipeline_rates(table, False, repeats))
    rates.update(pipeline_rates(table, True, repeats))
    rates.update(goals(rates))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="Criteo-like rows")
    parser.add_argument("--work_dir", default="/tmp/easy_rec_input_bench")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse a generated file of the same size in work_dir")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per measurement; the best is reported (shared machines)")
    parser.add_argument("--skip_criteo", action="store_true")
    parser.add_argument("--skip_movielens", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.makedirs(args.work_dir, exist_ok=True)
    report: dict = {"bench": "input", "batch_size": BATCH_SIZE, "cpus": os.cpu_count(),
                    "repeats": args.repeats}
    if not args.skip_criteo:
        table = criteo_table(args.work_dir, args.rows, args.reuse)
        report[f"criteo_like_{args.rows}_rows"] = bench(table, args.repeats, args.work_dir)
    if not args.skip_movielens:
        report[f"movielens_train_x{MOVIELENS_EPOCHS}"] = bench(
            movielens_table(args.work_dir), args.repeats, args.work_dir)
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
