"""Value shapes: every text value with its digits replaced by ``9`` (``25.11.2024`` ->
``99.99.9999``), computed on the raw UTF-8 bytes with numpy (digits are single bytes in
UTF-8), then dictionary-encoded. A column has few distinct shapes; the parsers decide per
shape (so per column), and each row only carries the integer code of its shape."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_LUT = np.arange(256, dtype=np.uint8)
_LUT[48:58] = 57


@dataclass
class Shapes:
    codes: np.ndarray          # int32 per row, -1 for null values
    shapes: list[str]          # code -> shape
    counts: np.ndarray         # rows per code
    first: np.ndarray          # first row position per code

    def items(self):
        """(code, shape, rows, first position) of every shape."""
        for k, s in enumerate(self.shapes):
            yield k, s, int(self.counts[k]), int(self.first[k])


def _sig_chunk(arr: pa.Array) -> pa.Array:
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    validity, offsets, data = arr.buffers()
    if data is None or not len(data):
        return arr
    raw = _LUT[np.frombuffer(data, dtype=np.uint8)]
    return pa.StringArray.from_buffers(len(arr), offsets, pa.py_buffer(raw), validity, arr.null_count, arr.offset)


def digit_shapes(arr: pa.ChunkedArray | pa.Array) -> Shapes:
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    sig = pa.chunked_array([_sig_chunk(c) for c in chunks], type=pa.string())
    enc = pa.table({"s": pc.dictionary_encode(sig)}).unify_dictionaries().column("s")
    shapes = enc.chunk(0).dictionary.to_pylist() if enc.num_chunks else []
    codes = np.concatenate([c.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
                            for c in enc.chunks]) if enc.num_chunks else np.zeros(0, np.int32)
    k = len(shapes)
    valid = codes >= 0
    counts = np.bincount(codes[valid], minlength=k)
    uniq, idx = np.unique(codes, return_index=True)
    first = np.zeros(k, dtype=np.int64)
    keep = uniq >= 0
    first[uniq[keep]] = idx[keep]
    return Shapes(codes, shapes, counts, first)


#: UTF-8 byte sequences that make an id look different without being seen: no-break and thin
#: spaces, zero-width characters, the byte order mark, the soft hyphen, tabs and line breaks.
ODD_BYTES = [b"\xc2\xa0", b"\xe2\x80\x87", b"\xe2\x80\xaf", b"\xe2\x80\x89", b"\xe2\x80\x8b", b"\xe2\x80\x8c",
             b"\xe2\x80\x8d", b"\xe2\x81\xa0", b"\xef\xbb\xbf", b"\xc2\xad", b"\t", b"\n", b"\r", b"  "]


def field_numbers(arr: pa.ChunkedArray | pa.Array, rows: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The number written in characters ``start:stop`` of the values at ``rows`` (all of one
    shape, so the digits sit at the same place; ASCII before ``stop`` assumed by the caller)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    _, offsets, data = arr.buffers()
    off = np.frombuffer(offsets, dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    b = np.frombuffer(data, dtype=np.uint8)
    base = off[rows].astype(np.int64)
    value = np.zeros(len(rows), dtype=np.int64)
    for k in range(start, stop):
        value = value * 10 + (b[base + k].astype(np.int64) - 48)
    return value


def edge_whitespace(arr: pa.ChunkedArray | pa.Array) -> bool:
    """Whether any value starts or ends with an ASCII space, tab or line break."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    for c in chunks:
        if not pa.types.is_string(c.type):
            return True
        _, offsets, data = c.buffers()
        n = len(c)
        if data is None or n == 0:
            continue
        off = np.frombuffer(offsets, dtype=np.int32)[c.offset:c.offset + n + 1]
        b = np.frombuffer(data, dtype=np.uint8)
        nonempty = off[1:] > off[:-1]
        first = b[off[:-1][nonempty]]
        last = b[off[1:][nonempty] - 1]
        ws = np.array([32, 9, 10, 13], dtype=np.uint8)
        if np.isin(first, ws).any() or np.isin(last, ws).any():
            return True
    return False


def rows_containing(arr: pa.ChunkedArray | pa.Array, needles: list[bytes]) -> np.ndarray:
    """Boolean per row: the value contains any of ``needles`` (found on the raw bytes)."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    out = []
    for c in chunks:
        if not pa.types.is_string(c.type):
            c = pc.cast(c, pa.string())
        validity, offsets, data = c.buffers()
        n = len(c)
        if data is None or not len(data) or n == 0:
            out.append(np.zeros(n, dtype=bool))
            continue
        off = np.frombuffer(offsets, dtype=np.int32)[c.offset:c.offset + n + 1]
        raw_bytes = data.to_pybytes()
        present = [nd for nd in needles if raw_bytes.find(nd) != -1]  # memchr speed; usually none
        if not present:
            out.append(np.zeros(n, dtype=bool))
            continue
        b = np.frombuffer(data, dtype=np.uint8)
        hits = np.zeros(len(b), dtype=bool)
        for nd in present:
            m = b[: len(b) - len(nd) + 1] == nd[0]
            for j in range(1, len(nd)):
                m &= b[j: len(b) - len(nd) + 1 + j] == nd[j]
            hits[: len(m)] |= m
        pos = np.flatnonzero(hits)
        mask = np.zeros(n, dtype=bool)
        if len(pos):
            row = np.searchsorted(off, pos, side="right") - 1
            ok = (row >= 0) & (row < n)
            # a needle must lie inside the value (not across its end)
            mask[np.unique(row[ok])] = True
        out.append(mask)
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)
