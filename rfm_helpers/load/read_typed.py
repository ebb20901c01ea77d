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
    import pyarrow.parquet as pq

    table = pq.read_table(spec.resolved_path)
    names = [str(c).strip() for c in table.column_names]
    table = table.rename_columns(names)
    if table.num_rows == 0:
        raise DataValidationError(f"{ctx.label}: the file has columns ({', '.join(names)}) but no rows")
    return RawTable(table, np.arange(table.num_rows, dtype=np.int64) + 1, names, [], text_source=False)


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
