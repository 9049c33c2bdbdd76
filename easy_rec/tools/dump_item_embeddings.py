"""`python -m easy_rec.tools.dump_item_embeddings`: item embeddings of a matching model's export.

    python -m easy_rec.tools.dump_item_embeddings --saved_model_dir D --input_path items.csv \\
        --output_path item_emb.tsv [--id_field movie_id] [--batch_size N] \\
        [--pipeline_config x.config | --with_header | --input_fields a,b,...]

Streams a CSV or Parquet item table through the SavedModel's `item_embedding` signature (the
readers and row checks of batch prediction, easy_rec/serving/) and writes one line per distinct
item id, ``<id>\\t<v1>,<v2>,...``, to a temp file renamed into place at the end. The id is the
--id_field column, else the signature's `item_id` output (the model's item id column). Later
rows with an id already written are skipped. Prints one JSON line of counts.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from easy_rec import cli
from easy_rec.serving.options import add_table_arguments

logger = logging.getLogger(__name__)

SIGNATURE = "item_embedding"
EMBEDDING_OUTPUT = "item_emb"
ID_OUTPUT = "item_id"


@dataclass
class DumpSummary:
    """Counts of one run: rows_read = items_written + duplicate_ids + rows_rejected."""

    rows_read: int = 0
    items_written: int = 0
    duplicate_ids: int = 0
    rows_rejected: int = 0
    dim: int = 0
    output_path: str = ""
    seconds: float = 0.0


def id_text(values: np.ndarray) -> list[str]:
    """Ids as the text written to the output: bytes decoded as UTF-8, with bytes that are not
    UTF-8 kept as surrogate escapes, which the output file writes back byte for byte."""
    return [v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)
            for v in values.tolist()]


class EmbeddingWriter:
    """Writes `id<TAB>comma-joined vector` lines, skipping ids it has already written."""

    def __init__(self, handle, summary: DumpSummary):
        self._handle = handle
        self._summary = summary
        self._seen: set[str] = set()

    def write(self, ids: list[str], vectors: np.ndarray) -> None:
        """Appends the rows whose id is new."""
        template = "%s\t" + ",".join(["%.9g"] * vectors.shape[1]) + "\n"
        self._summary.dim = int(vectors.shape[1])
        for item_id, vector in zip(ids, vectors.tolist()):
            if item_id in self._seen:
                self._summary.duplicate_ids += 1
                continue
            self._seen.add(item_id)
            self._handle.write(template % (item_id, *vector))
            self._summary.items_written += 1


def dump_item_embeddings(options, id_field: str | None = None) -> DumpSummary:
    """Runs one dump with batch prediction options (PredictOptions; output_cols, reserved_cols
    and output_format are not used); raises InputError (PredictError but for input paths that
    name no file or CSV headers that differ) with nothing left at the output path when the model, the input or an
    unparsable row (without ignore_error) stops it."""
    from tqdm import tqdm

    from easy_rec.serving.batch_predict import RowConverter, column_rules, open_source
    from easy_rec.serving.signature import ServingSignature
    from easy_rec.tables.errors import PredictError
    from easy_rec.tables.paths import check_output_path
    from easy_rec.utils.files import atomic_output

    start = time.perf_counter()
    check_output_path(options.output_path)
    signature = ServingSignature(options.saved_model_dir, SIGNATURE)
    if not id_field and ID_OUTPUT not in signature.outputs:
        raise PredictError(f"the {SIGNATURE} signature has no {ID_OUTPUT!r} output: pass "
                           "--id_field (the item id column of the input)")
    reserved = [id_field] if id_field else []
    outputs = [EMBEDDING_OUTPUT] + ([] if id_field else [ID_OUTPUT])
    source = open_source(options, signature.input_names + reserved)
    convert = RowConverter(column_rules(signature, options.defaults), reserved,
                           options.ignore_error)
    summary = DumpSummary(output_path=os.path.abspath(options.output_path))
    with atomic_output(options.output_path) as temp_path, \
            open(temp_path, "w", encoding="utf-8", errors="surrogateescape") as handle, \
            tqdm(total=source.total_rows, unit="rows", desc="item embeddings",
                 disable=None if options.progress is None else not options.progress) as bar:
        writer = EmbeddingWriter(handle, summary)
        for chunk in source:
            rows, rejected = convert(chunk)
            summary.rows_read += chunk.table.num_rows + chunk.rejected
            summary.rows_rejected += chunk.rejected + rejected
            ids = id_text(rows.reserved.column(id_field).to_numpy(zero_copy_only=False)) \
                if id_field else None
            for begin in range(0, rows.num_rows, options.batch_size):
                batch = {k: v[begin:begin + options.batch_size] for k, v in rows.inputs.items()}
                result = signature(batch, outputs)
                batch_ids = ids[begin:begin + options.batch_size] if ids is not None \
                    else id_text(result[ID_OUTPUT])
                writer.write(batch_ids, result[EMBEDDING_OUTPUT])
            bar.update(chunk.table.num_rows + chunk.rejected)
    summary.seconds = round(time.perf_counter() - start, 3)
    logger.info("wrote %d item embeddings to %s (%d duplicate ids, %d rejected rows)",
                summary.items_written, summary.output_path, summary.duplicate_ids,
                summary.rows_rejected)
    return summary


def build_parser() -> argparse.ArgumentParser:
    """The command line of the dump."""
    parser = cli.build_parser("easy_rec.tools.dump_item_embeddings", __doc__)
    parser.add_argument("--saved_model_dir", required=True,
                        help="SavedModel folder exported from a matching model (e.g. DSSM)")
    parser.add_argument("--input_path", required=True,
                        help="item table(s), CSV or Parquet: paths or globs, comma separated")
    parser.add_argument("--output_path", required=True, help="output file (id TAB vector)")
    parser.add_argument("--id_field", default=None,
                        help="id column of the input (default: the model's item id, returned "
                             "by the signature as item_id)")
    add_table_arguments(parser, "rows read at a time (bounds memory)")
    return parser


def main() -> int:
    """Entry point; prints the counts as one JSON line and returns the exit status."""
    args = cli.parse_args(build_parser())
    from easy_rec.serving.options import options_from_arguments

    options = options_from_arguments(args)
    summary = dump_item_embeddings(options, args.id_field)
    print(json.dumps(asdict(summary), sort_keys=True))
    return 0


if __name__ == "__main__":
    cli.run(main)
