"""Export files written straight from a table kept in the run's engine (issue 12).

:func:`rfm_helpers.act.tables.write_scores` writes a frame the caller holds; at scale the
scored table lives in DuckDB (``Prepared.rfm_table``) and should never be copied into pandas
for a file. :func:`write_scores_from_engine` writes the same file, byte for byte, from the
engine table: the engine runs the ``COPY``, the rows stream to disk.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from .columns import schema
from .files import FileRecord
from .mailing import columns_of
from .writer import ExportWriter

__all__ = ["write_scores_from_engine", "segmented_table"]


def write_scores_from_engine(ex: ExportWriter, engine: Any, table: str, name: str = "rfm_scores.csv") -> FileRecord:
    """``rfm_scores.csv`` from the scored table ``table`` of ``engine`` (a DuckDB engine, e.g.
    ``Prepared.engine`` and ``Prepared.rfm_table``), in the table's own order - the same file
    :func:`~rfm_helpers.act.tables.write_scores` writes from the same rows in pandas (tested).
    Columns the table lacks are refused, naming them."""
    con = getattr(engine, "con", None)
    if con is None:
        raise TypeError(f"the scores file is written by a DuckDB engine; got {type(engine).__name__}")
    cols = list(schema("rfm_scores.csv"))
    have = set(columns_of(con, table))
    missing = [c.key for c in cols if c.source is None and c.key not in have]
    if missing:
        raise KeyError(f"{name}: the table {table} lacks columns {missing}; it has {sorted(have)}")
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    try:
        # one thread, as the export writer's own connection: writing is bound by the disk, and
        # one thread keeps the sort buffers small (benchmarks/bench_exports.py)
        con.execute("SET threads = 1")
        return ex.write_query(con, name, f"SELECT * FROM {table}", cols, "rfm_scores.csv")
    finally:
        con.complete()  # the writer counts rows with fetchone(): finish that result for the engine's next query
        con.execute(f"SET threads = {int(threads)}")


@contextlib.contextmanager
def segmented_table(engine: Any, view: str, name: str = "act_segmented") -> Iterator[str]:
    """The segmented customers of ``view`` (e.g. a view of
    :func:`rfm_helpers.clustering.compare_methods_engine`, which derives every customer's segment
    from the scored table each time it is read) stored once as the TEMP table ``name`` of
    ``engine`` for the lists written from it (the mailing lists and the call list read it four
    times); dropped on exit. Yields the table's name, for ``write_mailing_lists(..., engine=)``."""
    con = getattr(engine, "con", None)
    if con is None:
        raise TypeError(f"the segmented table is kept in a DuckDB engine; got {type(engine).__name__}")
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {view}")
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            con.complete()
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")
