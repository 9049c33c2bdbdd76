"""Converts a CSV file described by a pipeline config into a TFRecord file of tf.train.Example
records, the layout data_config.input_type: TFRecordInput reads.

    python scripts/csv_to_tfrecord.py --pipeline_config samples/deepfm_on_movielens.config \\
        --input samples/data/movielens_test.csv --output /tmp/movielens_test.tfrecord.gz \\
        --compression GZIP --max_rows 2000

Columns are read as CSVInput reads them (types, defaults) and written one feature per input
field: INT32, INT64 and BOOL as int64 lists, FLOAT and DOUBLE as float lists, STRING as bytes.
"""
from __future__ import annotations

import argparse
import os
import sys

import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from easy_rec.config.loader import load_pipeline_config  # noqa: E402
from easy_rec.input.csv_input import CSVInput  # noqa: E402
from easy_rec.input.line_parser import MALFORMED_KEY  # noqa: E402


def feature(value) -> tf.train.Feature:
    """One value as a tf.train.Feature of length 1."""
    if isinstance(value, bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    if isinstance(value, float):
        return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def convert(config_path: str, input_path: str, output_path: str, compression: str = "",
            max_rows: int = 0) -> int:
    """Writes the rows of `input_path` to `output_path`; returns the number of rows."""
    data_config = load_pipeline_config(config_path).config.data_config
    dataset = CSVInput(data_config, input_path).make_dataset(4096, num_epochs=1)
    rows = 0
    options = tf.io.TFRecordOptions(compression_type=compression)
    with tf.io.TFRecordWriter(output_path, options) as writer:
        for batch in dataset:
            batch.pop(MALFORMED_KEY)
            columns = {name: values.numpy().tolist() for name, values in batch.items()}
            for i in range(len(next(iter(columns.values())))):
                if max_rows and rows >= max_rows:
                    return rows
                example = tf.train.Example(features=tf.train.Features(feature={
                    name: feature(values[i]) for name, values in columns.items()}))
                writer.write(example.SerializeToString())
                rows += 1
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline_config", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--compression", default="", choices=["", "GZIP", "ZLIB"])
    parser.add_argument("--max_rows", type=int, default=0, help="0: every row")
    args = parser.parse_args()
    rows = convert(args.pipeline_config, args.input, args.output, args.compression,
                   args.max_rows)
    print(f"{args.output}: {rows} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
