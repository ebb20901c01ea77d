"""Typed sources: Parquet, SQL (SQLAlchemy; the URL only from the environment or a password-free
spec value) and pandas DataFrames."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .raw import RawTable, ReadContext, _check_duplicates, register
from .result import DataValidationError

from .read_sheets import _cell_text


def _frame_to_raw(df: pd.DataFrame) -> RawTable:
    df = df.reset_index(drop=True)
    df.columns = [str(c).strip() for c in df.columns]
    cols, names = [], list(df.columns)
    for c in names:
        s = df[c]
        if s.dtype == object:
            kinds = {type(v) for v in s.dropna()}
            if kinds <= {str}:
                cols.append(pa.array(s.where(s.notna(), ""), pa.string()))
            else:
                cols.append(pa.array(s.map(_cell_text).astype(str), pa.string()))
            continue
        try:
            arr = pa.array(s, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = pa.array(s.map(_cell_text).astype(str), pa.string())
        cols.append(arr)
    table = pa.table(cols, names=names)
    return RawTable(table, np.arange(len(df), dtype=np.int64) + 1, names, [], text_source=False)


@register("dataframe")
def read_dataframe(spec: Any, ctx: ReadContext) -> RawTable:
    df = spec._frame
    if df is None or len(df) == 0:
        raise DataValidationError(f"{ctx.label}: no rows")
    _check_duplicates([str(c).strip() for c in df.columns], ctx.label)
    return _frame_to_raw(df.copy())


@register("parquet")
def read_parquet(spec: Any, ctx: ReadContext) -> RawTable:
    return _read_parquet_path(spec.resolved_path, ctx.label)


def _read_parquet_path(path: Any, label: str) -> RawTable:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    names = [str(c).strip() for c in table.column_names]
    table = table.rename_columns(names)
    if table.num_rows == 0:
        raise DataValidationError(f"{label}: the file has columns ({', '.join(names)}) but no rows")
    return RawTable(table, np.arange(table.num_rows, dtype=np.int64) + 1, names, [], text_source=False)


# ------------------------------------------------------------------ Parquet read in place
#: Parquet sources are read in place by DuckDB (``read_parquet``) when their mapped columns have
#: types the rules read directly (see :func:`parquet_in_place`): the file never exists whole in
#: Python (at 1e8 rows the Arrow copy alone was about 3 GB). ``RFM_LOAD_PARQUET_IN_PLACE=0`` reads
#: every Parquet file whole into Arrow as before (the reference the tests compare with).
def stream_parquet_enabled() -> bool:
    return os.environ.get("RFM_LOAD_PARQUET_IN_PLACE", "1").strip() not in ("0", "false", "no", "off")


def open_parquet(spec: Any, ctx: ReadContext) -> RawTable:
    """A Parquet source without its rows: the schema (column names stripped), the row count and
    the path; :func:`parquet_in_place` decides (once the columns are resolved) whether DuckDB reads
    it in place or :func:`materialise` reads it whole."""
    import pyarrow.parquet as pq

    path = spec.resolved_path
    if path is None or not Path(path).is_file():  # a folder of files: read as before
        return read_parquet(spec, ctx)
    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    names = [str(c).strip() for c in schema.names]
    rows = pf.metadata.num_rows
    if rows == 0 or len(set(names)) != len(names):  # the whole read gives the message as before
        return read_parquet(spec, ctx)
    table = schema.empty_table().rename_columns(names)
    raw = RawTable(table, np.zeros(0, dtype=np.int64), names, [], text_source=False, parquet=str(path),
                   rows=int(rows))
    raw.refetch = _parquet_refetch(str(path), names)
    return raw


def materialise(raw: RawTable, label: str) -> RawTable:
    """The Arrow reading of a Parquet source opened by :func:`open_parquet`."""
    return _read_parquet_path(raw.parquet, label)


_ID_LIKE = ("customer_id", "order_id", "refund_of", "channel", "status", "currency")


def parquet_in_place(raw: RawTable, cols: dict[str, str]) -> bool:
    """Whether the rules can read this Parquet file in place with results identical to the Arrow
    reading: id-like columns text or integers, the date a time-zone-free timestamp (s, ms, us) or
    a date, the amount a number (not decimal), the quantity a number or text. Anything else (text
    dates or amounts need their value shapes, time zones their zone name) is read whole."""
    if raw.parquet is None or not stream_parquet_enabled():
        return False
    schema = raw.table.schema
    if "file_row_number" in raw.header:  # the name DuckDB gives the row position
        return False
    for target, col in cols.items():
        t = schema.field(col).type
        text = pa.types.is_string(t) or pa.types.is_large_string(t)
        if target in _ID_LIKE:
            ok = text or pa.types.is_integer(t)
        elif target == "order_date":
            ok = (pa.types.is_timestamp(t) and t.tz is None and t.unit in ("s", "ms", "us")) or pa.types.is_date(t)
        elif target == "amount":
            ok = pa.types.is_integer(t) or pa.types.is_floating(t)
        elif target == "quantity":
            ok = pa.types.is_integer(t) or pa.types.is_floating(t) or text
        else:
            ok = False
        if not ok:
            return False
    return True


def parquet_view_sql(raw: RawTable, cols: dict[str, str], src: Any,
                     flags: tuple[bool, bool] = (True, True)) -> tuple[str, pa.Table]:
    """The SQL of the view ``raw`` over the Parquet file (the same columns and types as
    :func:`.parsing.prepare_raw` builds in Arrow: id-like columns as text, the date as a
    microsecond timestamp, ``__row``/``__i``, the id byte flags: per row when ``flags`` (any odd,
    any suspect value in the column) say some row has them, else false) and the schema-only table of it."""
    from .sqltext import ident, lit

    schema = raw.table.schema
    original = __import__("pyarrow.parquet", fromlist=["ParquetFile"]).ParquetFile(raw.parquet).schema_arrow.names
    by_col = {c: t for t, c in cols.items()}
    exprs, fields = [], []
    for orig, name in zip(original, raw.header):
        t = schema.field(name).type
        target = by_col.get(name)
        x = ident(orig)
        if target in _ID_LIKE and pa.types.is_integer(t):
            x, t = f"CAST({x} AS VARCHAR)", pa.string()
        elif target == "order_date":
            x, t = f"CAST({x} AS TIMESTAMP)", pa.timestamp("us")
        exprs.append(f"{x} AS {ident(src(name))}")
        fields.append(pa.field(src(name), t))
    ids = ident(src(cols["customer_id"]))
    id_text = pa.types.is_string(schema.field(cols["customer_id"]).type) or \
        pa.types.is_large_string(schema.field(cols["customer_id"]).type)
    # the bytes shapes.ODD_BYTES look for, as characters (a needle is a character of valid UTF-8)
    odd = ("coalesce(regexp_matches({x}, '[\\x{{00a0}}\\x{{2007}}\\x{{202f}}\\x{{2009}}\\x{{200b}}-\\x{{200d}}"
           "\\x{{2060}}\\x{{feff}}\\x{{00ad}}\\t\\n\\r]|  '), false)")
    suspect = "coalesce(contains({x}, 'E') OR contains({x}, 'e') OR contains({x}, '.'), false)"
    sql = (f"SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS __row, file_row_number AS __i, "
           f"{odd.format(x=ids) if id_text and flags[0] else 'false'} AS __idodd, "
           f"{suspect.format(x=ids) if id_text and flags[1] else 'false'} AS __idsuspect "
           f"FROM (SELECT {', '.join(exprs)}, file_row_number "
           f"FROM read_parquet({lit(raw.parquet)}, file_row_number = true))")
    fields += [pa.field("__row", pa.int64()), pa.field("__i", pa.int64()), pa.field("__idodd", pa.bool_()),
               pa.field("__idsuspect", pa.bool_())]
    return sql, pa.schema(fields).empty_table()


def parquet_id_flags(raw: RawTable, column: str) -> tuple[bool, bool, bool]:
    """(padded, odd, suspect) of the id column, as :func:`.parsing.prepare_raw` finds them on the
    whole Arrow column (edge whitespace; any of ``ODD_BYTES``; ``E``/``e``/``.``), found here on
    the file's batches one at a time. They only let the id plan skip passes that find nothing."""
    import pyarrow.parquet as pq

    from .shapes import ODD_BYTES, edge_whitespace, rows_containing

    t = raw.table.schema.field(column).type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return False, False, False  # integers as text: digits and a sign only
    pf = pq.ParquetFile(raw.parquet)
    original = pf.schema_arrow.names[raw.header.index(column)]
    padded = odd = suspect = False
    for batch in pf.iter_batches(batch_size=1 << 20, columns=[original]):
        ids = batch.column(0)
        padded = padded or edge_whitespace(ids)
        odd = odd or bool(rows_containing(ids, ODD_BYTES).any())
        suspect = suspect or bool(rows_containing(ids, [b"E", b"e", b"."]).any())
        if padded and odd and suspect:
            break
    return padded, odd, suspect


def _parquet_refetch(path: str, names: list[str]):
    """Original values (as text, as the Arrow reading gives them) of the rows at the given
    positions, read row group by row group (the quarantine file)."""
    def refetch(positions: np.ndarray) -> dict[str, list[str]]:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        pos = np.unique(np.asarray(positions, dtype=np.int64))
        sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        group = np.searchsorted(starts, pos, side="right") - 1
        out: dict[str, list[str]] = {n: [] for n in names}
        for g in np.unique(group):
            part = pf.read_row_group(int(g)).take(pa.array(pos[group == g] - starts[g]))
            for name, column in zip(names, part.columns):
                out[name] += to_text_column(column)
        return out
    return refetch


def to_text_column(arr: pa.ChunkedArray) -> list[str]:
    """A column's values as the quarantine file shows them (text, stripped)."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return [("" if v is None else v.strip()) for v in arr.to_pylist()]
    return [_cell_text(v).strip() for v in arr.to_pylist()]


def _scrub(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, "••••")
    return text


def _sqlite_url(url: str, base_dir: Path | None, label: str):
    """A relative SQLite URL resolved against the spec's folder, opened read-only (a missing
    file is an error, never a new empty database)."""
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    db = u.database or ""
    if not db or db == ":memory:":
        return u
    p = Path(db)
    if not p.is_absolute() and base_dir is not None:
        p = (base_dir / p).resolve()
    if not p.exists():
        raise DataValidationError(f"{label}: the SQLite database file {db} was not found"
                                  + (f" (looked in {p.parent})" if base_dir is not None else ""))
    return sa.engine.URL.create("sqlite", database=p.as_uri(), query={"mode": "ro", "uri": "true"})


@register("sql")
def read_sql(spec: Any, ctx: ReadContext) -> RawTable:
    import sqlalchemy as sa

    label = ctx.label
    sql = spec.sql
    if sql is None or not sql.query:
        raise DataValidationError(f"{label}: the sql source needs sql.query")
    url = sql.url or os.environ.get(sql.url_env)
    if not url:
        raise DataValidationError(f"{label}: environment variable {sql.url_env} with the database URL is not set")
    secrets = [url]
    try:
        u = sa.engine.make_url(url)
        secrets += [u.password or "", u.render_as_string(hide_password=True), u.username or ""]
    except Exception:  # noqa: BLE001 - an unparsable URL: still never echo it
        raise DataValidationError(f"{label}: the database URL is not a valid SQLAlchemy URL") from None
    if sql.url and u.password:
        raise DataValidationError(f"{label}: a database URL with a password must not be written in the spec; put "
                                  f"it in an environment variable named in sql.url_env")
    target: Any = url
    if u.get_backend_name() == "sqlite":
        target = _sqlite_url(url, spec._base_dir, label)
    try:
        engine = sa.create_engine(target)
        try:
            with engine.connect() as conn:
                df = pd.read_sql_query(sa.text(sql.query), conn)
        finally:
            engine.dispose()
    except Exception as e:  # noqa: BLE001 - database errors are reported without the URL
        msg = _scrub(str(getattr(e, "orig", None) or e).splitlines()[0] if str(e) else type(e).__name__, secrets)
        raise DataValidationError(f"{label}: the database query failed ({type(e).__name__}: {msg})") from None
    if len(df) == 0:
        raise DataValidationError(f"{label}: the query returned columns ({', '.join(map(str, df.columns))}) "
                                  "but no rows")
    return _frame_to_raw(df)
