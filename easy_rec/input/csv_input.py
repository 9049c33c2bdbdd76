"""CSV reader: delimited text files -> batches of named raw columns on tf.data.

It reads input_type CSVInput and CSVInputEx (a cell is everything between two separators) and
CSVInputV2, whose cells may be double-quoted (quoted_cells.py).

Files are read as blocks of whole lines (line_blocks.py). Each row keeps its file and line
number until it is parsed (see line_parser.py), so a malformed row (wrong column count, a cell
that does not parse as its field's type) is reported by place. With ``data_config.ignore_error`` such rows are dropped and counted instead; every
batch carries the count under ``MALFORMED_KEY``.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.input.empty_input import no_rows_error
from easy_rec.input.line_blocks import (
    BLOCK_BYTES,
    block_lines,
    file_blocks,
    file_sizes,
    head_lines,
)
from easy_rec.input.line_parser import (
    LineParser,
    columns_for,
    malformed_rows_reported,
    pack_row_id,
)
from easy_rec.input.shards import WHOLE, Shard, file_share
from easy_rec.input.tuning import fixed_tuning, parallel_calls, without_autograph
from easy_rec.protos import dataset_pb2
from easy_rec.tables.errors import InputError
from easy_rec.tables.header import common_header
from easy_rec.tables.paths import expand_paths

__all__ = ["CSVInput"]


class CSVInput:
    """Builds tf.data pipelines over CSV files described by a DatasetConfig."""

    def __init__(
        self,
        data_config: dataset_pb2.DatasetConfig,
        input_path: str,
        needed_fields: list[str] | None = None,
        block_bytes: int = BLOCK_BYTES,
    ):
        """`block_bytes`: size of the chunks files are read in (tests make it small)."""
        self._config = data_config
        self._block_bytes = block_bytes
        self._separator = data_config.separator
        self.files = expand_paths(input_path)
        names = [f.input_name for f in data_config.input_fields]
        positions = self._column_positions(names)
        self._num_columns = len(positions) if not data_config.with_header else self._header_width
        wanted = set(needed_fields) if needed_fields is not None else set(names)
        quoted = data_config.input_type == dataset_pb2.DatasetConfig.CSVInputV2
        self._parser = LineParser(columns_for(data_config, positions, wanted), self._separator,
                                  self._num_columns, data_config.ignore_error, self.files,
                                  quoted=quoted)

    def _column_positions(self, names: list[str]) -> dict[str, int]:
        if not self._config.with_header:
            return {name: i for i, name in enumerate(names)}
        header = common_header(self.files, self._separator)
        missing = [n for n in names if n not in header]
        if missing:
            raise InputError(f"{self.files[0]}: header has no column {', '.join(missing)}")
        self._header_width = len(header)
        return {name: header.index(name) for name in names}

    @property
    def decodes_blocks(self) -> bool:
        """Whether blocks of valid rows take the fast decode_csv path (csv_decode.py)."""
        return self._parser.decodes_blocks

    @property
    def output_signature(self) -> dict[str, tf.TensorSpec]:
        """Spec of one parsed batch (without the malformed-row count)."""
        return self._parser.output_signature

    def check_head(self, role: str) -> None:
        """Checks up front what a job would otherwise find late: EmptyInputError ("no <role>
        rows in ...") when no file has a row; the first block of the first file with rows is
        parsed, so that (without ignore_error) a malformed row there raises MalformedRowError
        with its file:line in seconds rather than when the job reaches it."""
        skip_header = self._config.with_header
        for file_id, path in enumerate(self.files):
            lines = head_lines(path, skip_header, self._block_bytes)
            if lines:
                first_line = 2 if skip_header else 1
                row_ids = pack_row_id(file_id, tf.range(first_line, first_line + len(lines),
                                                        dtype=tf.int64))
                self._parse_head(row_ids, tf.constant(lines))
                return
        raise no_rows_error(role, self.files)

    def _parse_head(self, row_ids: tf.Tensor, lines: tf.Tensor) -> None:
        # in a graph, as in the dataset, so that the error reads the same
        with malformed_rows_reported():
            tf.function(self._parser.parse_block, autograph=False)(row_ids, lines)

    def make_dataset(
        self,
        batch_size: int,
        num_epochs: int | None = 1,
        shuffle: bool = False,
        seed: int = 0,
        drop_remainder: bool = False,
        shard: Shard = WHOLE,
    ) -> tf.data.Dataset:
        """Batches of {field name: [batch] tensor}; num_epochs None repeats forever;
        `drop_remainder` drops the last batch of the input when it is short; `shard`: only
        this share of the files or lines is read and parsed (shards.py).

        Without shuffle, blocks of lines are parsed in parallel and re-batched; with it,
        the lines of the blocks pass one by one through the shuffle buffer, then are
        batched and parsed."""
        files = file_share(len(self.files), shard)
        blocks = self._blocks(num_epochs, shuffle, seed, files)
        row_share = None if files is not None or shard.whole else shard
        parallel = parallel_calls(self._config.num_parallel_calls)
        parser = self._parser

        def share_lines(*block: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return block_lines(*block, skip_header=self._config.with_header,
                               row_share=row_share)

        if shuffle:
            lines = blocks.map(without_autograph(share_lines),
                               num_parallel_calls=parallel).unbatch()
            buffer = max(int(self._config.shuffle_buffer_size), 1)
            lines = lines.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
            batches = lines.batch(batch_size, drop_remainder=drop_remainder).map(
                without_autograph(lambda ids, rows: parser.finish(parser.parse_block(ids, rows))),
                num_parallel_calls=parallel, deterministic=True)
        else:
            parsed = blocks.map(
                without_autograph(lambda *block: parser.parse_block(*share_lines(*block))),
                num_parallel_calls=parallel, deterministic=True)
            batches = parsed.rebatch(batch_size, drop_remainder=drop_remainder).map(
                without_autograph(parser.finish))
        batches = batches.prefetch(max(int(self._config.prefetch_size), 1))
        return batches.with_options(fixed_tuning())

    def _blocks(self, num_epochs: int | None, shuffle: bool, seed: int,
                files: list[int] | None) -> tf.data.Dataset:
        """Blocks of whole lines (line_blocks.file_blocks) of the files `files` (None: every
        file), epoch after epoch."""
        files = list(range(len(self.files))) if files is None else files
        file_ids = tf.data.Dataset.from_tensor_slices(tf.constant(files, tf.int64))
        if shuffle and len(files) > 1:
            file_ids = file_ids.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        file_ids = file_ids.repeat(num_epochs)
        names = tf.constant(self.files)
        sizes = tf.constant(file_sizes(self.files), tf.int64)
        return file_ids.interleave(
            without_autograph(lambda file_id: file_blocks(file_id, names, sizes,
                                                          self._block_bytes)),
            cycle_length=min(len(files), 4), block_length=1)
