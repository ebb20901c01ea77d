"""Per-customer tables of the value stage, kept out of pandas (issue 12).

A :class:`ValueStore` holds one DuckDB connection and a temporary folder:

1. ``value_base`` -- :data:`~rfm_helpers.value.features.BASE_SQL` in one pass over the
   transactions (one pass per :data:`BUCKET_ROWS` transactions, two from :data:`TWO_PASS_ROWS`, each over its own customers): each customer's summary now, at the end of last month and at the backtest's
   cut-off, and what they bought after the cut-off and before it: a temporary table below
   :data:`TABLE_ROWS` transactions, else a view over ``base-<n>.parquet`` (one file per pass);
2. a bounded, seeded sample of it for fitting (:meth:`ValueStore.sample`: a pandas frame of at
   most ``k`` rows);
3. ``<name>.parquet`` -- every customer scored by :func:`rfm_helpers.value.scoring.score_batches`,
   streamed from DuckDB in Arrow batches and written batch by batch;
4. aggregates over the scored customers in SQL (:mod:`rfm_helpers.value.segments`,
   :mod:`rfm_helpers.value.backtest`) and the per-customer export, written from a sorted
   DuckDB query on this connection by the run's export writer (:mod:`rfm_helpers.act`).

DuckDB runs with a memory limit and spills to the temporary folder, so memory does not grow
with the number of customers. The folder is removed by :meth:`ValueStore.close` (or on
leaving a ``with`` block).
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ..rfm import parse_as_of
from ..rfm.sql import customer_part_sql, parts_for
from .features import base_sql, sample_sql
from .scoring import score_batches
from .segments import slipping_sql, slipping_threshold_sql

__all__ = ["ValueStore", "previous_month_end", "scored_format", "DEFAULT_MEMORY_LIMIT"]

#: DuckDB's memory limit for the value stage (it spills to disk beyond it).
DEFAULT_MEMORY_LIMIT = "1GB"
#: Chunks scored at the same time (numpy and scipy release the GIL): at most two, as many as cores.
SCORING_THREADS = min(2, os.cpu_count() or 1)
_BATCH_ROWS = 200_000
#: Transactions summarised in one pass: more are split into passes over disjoint sets of
#: customers (by a hash of the id). One pass over 1e8 transactions (48M customers) ran out of the
#: 1 GB memory limit: the per-customer aggregate states do not all spill.
BUCKET_ROWS = 15_000_000
#: Below :data:`BUCKET_ROWS`, from this many transactions the summary is built in two passes: one
#: pass's per-customer states spill past the memory limit there, and a second scan of the
#: transactions costs less than the spill (1e7 transactions, 4.79M customers: 15.0-15.7 CPU-s in
#: one pass, 13.2-14.1 in two; measured at 1e7 only, so larger runs keep their parts).
TWO_PASS_ROWS = 5_000_000
#: Below this many transactions (in one pass) the customer base is a temporary table of the store's
#: connection (it spills past the memory limit like any table) instead of a Parquet file: at 1e6
#: transactions (478k customers) building it took 0.73 CPU-s instead of 0.83-0.92 for the file, and
#: its scans (stats, samples, scoring, backtest) no longer decode Parquet. Larger runs keep their
#: files (one per pass), whose memory behaviour was measured up to 1e8.
TABLE_ROWS = TWO_PASS_ROWS


def scored_format(transactions: int, bucket_rows: int = BUCKET_ROWS) -> dict[str, Any]:
    """How the scored customers' Parquet file is written: a scratch file read a few times by this
    connection, so for the CPU, not the size. No dictionaries (the scores hardly repeat) and no
    column statistics (nothing filters on them): at 1e7 transactions writing took 1.4 CPU-s
    instead of 5.3 with pyarrow's defaults and lz4, for 1.06 GB instead of 0.6 GB of temporary
    disk. Above ``bucket_rows`` transactions (1e8: about 10 GB uncompressed) snappy keeps the
    disk in bounds, at about twice the CPU of no compression."""
    return {"compression": "none" if transactions <= bucket_rows else "snappy", "use_dictionary": False,
            "write_statistics": False}


def previous_month_end(as_of: Any) -> dt.date:
    """Last day of the month before ``as_of``'s month."""
    d = parse_as_of(as_of)
    return d.replace(day=1) - dt.timedelta(days=1)


def _quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class ValueStore:
    """The value stage's per-customer data for one analysis date (see the module docstring).

    ``transactions``: a pandas frame or the path of a Parquet file (or a list of paths) with
    ``customer_id``, ``order_date``, ``amount`` (clean rows, as the loader returns them)."""

    def __init__(self, transactions: Any, as_of: Any, *, holdout_days: int = 90, seed: int = 0,
                 memory_limit: str = DEFAULT_MEMORY_LIMIT, workdir: str | Path | None = None,
                 bucket_rows: int = BUCKET_ROWS, two_pass_rows: int | None = TWO_PASS_ROWS,
                 table_rows: int = TABLE_ROWS):
        self.as_of = parse_as_of(as_of)
        self.holdout_days = int(holdout_days)
        if self.holdout_days < 7:
            raise ValueError(f"holdout_days must be at least 7, got {holdout_days}")
        self.last_end = previous_month_end(self.as_of)
        self.cutoff = self.as_of - dt.timedelta(days=self.holdout_days)
        self.baseline_start = self.cutoff - dt.timedelta(days=self.holdout_days)
        self.seed = int(seed)
        self.dir = Path(tempfile.mkdtemp(prefix="rfm-value-", dir=workdir))
        self.con = duckdb.connect(config={"memory_limit": memory_limit,
                                          "temp_directory": str(self.dir / "spill"),
                                          "preserve_insertion_order": False})
        try:  # no progress bars on a terminal; in Jupyter DuckDB refuses the setting without ipywidgets
            self.con.execute("SET enable_progress_bar = false")  # (and draws no bars there either)
        except duckdb.Error:
            pass
        self.scored: dict[str, Path] = {}
        self._scored_format = scored_format(0)
        self._stats: dict[bool, dict[str, Any]] = {}
        try:
            source = self._source(transactions)
            rows = int(self.con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0])
            self._scored_format = scored_format(rows, bucket_rows)
            parts = parts_for(rows, bucket_rows)
            if parts == 1 and two_pass_rows and rows >= two_pass_rows:
                parts = 2
            if parts == 1 and rows < table_rows:  # a table of the engine: no Parquet written, then decoded at each scan
                self.con.execute("CREATE TEMP TABLE value_base AS "
                                 + base_sql(source, self.as_of, self.last_end, self.cutoff, self.baseline_start,
                                            self.seed))
            else:
                files = []
                for part in range(parts):  # disjoint sets of customers: the union is the one-pass result
                    where = source if parts == 1 else f"(SELECT * FROM {source} WHERE {customer_part_sql(part, parts)})"
                    sql = base_sql(where, self.as_of, self.last_end, self.cutoff, self.baseline_start, self.seed)
                    files.append(self.dir / f"base-{part}.parquet")
                    self.con.execute(f"COPY ({sql}) TO {_quote_path(files[-1])} (FORMAT parquet)")
                self.con.execute("CREATE VIEW value_base AS SELECT * FROM read_parquet(["
                                 + ", ".join(_quote_path(f) for f in files) + "])")
            if source == "value_tx":
                self.con.unregister("value_tx")
        except BaseException:
            self.close()
            raise

    def _source(self, transactions: Any) -> str:
        if isinstance(transactions, pd.DataFrame):
            missing = [c for c in ("customer_id", "order_date", "amount") if c not in transactions.columns]
            if missing:
                raise KeyError(f"transactions lack column(s) {missing}; found {sorted(transactions.columns)}")
            self.con.register("value_tx", transactions[["customer_id", "order_date", "amount"]])
            return "value_tx"
        paths = [transactions] if isinstance(transactions, (str, Path)) else list(transactions)
        if not paths or not all(str(p).endswith(".parquet") for p in paths):
            raise TypeError("transactions must be a pandas DataFrame or Parquet file path(s), "
                            f"not {type(transactions).__name__} {str(transactions)[:80]!r}")
        return "read_parquet([" + ", ".join(_quote_path(Path(p)) for p in paths) + "])"

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "ValueStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ counts and samples
    def _view(self, calibration: bool) -> str:
        if calibration:
            return ("(SELECT customer_id, cal_frequency AS frequency, cal_recency AS recency, cal_T AS T, "
                    "cal_monetary_value AS monetary_value, first_purchase, sample_key FROM value_base "
                    "WHERE cal_frequency IS NOT NULL)")
        return ("(SELECT customer_id, frequency, recency, T, monetary_value, first_purchase, sample_key "
                "FROM value_base WHERE has_purchase)")

    def stats(self, calibration: bool = False) -> dict[str, Any]:
        """Counts of the summary as of the analysis date (or the cut-off): ``customers``,
        ``repeat_customers``, ``spend_customers`` (repeat with a positive mean spend),
        ``one_time_buyers``, ``first_purchase``; as of the analysis date also
        ``customers_without_purchase_day`` and ``nonpositive_days``. Both are counted in one scan
        of the summary, once per store (the summary does not change; the stage asks for them
        about ten times)."""
        if not self._stats:
            self._stats = self._count()
        return dict(self._stats[bool(calibration)])

    def _count(self) -> dict[bool, dict[str, Any]]:
        parts = []
        for cal in (False, True):
            f, m = ("cal_frequency", "cal_monetary_value") if cal else ("frequency", "monetary_value")
            where = "cal_frequency IS NOT NULL" if cal else "has_purchase"
            parts.append(f"COUNT(*) FILTER (WHERE {where}), COUNT(*) FILTER (WHERE {where} AND {f} > 0), "
                         f"COUNT(*) FILTER (WHERE {where} AND {f} > 0 AND {m} > 0), "
                         f"COUNT(*) FILTER (WHERE {where} AND {f} = 0), MIN(first_purchase) FILTER (WHERE {where})")
        row = self.con.execute(f"SELECT {', '.join(parts)}, COUNT(*) FILTER (WHERE NOT has_purchase), "
                               "COALESCE(SUM(nonpositive_days) FILTER (WHERE has_purchase), 0) FROM value_base").fetchall()[0]
        out = {}
        for i, cal in enumerate((False, True)):
            r = row[5 * i:5 * i + 5]
            out[cal] = {"customers": int(r[0]), "repeat_customers": int(r[1]), "spend_customers": int(r[2]),
                        "one_time_buyers": int(r[3]), "first_purchase": r[4]}
        out[False]["customers_without_purchase_day"] = int(row[10])
        out[False]["nonpositive_days"] = int(row[11])
        return out

    def sample(self, k: int | None, seed: int | None = None, calibration: bool = False,
               within: str | None = None) -> pd.DataFrame:
        """A stratified seeded sample of at most ``k`` customers (all when ``k`` is None or
        there are fewer), with ``frequency``, ``recency``, ``T``, ``monetary_value``. ``seed``
        defaults to the store's (whose sample order was computed with the summary). ``within``:
        a larger sample of the same summary kept by :meth:`keep_sample`, holding every row of
        this one (taken from it: the same rows, from a few hundred thousand instead of all)."""
        view = within or self._view(calibration)
        if k is None:
            sql = f"SELECT * FROM {view} ORDER BY customer_id"
        else:
            st = self.stats(calibration)  # the population's strata, also when taken from a larger sample
            seed = self.seed if seed is None else int(seed)
            sql = sample_sql(view, int(k), seed, st["repeat_customers"], st["one_time_buyers"],
                             key="sample_key" if seed == self.seed else None)
        out = self.con.execute(sql).df().drop(columns=["sample_key"])
        out["frequency"] = out["frequency"].astype("int64")
        return out

    def keep_sample(self, k: int, calibration: bool = False) -> str:
        """Keep the stratified sample of ``k`` customers (the store's seed) as a table and return its
        name, for :meth:`sample` and :meth:`score` (``within=``): a smaller sample of the same
        seed is a part of it (:func:`~rfm_helpers.value.features.stratified_counts` permitting;
        the caller checks)."""
        name = f"value_sample_{'cal' if calibration else 'now'}_{int(k)}"
        st = self.stats(calibration)
        # unordered: sample() orders what it takes from it, and scoring and the backtest's deciles
        # do not depend on the order of its rows (sorting 200,000 ids here was a third of its cost)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS "
                         + sample_sql(self._view(calibration), int(k), self.seed, st["repeat_customers"],
                                      st["one_time_buyers"], key="sample_key", ordered=False))
        return name

    # ------------------------------------------------------------------ scoring
    def score(self, fitted, name: str, *, calibration: bool = False, horizons=(90, 365), clv_months: int = 12,
              annual_discount_rate: float = 0.10, new_customer_days: int = 30,
              columns: list[str] | None = None, sample: int | None = None, within: str | None = None) -> Path:
        """Score every customer (of the cut-off's summary with ``calibration``) into
        ``<name>.parquet`` and return its path; ``columns``: which score columns to keep;
        ``sample`` (with ``calibration``): only a stratified sample of that many customers, in
        the store's seeded order; ``within`` (with ``calibration``): only the customers of a sample
        kept by :meth:`keep_sample`."""
        import pyarrow.parquet as pq

        if calibration:
            sql = "SELECT customer_id, frequency, recency, T, monetary_value FROM " + (within or self._view(True))
            if sample is not None and within is None:
                st = self.stats(calibration=True)
                sql = (f"SELECT customer_id, frequency, recency, T, monetary_value FROM ("
                       + sample_sql(self._view(True), int(sample), self.seed, st["repeat_customers"],
                                    st["one_time_buyers"], key="sample_key") + ")")
            keep: tuple[str, ...] = ("customer_id",)
        else:
            sql = (f"SELECT customer_id, frequency, recency, T, monetary_value, last_frequency, last_recency, last_T, "
                   f"frequency = 0 AS one_time_buyer, "
                   f"DATE_DIFF('day', first_purchase, DATE '{self.as_of.isoformat()}') < {int(new_customer_days)} "
                   f"AS new_customer FROM value_base WHERE has_purchase")
            keep = ("customer_id", "one_time_buyer", "new_customer")
        path = self.dir / f"{name}.parquet"
        pairs = None
        if sample is None or within is not None:  # the few thousand distinct (frequency, T) pairs: the costly terms once
            found = self.con.execute(f"SELECT DISTINCT frequency, T FROM ({sql}) AS s").fetchnumpy()
            pairs = tuple(np.asarray(found[c], dtype="float64") for c in ("frequency", "T"))
        reader = self.con.sql(sql).to_arrow_reader(_BATCH_ROWS)
        writer = None
        try:
            for batch in score_batches(fitted, reader, horizons=horizons, clv_months=clv_months,
                                       annual_discount_rate=annual_discount_rate, keep=keep, columns=columns,
                                       threads=SCORING_THREADS, pairs=pairs):
                if writer is None:
                    writer = pq.ParquetWriter(path, batch.schema, **self._scored_format)
                writer.write_batch(batch)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # no customers: an empty file with no rows would have no schema
            raise ValueError("no customers to score")
        self.scored[name] = path
        return path

    def source(self, name: str) -> str:
        """The table expression of the scored customers ``name``."""
        return f"read_parquet({_quote_path(self.scored[name])})"

    def finish(self, name: str, view: str = "value_customers") -> str:
        """Create ``view``: the scored customers of ``name`` with the ``slipping`` flag (which
        needs the CLV threshold of all customers, known only after scoring)."""
        src = self.source(name)
        n = self.con.execute(f"SELECT COUNT(*) FROM {src}").fetchall()[0][0]
        rows = self.con.execute(slipping_threshold_sql(src, n)).fetchall()
        if not rows:  # fewer customers with a CLV than the top share: all of them are in it
            rows = self.con.execute(f"SELECT MIN(clv) FROM {src}").fetchall()
        threshold = float(rows[0][0]) if rows and rows[0][0] is not None else None
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT *, {slipping_sql(threshold)} AS slipping "
                         f"FROM {src}")
        return view

    def register_group_columns(self, name: str, path: str | Path, columns: list[str]) -> str:
        """Register the Parquet file ``path`` as view ``name``: ``customer_id`` and the group keys
        of each of ``columns``, as text (as :meth:`register_groups` does for one column), read by
        the engine in place."""
        quoted = ['"' + str(c).replace('"', '""') + '"' for c in columns]
        cols = ", ".join(f"CAST({q} AS VARCHAR) AS {q}" for q in quoted)
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT CAST(customer_id AS VARCHAR) AS customer_id, {cols} "
                         f"FROM read_parquet({_quote_path(Path(path))})")
        return name

    def register_groups(self, name: str, groups: Any, column: str | None = None) -> str:
        """Register group keys as table ``name`` with columns ``customer_id`` and ``grp``:
        ``groups`` is a Series indexed by customer id, or a Parquet file path with a
        ``customer_id`` column and the group keys in ``column`` (registered as a view over
        ``read_parquet``: the customers never come into pandas)."""
        if isinstance(groups, (str, Path)):
            if not column:
                raise ValueError("a Parquet file of groups needs the column of the group keys (column=...)")
            col = '"' + str(column).replace('"', '""') + '"'
            self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
                             f"CAST({col} AS VARCHAR) AS grp FROM read_parquet({_quote_path(Path(groups))})")
            return name
        if column is not None:
            raise ValueError("column= is for a Parquet file of groups, not a Series")
        frame = pd.DataFrame({"customer_id": pd.Index(groups.index).astype(str),
                              "grp": groups.astype("string").to_numpy()})
        self.con.register(name, frame)
        return name
