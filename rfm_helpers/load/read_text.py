"""Delimited text (CSV, TXT, TSV): read with Arrow's CSV reader after the encoding, separator and
header row are decided from the first megabyte; physical line numbers for every row."""
from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .raw import RawTable, ReadContext, _check_duplicates, _find_header, register
from .result import DataValidationError, Remark

_LEGACY_ENCODINGS = ["cp1251", "koi8_r", "cp866", "cp1252", "latin_1"]
_HEAD_BYTES = 1 << 20
_SEPS = (";", ",", "\t", "|")


def _detect_encoding(head: bytes, encoding: str, label: str, remarks: list[Remark]) -> tuple[str, int]:
    """(python codec, bytes of BOM to skip)."""
    if head.startswith(b"\xef\xbb\xbf"):
        remarks.append(Remark("bom_removed"))
        return "utf-8", 3
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        remarks.append(Remark("utf16"))
        return "utf-16", 0
    enc = (encoding or "auto").lower()
    if enc != "auto":
        try:
            "".encode(enc)
        except LookupError:
            raise DataValidationError(f"{label}: unknown encoding {encoding!r} in csv.encoding") from None
        return enc, 0
    import codecs

    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(head[:500_000], cp_isolation=_LEGACY_ENCODINGS).best()
    guess = best.encoding if best is not None else "cp1251"
    remarks.append(Remark("encoding_detected", {"encoding": guess}, "warning"))
    return guess, 0


def _split(line: str, sep: str, quote: str) -> list[str]:
    if sep in (r"\s+", " "):
        return line.split()
    return next(csv.reader([line], delimiter=sep, quotechar=quote or '"'), [])


def _sniff_sep(lines: list[str], quote: str) -> str | None:
    nonblank = [ln for ln in lines if ln.strip()][:100]
    best: tuple | None = None
    for sep in _SEPS:
        counts = [len(_split(ln, sep, quote)) for ln in nonblank]
        multi = [c for c in counts if c > 1]
        if not multi:
            continue
        m = Counter(multi[len(multi) // 4:] or multi).most_common(1)[0][0]
        first = next(i for i, c in enumerate(counts) if c == m)
        share = sum(1 for c in counts[first:] if c == m) / len(counts[first:])
        score = (share >= 0.9, m if share >= 0.9 else 0, share)
        if best is None or score > best[0]:
            best = (score, sep)
    if best is None or not best[0][0]:
        counts = {len(ln.split()) for ln in nonblank}
        if len(counts) == 1 and counts.pop() > 1:
            return r"\s+"
        return best[1] if best else None
    return best[1]


def _line_starts(head: bytes) -> list[int]:
    starts = [0]
    pos = head.find(b"\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = head.find(b"\n", pos + 1)
    return starts


def _blank_lines_after(path: Path, offset: int, first_line: int) -> tuple[np.ndarray, int]:
    """Physical line numbers of empty/whitespace-only lines from ``offset`` on (the first
    line there is ``first_line``), and the number of lines."""
    blanks: list[np.ndarray] = []
    line = first_line
    carry = b""
    with path.open("rb") as fh:
        fh.seek(offset)
        while True:
            chunk = fh.read(1 << 23)
            if not chunk:
                break
            data = carry + chunk
            arr = np.frombuffer(data, dtype=np.uint8)
            nl = np.flatnonzero(arr == 10)
            if len(nl) == 0:
                carry = data
                continue
            starts = np.concatenate(([0], nl[:-1] + 1))
            lengths = nl - starts
            short = np.flatnonzero(lengths <= 8)
            if len(short):
                is_blank = np.array([not data[starts[i]:nl[i]].strip() for i in short], dtype=bool)
                blanks.append(line + short[is_blank])
            line += len(nl)
            carry = data[nl[-1] + 1:]
    if carry.strip() == b"" and carry:
        pass
    return (np.concatenate(blanks) if blanks else np.zeros(0, dtype=np.int64)), line


@register("csv")
def read_csv(spec: Any, ctx: ReadContext) -> RawTable:
    import pyarrow.csv as pcsv

    path: Path = spec.resolved_path
    opts = spec.csv
    label = ctx.label
    remarks: list[Remark] = []
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise DataValidationError(f"{label}: the file is empty (no header, no rows)")
    enc, bom = _detect_encoding(head, opts.encoding, label, remarks)
    if enc.replace("_", "-").lower() in ("utf-16", "utf-16-le", "utf-16-be"):
        return _read_csv_small_text(path.read_bytes().decode(enc), spec, ctx, remarks)
    try:
        text_head = head[bom:].decode(enc, errors="strict") if len(head) < _HEAD_BYTES else \
            head[bom:].decode(enc, errors="ignore")
    except UnicodeDecodeError as e:
        line = head[: e.start].count(b"\n") + 1
        raise DataValidationError(f"{label}: cannot be read as {enc} text (first bad byte on line {line}); "
                                  "set csv.encoding to the file's encoding (e.g. cp1251) or to auto") from None
    raw_lines = text_head.split("\n")
    if len(head) >= _HEAD_BYTES:
        raw_lines = raw_lines[:-1]  # possibly cut
    lines = [ln.rstrip("\r") for ln in raw_lines]
    start = 0
    sep = opts.sep
    m = re.fullmatch(r"\s*sep=(.)\s*", lines[0]) if lines else None
    if m:
        hinted = m.group(1)
        if sep == "auto":
            sep = hinted
        remarks.append(Remark("sep_hint_line", {"separator": "TAB" if hinted == "\t" else hinted}))
        start = 1
    if sep == "auto":
        sep = _sniff_sep(lines[start:start + 200], opts.quote)
        if sep is None:
            sep = ","
        elif sep == r"\s+":
            remarks.append(Remark("whitespace_separated"))
        else:
            remarks.append(Remark("separator_detected", {"separator": "TAB" if sep == "\t" else sep}))
    cells = [_split(ln, sep, opts.quote) if ln.strip() else [] for ln in lines[start:start + 200]]
    hidx = start + _find_header(cells, ctx.wanted, spec.header_row if spec.header_row == "auto"
                                else spec.header_row - start, label)
    if isinstance(spec.header_row, int):
        hidx = spec.header_row - 1
    if hidx >= len(lines):
        raise DataValidationError(f"{label}: the file is empty (no header, no rows)")
    header = [h.strip() for h in _split(lines[hidx], sep, opts.quote)]
    first_nonblank = next((i for i in range(start, len(lines)) if lines[i].strip()), start)
    if hidx > first_nonblank:
        remarks.append(Remark("header_row_detected", {"row": hidx + 1, "skipped": hidx - start}, "warning"))
    # a trailing separator gives an empty last name: keep it as an unnamed column
    while header and header[-1] == "" and len(header) > 1 and sep not in (r"\s+",):
        header = header[:-1] + [f"unnamed_{len(header)}"]
    _check_duplicates(header, label)
    header_orig = list(header)
    if sep in (r"\s+", " "):
        return _read_whitespace(path, enc, bom, hidx, header, label, remarks)
    starts = _line_starts(head)
    if hidx + 1 >= len(starts) or not head[starts[hidx + 1]:].strip():
        raise DataValidationError(f"{label}: the file has a header ({', '.join(header)}) but no data rows")
    offset = starts[hidx + 1]
    names = [f"c{i}" for i in range(len(header))]
    skipped_ws: list[str] = []

    def on_invalid(row: Any) -> str:
        if not row.text.strip():
            skipped_ws.append(row.text)
            return "skip"
        return "error"

    newlines = bool(opts.quote) and opts.quote.encode() in head
    read_opts = pcsv.ReadOptions(column_names=names, block_size=1 << 24, encoding=enc if enc != "utf-8" else "utf8")
    # keep in memory only what the load needs (the first column too: total lines say "Итого" there);
    # the quarantine file gets every column's text through a second, streaming read
    keep_names = names
    if ctx.keep is not None and not newlines:
        keep_fold = {k.casefold() for k in ctx.keep}
        keep_names = [n for i, (n, h) in enumerate(zip(names, header)) if i == 0 or h.casefold() in keep_fold]
    conv = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                               quoted_strings_can_be_null=False, include_columns=keep_names)

    def parse(newlines_in_values: bool) -> pa.Table:
        src = pa.OSFile(str(path))
        src.seek(offset)
        popts = pcsv.ParseOptions(delimiter=sep, quote_char=opts.quote or False,
                                  newlines_in_values=newlines_in_values, ignore_empty_lines=True,
                                  invalid_row_handler=on_invalid)
        return pcsv.read_csv(src, read_options=read_opts, parse_options=popts, convert_options=conv)

    try:
        try:
            table = parse(newlines)
        except pa.ArrowInvalid as e:
            if newlines or "Expected" not in str(e):
                raise
            skipped_ws.clear()
            table = parse(True)
    except pa.ArrowInvalid as e:
        msg = str(e)
        if "invalid UTF8" in msg or "UTF8" in msg:
            raise DataValidationError(f"{label}: not valid {enc} text further down the file; set csv.encoding "
                                      "to the file's encoding (e.g. cp1251)") from None
        mm = re.search(r"Expected (\d+) columns, got (\d+): ?(.*)", msg)
        if mm:
            line_no = _find_ragged_line(path, enc, offset, hidx + 2, sep, opts.quote, int(mm.group(1)))
            where = f"line {line_no}" if line_no else "a line"
            raise DataValidationError(
                f"{label}: {where} has {mm.group(2)} fields but the header has {mm.group(1)}; a value probably "
                f"contains the separator {sep!r} without quotes") from None
        raise DataValidationError(f"{label}: cannot be parsed as CSV ({msg.splitlines()[0]})") from None
    except UnicodeDecodeError as e:
        raise DataValidationError(f"{label}: cannot be read as {enc} text ({e.reason}); set csv.encoding to the "
                                  "file's encoding") from None
    kept_header = [header[names.index(n)] for n in table.column_names]
    table = table.rename_columns(kept_header)
    # physical line numbers of the rows
    blanks, _ = _blank_lines_after(path, offset, hidx + 2)
    n = table.num_rows
    extra = None
    if newlines:
        for col in table.columns:
            if pa.compute.any(pa.compute.match_substring(col, "\n")).as_py():
                cnt = pa.compute.count_substring(col, "\n").to_numpy(zero_copy_only=False)
                extra = cnt if extra is None else extra + cnt
    first = hidx + 2
    if len(blanks) == 0 and extra is None:
        lines_no = np.arange(first, first + n, dtype=np.int64)
    else:
        # the k-th non-blank line after the header, skipping the lines spanned by earlier rows
        need = n + (int(extra.sum()) if extra is not None else 0) + len(blanks) + 1
        allx = np.arange(first, first + need, dtype=np.int64)
        nonblank = allx[~np.isin(allx, blanks)]
        idx = np.arange(n, dtype=np.int64)
        if extra is not None:
            idx = idx + np.concatenate(([0], np.cumsum(extra)[:-1]))
        lines_no = nonblank[np.minimum(idx, len(nonblank) - 1)]
    inner = int((blanks < (lines_no[-1] if n else 0)).sum()) if len(blanks) else 0
    if inner:
        remarks.append(Remark("blank_lines_skipped", {"count": inner}))
    # blank trailing columns from trailing separators
    for name in [h for h in header if h.startswith("unnamed_") and h in table.column_names]:
        col = table.column(name)
        if pa.compute.all(pa.compute.equal(pa.compute.utf8_trim_whitespace(col), "")).as_py() in (True, None):
            table = table.drop_columns([name])
            header.remove(name)
    raw = RawTable(table, lines_no, header, remarks)
    if len(keep_names) < len(names):
        full_header = list(header)

        def refetch(positions: np.ndarray) -> dict[str, list[str]]:
            """Every column's text for the rows at ``positions`` (sorted), by streaming the file again."""
            want = np.sort(np.asarray(positions, dtype=np.int64))
            out: dict[str, list[str]] = {h: [] for h in full_header}
            src = pa.OSFile(str(path))
            src.seek(offset)
            popts = pcsv.ParseOptions(delimiter=sep, quote_char=opts.quote or False, ignore_empty_lines=True,
                                      invalid_row_handler=on_invalid)
            full_conv = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                            quoted_strings_can_be_null=False)
            reader = pcsv.open_csv(src, read_options=pcsv.ReadOptions(column_names=names, block_size=1 << 22,
                                                                      encoding=read_opts.encoding),
                                   parse_options=popts, convert_options=full_conv)
            start = 0
            for batch in reader:
                stop = start + batch.num_rows
                sel = want[(want >= start) & (want < stop)] - start
                if len(sel):
                    part = batch.take(pa.array(sel))
                    for n_, h in zip(names, header_all):
                        if h in out:
                            out[h] += [v.strip() for v in part.column(names.index(n_)).to_pylist()]
                start = stop
                if start > want[-1]:
                    break
            return out

        header_all = [header_orig[i] for i in range(len(names))]
        raw.refetch = refetch
    return raw


def _find_ragged_line(path: Path, enc: str, offset: int, first_line: int, sep: str, quote: str,
                      expected: int) -> int | None:
    with path.open("r", encoding=enc, errors="replace", newline="") as fh:
        fh.seek(0)
        text_iter = io.StringIO(path.read_bytes()[offset:].decode(enc, errors="replace"))
        reader = csv.reader(text_iter, delimiter=sep, quotechar=quote or '"')
        for row in reader:
            if row and any(c.strip() for c in row) and len(row) != expected:
                return first_line + reader.line_num - 1
    return None


def _read_whitespace(path: Path, enc: str, bom: int, hidx: int, header: list[str], label: str,
                     remarks: list[Remark]) -> RawTable:
    text = path.read_bytes()[bom:].decode(enc)
    lines = text.split("\n")
    body = lines[hidx + 1:]
    df = pd.read_csv(io.StringIO("\n".join(body)), sep=r"\s+", header=None, names=header, dtype=str,
                     keep_default_na=False, na_filter=False, skip_blank_lines=True, engine="c", index_col=False)
    nb = np.array([i for i, ln in enumerate(body) if ln.strip()], dtype=np.int64) + hidx + 2
    table = pa.Table.from_pandas(df.astype(str), preserve_index=False)
    inner = len(body) - len(nb) - sum(1 for ln in reversed(body) if not ln.strip())
    if inner > 0:
        remarks.append(Remark("blank_lines_skipped", {"count": inner}))
    return RawTable(table, nb[: table.num_rows], header, remarks)


def _read_csv_small_text(text: str, spec: Any, ctx: ReadContext, remarks: list[Remark]) -> RawTable:
    import tempfile

    with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as tmp:
        tmp.write(text.lstrip("\ufeff").encode("utf-8"))
    try:
        sub = spec.model_copy(update={"path": tmp.name, "csv": spec.csv.model_copy(update={"encoding": "utf-8"})})
        sub._base_dir = None
        raw = read_csv(sub, ctx)
    finally:
        os.unlink(tmp.name)
    raw.remarks = remarks + raw.remarks
    return raw


