"""What every notebook does first: resolve parameters, load, clean, compute and score RFM.

Notebooks stay thin: ``p = prepare(analysis_date=..., source_config=..., ...)`` gives the
load result (with quarantine accounting), the clean transactions up to the analysis date
and the scored RFM table, plus the run and export folders.

Within a run the load is done once (by the first notebook) and cached in ``run_dir/.cache``:
the kept transactions as one Parquet file, the rest of the :class:`~rfm_helpers.load.LoadResult`
(counts, remarks, quarantine, freshness) pickled beside it. Later notebooks read the small
part only; the engine reads the Parquet file in place, and the transactions reach pandas
only when a notebook asks for :attr:`Prepared.transactions`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .load import LoadResult, SourceSpec, assert_usable, read_source_spec, spec_from
from .load.bundled import cdnow_source
from .paths import (CACHE_DIR, INTERACTIVE_RUN_DIR, interactive_run_dir, is_interactive,  # noqa: F401 (re-exported)
                    project_root, resolve_run_dir)
from .rfm import parse_as_of


def resolve_source(source_config: str | os.PathLike | dict | SourceSpec | None) -> SourceSpec:
    """The checked source spec: ``""``/``None`` = the bundled CDNOW sample; a YAML file (found
    as given, else relative to the project root), whose relative data paths and SQLite URLs
    resolve against the YAML's own folder; a dict (relative paths against the working
    directory) or a :class:`~rfm_helpers.load.SourceSpec` as is. Errors name the YAML file
    and line (:class:`~rfm_helpers.load.SourceSpecError`)."""
    if source_config is None or (isinstance(source_config, str) and not source_config.strip()):
        return cdnow_source()
    if isinstance(source_config, SourceSpec):
        return source_config
    if isinstance(source_config, dict):
        return spec_from(dict(source_config), base_dir=Path.cwd())
    written = str(source_config)
    cfg_path = Path(source_config)
    if not cfg_path.is_absolute() and not cfg_path.exists():
        cfg_path = project_root() / cfg_path
    if not cfg_path.exists():
        raise FileNotFoundError(f"source_config {written}: file not found")
    return read_source_spec(cfg_path, label=written)


#: DuckDB's memory limit for a notebook's engine (``RFM_DUCKDB_MEMORY`` overrides it).
ENGINE_MEMORY_LIMIT = "3GB"


@dataclass
class Prepared:
    """Everything a notebook needs after loading.

    Per-customer work belongs in the engine: :attr:`engine` is one DuckDB engine per prepared
    run holding the clean transactions (:attr:`transactions_table`) and the scored RFM table
    (:attr:`rfm_table`, computed once, on first use). :attr:`rfm` is the same table fetched into
    pandas, also on first use; that fetch is reported as per-customer (see
    :mod:`rfm_helpers.engine.fetch`), so notebooks and modules that must scale use the tables
    in the engine and fetch aggregates."""

    as_of: dt.date
    window_days: int | None
    source: SourceSpec
    load: LoadResult
    #: the clean transactions in pandas; when not given (``None``): ``load.clean``, which a
    #: run's cache reads from its Parquet file on first use (a ``per_transaction`` fetch)
    transactions: pd.DataFrame | None
    run_dir: Path
    params: dict = field(default_factory=dict)
    n_scores: int = 5
    _rfm: pd.DataFrame | None = field(default=None, repr=False)
    _engine: Any = field(default=None, repr=False)
    _tables: dict = field(default_factory=dict, repr=False)

    @property
    def currency(self) -> str:
        """ISO code of the run's money (from the spec or the amounts' marks)."""
        return self.load.currency or "USD"

    @property
    def exports_dir(self) -> Path:
        d = self.run_dir / "exports"
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def engine(self) -> Any:
        """The run's DuckDB engine (:class:`rfm_helpers.engine.DuckDBEngine`), opened on first use.

        Its memory is bounded (``RFM_DUCKDB_MEMORY``, default :data:`ENGINE_MEMORY_LIMIT`):
        beyond it DuckDB spills to ``run_dir/.cache/spill/<process id>`` (DuckDB's own default
        would let one notebook take 80% of the machine's memory). The scored table of 1e8
        transactions (48M customers) is written within 3 GB."""
        if self._engine is None:
            from .engine import DuckDBEngine

            self._engine = DuckDBEngine(memory_limit=os.environ.get("RFM_DUCKDB_MEMORY", ENGINE_MEMORY_LIMIT))
            # a folder per process: two kernels on one run folder (two notebooks open in
            # JupyterLab) must not share DuckDB's spill files
            spill = self.run_dir / CACHE_DIR / "spill" / str(os.getpid())
            spill.mkdir(parents=True, exist_ok=True)
            self._engine.con.execute(f"SET temp_directory = '{spill.as_posix()}'")
        return self._engine

    @property
    def transactions_source(self) -> Any:
        """The clean transactions as an engine should read them: the run cache's Parquet file
        (a path, read in place, never copied through pandas) unless they were given or are
        already in pandas (then the frame). For functions that take a frame or Parquet path(s),
        e.g. :func:`rfm_helpers.value.analyse_value`."""
        given = self.__dict__.get("_transactions")
        if given is not None:
            return given
        if self.load.clean_file and self.load.__dict__.get("_clean") is None:
            return self.load.clean_file
        return self.load.clean

    @property
    def transactions_table(self) -> str:
        """Name of the clean transactions in :attr:`engine` (registered on first use; a run's
        cached Parquet file is read in place)."""
        if "tx" not in self._tables:
            from .rfm import register_transactions

            self._tables["tx"] = register_transactions(self.engine, self.transactions_source).name
        return self._tables["tx"]

    @property
    def rfm_table(self) -> str:
        """Name of the scored RFM table in :attr:`engine` (one row per customer, the columns and
        order of :func:`rfm_helpers.rfm.compute_scored_rfm`), computed once on first use."""
        if "rfm" not in self._tables:
            from .rfm import scored_rfm_relation

            rel = scored_rfm_relation(self.transactions_source, self.as_of, self.window_days, n=self.n_scores,
                                      engine=self.engine, order=True)
            cached = self.rfm_file
            if cached is None:  # no run cache (an interactive session, or transactions given)
                self._tables["rfm"] = self.engine.materialize(rel, "rfm_scored")
            else:
                if not cached.exists():  # the first notebook of the run that needs it writes it
                    _copy_sorted(self.engine, rel.sql, cached)
                name = self.engine.unique_name("rfm_scored")
                self.engine.con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM read_parquet('{cached.as_posix()}')")
                self._tables["rfm"] = name
        return self._tables["rfm"]

    @property
    def rfm_file(self) -> Path | None:
        """Where a run keeps its scored RFM table (beside the run cache's transactions, named
        after them, the analysis date, the window and the number of scores), so the notebooks of
        one run compute it once; ``None`` without a run cache."""
        clean = self.load.clean_file
        if not clean or self.__dict__.get("_transactions") is not None:
            return None
        clean = Path(clean)
        return clean.with_name(f"{clean.stem}-rfm-{self.as_of.isoformat()}-w{self.window_days or 0}"
                               f"-n{self.n_scores}.parquet")

    @property
    def rfm(self) -> pd.DataFrame:
        """The scored RFM table in pandas (fetched from :attr:`rfm_table` on first use; a
        per-customer fetch)."""
        if self._rfm is None:
            from .rfm import tidy_rfm

            out = self.engine.fetch(f"SELECT * FROM {self.rfm_table}", label="scored RFM (Prepared.rfm)",
                                    kind="per_customer")
            self._rfm = tidy_rfm(out)
        return self._rfm


def _copy_sorted(engine: Any, sql: str, path: Path) -> None:
    """``COPY (sql) TO path`` (Parquet) within the engine's memory limit: the query's own ORDER
    BY fixes the rows' order, so DuckDB need not keep insertion order (which holds whole
    intermediate results in memory: at 1e8 transactions the scored table did not fit in 2 GB
    that way, and does in 3 GB without). Written to a temporary name, then renamed."""
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    con = engine.con
    con.execute("SET preserve_insertion_order = false")
    try:
        con.execute(f"COPY ({sql}) TO '{tmp.as_posix()}' (FORMAT parquet)")
    finally:
        con.execute("SET preserve_insertion_order = true")
    os.replace(tmp, path)


def _get_transactions(self: Prepared) -> pd.DataFrame:
    given = self.__dict__.get("_transactions")
    return given if given is not None else self.load.clean


def _set_transactions(self: Prepared, frame: pd.DataFrame | None) -> None:
    self.__dict__["_transactions"] = frame


# set after the class is made, so that the dataclass keeps ``transactions`` as an argument
Prepared.transactions = property(  # type: ignore[assignment]
    _get_transactions, _set_transactions,
    doc="The clean transactions in pandas, read on first use (a per-transaction fetch when they come from "
        "the run's cache); per-customer work should use :attr:`transactions_table` in the engine instead.")


def source_slug_and_identity(source: SourceSpec) -> tuple[str, str]:
    """How an interactive run folder names a source (the YAML file's name, ``cdnow`` for the
    bundled sample, else the display name) and what makes it that source (the data file's
    resolved path, the SQL query, or the name)."""
    if getattr(source, "_bundled", False):
        return "cdnow", "bundled:cdnow"
    label = getattr(source, "_spec_file", None)
    name = Path(label).stem if label else source.display_name
    if source.resolved_path is not None:
        identity = f"file:{source.resolved_path.resolve()}"
    elif source.spark is not None:
        identity = f"spark:{source.spark.table or source.spark.path}"
    elif source.sql is not None:
        identity = "sql:" + hashlib.sha256(str(source.sql.query or "").encode()).hexdigest()
    else:
        identity = f"name:{source.display_name}"
    return name, identity


def _cache_key(source: SourceSpec, as_of: dt.date | None) -> str:
    """Source spec + analysis date + the file's size and modification time."""
    stamp = None
    path = source.resolved_path
    if path and path.exists():
        st = path.stat()
        stamp = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    raw = json.dumps({"source": source.model_dump(mode="json"), "as_of": str(as_of), "stamp": stamp},
                     sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def load_cached(source: SourceSpec, as_of: dt.date | None, run_dir: Path | None) -> LoadResult:
    """:func:`rfm_helpers.load.load_transactions`, reusing the result stored in
    ``run_dir/.cache`` by an earlier notebook of the same run (same source, same file
    version, same analysis date). Without ``run_dir`` nothing is cached.

    The cache is two files: ``load-<key>.parquet`` (the kept transactions, written once) and
    ``load-<key>.pkl`` (the rest of the result, small; written last, so it marks a complete
    entry). A result read from the cache has :attr:`~rfm_helpers.load.LoadResult.clean_file`
    set and reads its ``clean`` rows on first use only."""
    from .load import load_transactions

    if run_dir is None:
        return load_transactions(source, analysis_date=as_of)
    stem = run_dir / CACHE_DIR / f"load-{_cache_key(source, as_of)}"
    path, rows = stem.with_suffix(".pkl"), stem.with_suffix(".parquet")
    if path.exists() and rows.exists():
        with path.open("rb") as fh:
            result = pickle.load(fh)
        result.clean_file = str(rows)  # the run folder may have been moved since
        return result
    # the loader writes the kept rows to the file straight from DuckDB (they never exist in pandas)
    result = load_transactions(source, analysis_date=as_of, clean_path=rows)
    result.store_clean(rows)  # a no-op unless the loader could not write them itself
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)  # without the rows (they are in the Parquet file)
    os.replace(tmp, path)
    return result


def prepare(analysis_date: Any = "", source_config: Any = "", window_days: int | None = 0,
            run_dir: Any = "", n_scores: int = 5, **extra: Any) -> Prepared:
    """Load, clean, compute and score. ``analysis_date`` empty = last date in the data;
    ``window_days`` 0/None = whole history. Within a run (``run_dir`` given, or set by
    the runner) the loaded data is cached, see :data:`CACHE_DIR`. An interactive session (no
    ``run_dir``, no runner) writes into its own folder named by source and analysis date,
    ``reports/_interactive/<source>_<YYYY-MM-DD>/`` (:func:`rfm_helpers.paths.interactive_run_dir`)."""
    source = resolve_source(source_config)
    as_of = parse_as_of(analysis_date) if analysis_date else None
    explicit_run_dir = run_dir or os.environ.get("RFM_RUN_DIR")
    result = load_cached(source, as_of, Path(explicit_run_dir) if explicit_run_dir else None)
    # nothing on or before the analysis date: a clear error naming the data's date range
    assert_usable(result, as_of)
    if as_of is None:  # the last date of the kept rows (the load measured it)
        as_of = result.freshness.last_date if result.freshness and result.freshness.last_date else \
            result.clean["order_date"].max().date()
    window = int(window_days) if window_days else None
    params = {"analysis_date": as_of.isoformat(), "source": source.display_name,
              "window_days": window or "whole history", **extra}
    if is_interactive(run_dir):  # its own folder per source and analysis date (re-running replaces it)
        name, identity = source_slug_and_identity(source)
        folder = interactive_run_dir(name, identity, as_of)
    else:
        folder = resolve_run_dir(run_dir)
    return Prepared(as_of=as_of, window_days=window, source=source, load=result, transactions=None,
                    run_dir=folder, params=params, n_scores=n_scores)

