"""Parquet and CSV files: what their footers say about timestamps, and Parquet that Spark reads."""
from __future__ import annotations

import glob as _glob
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa

from .base import Column, _arrow_kind


def _expand(path: str | os.PathLike) -> list[str]:
    """Files behind a path, a directory (all ``*.parquet`` below it) or a glob."""
    p = str(path)
    if os.path.isdir(p):
        return sorted(str(x) for x in Path(p).rglob("*.parquet") if x.is_file())
    if any(ch in p for ch in "*?["):
        return sorted(_glob.glob(p, recursive=True))
    return [p] if os.path.exists(p) else []


def inspect_parquet(path: str | os.PathLike) -> dict[str, Column]:
    """Typed columns of Parquet file(s) from their footers (no data is read).

    Timestamps are classified by their Parquet annotation, not by what a reader makes of
    them: INT96 (how Spark and Hive write TIMESTAMP by default) and ``isAdjustedToUTC``
    timestamps are instants; their ``time_zone`` is the zone name an Arrow writer recorded
    (pandas keeps ``Europe/Moscow``), else ``None``. ``note`` says ``INT96`` or
    ``nanoseconds`` where it matters (Spark cannot read nanosecond timestamps). Every file
    matched by a glob or directory is inspected; a column typed differently in two files
    is refused, naming both files.
    """
    import pyarrow.parquet as pq

    files = _expand(path)
    if not files:
        raise FileNotFoundError(f"{path}: no Parquet file found")
    merged: dict[str, Column] = {}
    first_seen: dict[str, str] = {}
    for f in files:
        pf = pq.ParquetFile(f)
        arrow = pf.schema_arrow
        physical = {pf.schema.column(i).path: pf.schema.column(i) for i in range(len(pf.schema))}
        for fld in arrow:
            kind, tz = _arrow_kind(fld.type)
            note = ""
            col = physical.get(fld.name)
            if col is not None and col.physical_type == "INT96":
                kind, tz, note = "instant", None, "INT96"
            elif kind in ("timestamp", "instant") and col is not None:
                logical = json.loads(col.logical_type.to_json() or "{}") if col.logical_type else {}
                if logical.get("isAdjustedToUTC"):
                    kind = "instant"
                    # an Arrow writer's zone name is kept in the schema; a bare UTC flag
                    # (Spark, Hive, Arrow's own "UTC") does not say where the sale happened
                    tz = tz if tz and tz.upper() not in ("UTC", "+00:00", "Z", "ETC/UTC") else None
                if logical.get("timeUnit") == "nanoseconds" or getattr(fld.type, "unit", "") == "ns":
                    note = "nanoseconds"
            c = Column(fld.name, kind, str(fld.type), tz, note)
            prev = merged.get(fld.name)
            if prev is not None and (prev.kind, prev.time_zone) != (c.kind, c.time_zone):
                raise ValueError(
                    f"column {fld.name!r} is {prev.kind} ({prev.engine_type}) in {first_seen[fld.name]} "
                    f"but {c.kind} ({c.engine_type}) in {f}; write all files with one schema")
            if prev is None or (c.note and not prev.note):
                merged[fld.name] = c
                first_seen.setdefault(fld.name, f)
    return merged


def write_parquet(data: pd.DataFrame | pa.Table, path: str | os.PathLike) -> Path:
    """Write a DataFrame / Arrow table as Parquet that both DuckDB and Spark read exactly.

    Timestamps are written in microseconds (Spark refuses nanoseconds); naive timestamps
    stay naive (``isAdjustedToUTC=false``, read by Spark as TIMESTAMP_NTZ), tz-aware ones
    keep their zone name in the Arrow schema; dates stay DATE.
    """
    import pyarrow.parquet as pq

    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_to_microseconds(table), path, coerce_timestamps="us",
                   allow_truncated_timestamps=True)
    return path


def _to_microseconds(table: pa.Table) -> pa.Table:
    fields = []
    changed = False
    for f in table.schema:
        t = f.type
        if pa.types.is_timestamp(t) and t.unit == "ns":
            t = pa.timestamp("us", t.tz)
            changed = True
        elif pa.types.is_dictionary(t):
            t = t.value_type
            changed = True
        fields.append(pa.field(f.name, t, f.nullable, f.metadata))
    return table.cast(pa.schema(fields, table.schema.metadata), safe=False) if changed else table


def _file_format(path: str) -> str:
    low = path.lower()
    if os.path.isdir(path) or low.endswith((".parquet", ".pq")) or "*.parquet" in low:
        return "parquet"
    if low.endswith((".csv", ".csv.gz")) or "*.csv" in low:
        return "csv"
    raise ValueError(f"{path}: only Parquet (.parquet, a folder of them, or a glob) or CSV "
                     "(.csv, .csv.gz) files can be read by the engine")


