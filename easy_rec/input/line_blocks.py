"""Text files -> blocks of whole lines on tf.data, without one dataset element per line.

A file is read in fixed-size byte chunks (``FixedLengthRecordDataset``); a ``scan`` cuts
each chunk after its last newline and carries the partial line over to the next chunk, so
every block holds whole lines and knows the line number of its first one. One element per
block (about a megabyte) instead of one per line is what lets the parser keep up with
training. Everything is a stock tf.data op, so the iterator position is checkpointable.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.input.line_parser import pack_row_id
from easy_rec.input.shards import Shard, row_share_mask
from easy_rec.input.tuning import without_autograph

BLOCK_BYTES = 1 << 20
_NEWLINE = 10
_CARRIAGE_RETURN = 13


def file_sizes(files: list[str]) -> list[int]:
    """Sizes in bytes, read once when the reader is built (the files must not change)."""
    return [tf.io.gfile.stat(path).length for path in files]


def head_lines(path: str, skip_header: bool, max_bytes: int = BLOCK_BYTES) -> list[bytes]:
    """The whole lines in about the first `max_bytes` of a file, as file_blocks' first block
    holds them (CRs dropped, the last line complete), without line 1 when `skip_header`."""
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read(max_bytes)
        if len(data) == max_bytes:
            data += f.readline()
    if not data:
        return []
    lines = data.replace(b"\r", b"").split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return lines[1:] if skip_header else lines


def _chunks(name: tf.Tensor, size: tf.Tensor, block_bytes: int) -> tf.data.Dataset:
    """The bytes of one file as chunks of `block_bytes`, the last one shorter."""
    tail = size % block_bytes
    full = tf.data.FixedLengthRecordDataset(name, block_bytes, footer_bytes=tail)
    # record length >= 1 is required even when there is no tail (the body is then empty)
    rest = tf.data.FixedLengthRecordDataset(name, tf.maximum(tail, 1), header_bytes=size - tail)
    return full.concatenate(rest)


def _cut_after_last_newline(carry: tf.Tensor, chunk: tf.Tensor, is_last: tf.Tensor):
    """Splits carry + chunk into (its whole lines without the final newline, their count,
    whether they hold a CR, the partial line left over)."""
    text = carry + chunk
    length = tf.cast(tf.strings.length(text), tf.int64)
    text_bytes = tf.io.decode_raw(text, tf.uint8)
    newlines = tf.where(tf.equal(text_bytes, _NEWLINE))[:, 0]
    count = tf.size(newlines, out_type=tf.int64)
    cut = tf.cond(count > 0, lambda: newlines[-1] + 1, lambda: tf.constant(0, tf.int64))
    # the last chunk also ends the final line, newline or not
    unterminated = tf.logical_and(is_last, cut < length)
    end = tf.where(unterminated, length, tf.maximum(cut - 1, 0))
    cut = tf.where(unterminated, length, cut)
    count += tf.cast(unterminated, tf.int64)
    has_cr = tf.reduce_any(tf.equal(text_bytes, _CARRIAGE_RETURN))
    lines = tf.strings.substr(text, tf.constant(0, tf.int64), end)
    return lines, count, has_cr, tf.strings.substr(text, cut, length - cut)


def file_blocks(file_id: tf.Tensor, names: tf.Tensor, sizes: tf.Tensor,
                block_bytes: int = BLOCK_BYTES) -> tf.data.Dataset:
    """(file id, number of the block's first line (1-based), its whole lines joined by
    newlines, number of lines, whether they may hold a CR) for file `file_id` of `names`;
    blocks without a whole line are left out."""
    size = sizes[file_id]
    num_chunks = (size + block_bytes - 1) // block_bytes

    def step(state, chunk_and_index):
        carry, next_line = state
        index, chunk = chunk_and_index
        body, count, has_cr, rest = _cut_after_last_newline(carry, chunk,
                                                            tf.equal(index, num_chunks - 1))
        return (rest, next_line + count), (file_id, next_line, body, count, has_cr)

    start = (tf.constant(""), tf.constant(1, tf.int64))
    blocks = _chunks(names[file_id], size, block_bytes).enumerate().scan(
        start, without_autograph(step))
    return blocks.filter(without_autograph(lambda file_id, first, body, count, has_cr: count > 0))


def block_lines(file_id: tf.Tensor, first_line: tf.Tensor, body: tf.Tensor, count: tf.Tensor,
                has_cr: tf.Tensor, skip_header: bool,
                row_share: Shard | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """(row ids, lines) of a block: lines without any CR (as TextLineDataset reads them),
    the file's line 1 dropped when `skip_header`, only the lines of `row_share` when given
    (shards.row_share_mask: the others are dropped unparsed)."""
    body = tf.cond(has_cr, lambda: tf.strings.regex_replace(body, "\r", ""), lambda: body)
    lines = tf.strings.split(body, "\n")
    numbers = first_line + tf.range(count)
    ids = pack_row_id(file_id, numbers)
    if skip_header:
        start = tf.cast(tf.equal(first_line, 1), tf.int64)
        ids, lines, numbers = ids[start:], lines[start:], numbers[start:]
    if row_share is not None:
        keep = row_share_mask(file_id, numbers, row_share)
        ids, lines = tf.boolean_mask(ids, keep), tf.boolean_mask(lines, keep)
    return ids, lines
