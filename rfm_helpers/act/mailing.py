"""Mailing lists: one CSV per segment plus one workbook with a sheet per segment.

Rows are built and written by the engine from the segmented table (``assigned``, the output
of :func:`rfm_helpers.segments.assign_segments`): customer id, segment key and label, R/F/M
values and scores, order dates, spend, the segment's offer and channel, ``is_test`` = 0, and
the contact columns of ``contacts`` when given (name, e-mail, phone, consent flags: see
:data:`rfm_helpers.act.columns.CONTACT_COLUMNS`). Test recipients are appended to every list
with ``is_test`` = 1. Within a list: highest spend first, then customer id.
"""
from __future__ import annotations

import contextlib
import os
import threading
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pandas as pd

from ..segments import _get_map, load_segment_maps, map_info
from .columns import CONTACT_COLUMNS, Column, col, schema
from .consent import REASONS, assumed_channels, check_channel, reason_sql
from .files import engine as scratch_engine, key_warnings, sql_literal
from .formats import LIST_FORMATS, list_format, prepare_contacts, write_format
from .workbook import Sheet
from .writer import ExportWriter

__all__ = ["segment_texts", "load_test_recipients", "customer_sql", "extra_columns", "write_mailing_lists",
           "safe_filename", "restrict_to_reachable", "list_engine", "SCRATCH_NAMES"]

_OPTIONAL = {"r_score": "INTEGER", "f_score": "INTEGER", "m_score": "INTEGER",
             "last_purchase": "DATE", "first_purchase": "DATE"}


def segment_texts(map_name: str, language: str, maps: dict | None = None) -> pd.DataFrame:
    """The map's segments (one row each, in map order) with their texts in ``language``:
    ``segment``, ``segment_label``, ``suggested_offer``, ``recommended_channel``,
    ``talking_points``, ``call_weight``, ``ord``, ``description``, ``rule``."""
    info = map_info(map_name, language, maps)
    return pd.DataFrame({
        "segment": info["segment"].astype(str), "segment_label": info["label"].astype(str),
        "suggested_offer": info["strategy"].astype(str), "recommended_channel": info["channel"].astype(str),
        "talking_points": info["talking_points"].astype(str), "call_weight": info["call_weight"].astype(float),
        "ord": range(len(info)), "description": info["description"].astype(str), "rule": info["rule"].astype(str),
    })


def load_test_recipients(test_recipients: Any) -> pd.DataFrame:
    """Test recipients as a table of text columns: ``None``/``""`` -> empty; a list of dicts;
    a DataFrame; or a CSV path (UTF-8 with or without BOM, ``,`` or ``;``; every value read as
    text). Every row needs a non-empty ``customer_id`` (an internal id such as ``TEST-1``);
    other columns (``email``, ``name`` ...) are kept. A relative path is looked up in the
    working folder, then in the project root."""
    if test_recipients is None or (isinstance(test_recipients, str) and not test_recipients.strip()):
        return pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    if isinstance(test_recipients, pd.DataFrame):
        df = test_recipients.copy()
    elif isinstance(test_recipients, (str, Path)):
        path = Path(test_recipients)
        if not path.is_absolute() and not path.exists():
            from ..pipeline import project_root

            path = project_root() / path
        if not path.exists():
            raise FileNotFoundError(f"test recipients file {test_recipients!s} not found")
        df = pd.read_csv(path, sep=None, engine="python", dtype=str, encoding="utf-8-sig",
                         keep_default_na=False, na_values=[""])
    else:
        df = pd.DataFrame(list(test_recipients))
    if df.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    if "customer_id" not in df.columns:
        raise KeyError(f"test recipients need a 'customer_id' column; got {list(df.columns)}")
    ids = df["customer_id"]
    if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
        raise ValueError("every test recipient needs a non-empty customer_id")
    return df.astype("string").reset_index(drop=True)


def extra_columns(contacts: pd.DataFrame | None, tests: pd.DataFrame | None, base: Sequence[Column]) -> list[Column]:
    """Contact columns present in ``contacts`` or the test recipients (in the order of
    :data:`CONTACT_COLUMNS`), then any other test-recipient column as free text."""
    have = set()
    for frame in (contacts, tests):
        if frame is not None:
            have |= set(map(str, frame.columns))
    taken = {c.key for c in base}
    out = [c for c in CONTACT_COLUMNS if c.key in have and c.key not in taken]
    taken |= {c.key for c in out}
    if tests is not None:
        out += [col(str(k), "text") for k in tests.columns if str(k) not in taken]
    return out


def list_inputs(schema_name: str, assigned: Any, seg: pd.DataFrame, contacts: pd.DataFrame | None,
                tests: pd.DataFrame) -> tuple[list[Column], list[Column], dict[str, Any]]:
    """What a customer list is written from: the schema's columns (``base``), the file's
    columns (contact columns before ``is_test``) and the frames its SQL reads (``assigned`` is
    a pandas/Arrow frame, or a table name or Relation of an engine: see :func:`list_engine`)."""
    base = list(schema(schema_name))
    columns = base[:-1] + extra_columns(contacts, tests if len(tests) else None, base) + base[-1:]
    frames: dict[str, Any] = {"assigned": assigned, "seg": seg}
    if contacts is not None:
        frames["contacts"] = contacts
    if len(tests):
        frames["tests"] = tests
    return base, columns, frames


#: Names a list's SQL gives its inputs and scratch views/tables (see :func:`list_engine`).
SCRATCH_NAMES = ("assigned", "seg", "contacts", "tests", "value_rows", "customers", "customers_all", "reach",
                 "ranked", "top", "calls", "value_known", "list_rows", "customers_rfm")
#: Columns of a list row that come from its segment (:func:`segment_texts`), the same on every row.
_SEGMENT_TEXTS = ("segment_label", "suggested_offer", "recommended_channel", "talking_points", "call_weight", "ord")
#: Those of them the test recipients' rows of a list carry too (the others are empty there).
_TEST_TEXTS = ("segment_label", "suggested_offer", "recommended_channel")


def _typed_literal(value: Any) -> str:
    """A segment text or number as a SQL literal of the type the ``seg`` table gives it."""
    if isinstance(value, str):
        return sql_literal(value)
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    return f"CAST({int(value)} AS BIGINT)"


#: How many threads a list's one-off preparation (:func:`_all_threads`) may use on a scratch connection.
_PREP_THREADS = max(1, min(2, os.cpu_count() or 1))


@contextlib.contextmanager
def list_engine(frames: dict[str, Any], engine: Any = None) -> Iterator[Any]:
    """The DuckDB connection a list is written on, with ``frames`` readable under their names.

    ``frames["assigned"]`` (the segmented customers) is a pandas or Arrow frame - then a
    scratch connection is opened, as for every export - or the name of a table/view in
    ``engine`` (an :class:`rfm_helpers.engine.DuckDBEngine`, e.g. ``Prepared.engine``) or a
    Relation of it: then the list is written on that engine's connection, straight from the
    table (the customers never come into pandas), and every name the list's SQL creates
    (:data:`SCRATCH_NAMES`) is dropped again on exit. A name already taken on that connection
    is refused rather than shadowed."""
    assigned = frames["assigned"]
    table = None
    if isinstance(assigned, str):
        table = assigned
        if engine is None:
            raise ValueError("a segmented table given by name needs the engine that holds it (engine=...)")
    elif hasattr(assigned, "native") and hasattr(assigned, "sql") and hasattr(assigned, "engine"):
        engine = engine or assigned.engine
        table = f"({assigned.sql})"
    if table is None:
        with scratch_engine(**frames) as con:
            yield con
        return
    con = getattr(engine, "con", None)
    if con is None:
        raise TypeError(f"lists are written on a DuckDB engine; got {type(engine).__name__}")
    taken = {str(r[0]) for r in con.execute(
        "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()} & set(SCRATCH_NAMES)
    if taken:
        raise ValueError(f"the engine already has tables or views named {sorted(taken)}; the lists need these names")
    others = {k: v for k, v in frames.items() if k != "assigned"}
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    try:
        con.execute(f"SET VARIABLE rfm_list_threads = {int(threads)}")  # for _all_threads
        con.execute("SET threads = 1")  # as the scratch connection: writing files is bound by the disk
        con.execute(f"CREATE TEMP VIEW assigned AS SELECT * FROM {table}")
        for name, frame in others.items():
            con.register(name, frame)
        yield con
    finally:
        # the list code reads counts with fetchone(); finish any result it left open, or the
        # engine's next query (Relation API) would be refused
        with contextlib.suppress(Exception):
            con.complete()
        con.execute(f"SET threads = {int(threads)}")
        with contextlib.suppress(Exception):
            con.execute("RESET VARIABLE rfm_list_threads")
        for name in others:
            with contextlib.suppress(Exception):
                con.unregister(name)
        for name in SCRATCH_NAMES:
            for kind in ("VIEW", "TABLE"):
                with contextlib.suppress(Exception):
                    con.execute(f"DROP {kind} IF EXISTS temp.{name}")


@contextlib.contextmanager
def _all_threads(con: Any) -> Iterator[None]:
    """Run a one-off preparation (the list rows' table) on the engine's own threads, then back to
    the one thread files are written with (:func:`list_engine`)."""
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    try:
        wanted = con.sql("SELECT getvariable('rfm_list_threads')").fetchall()[0][0]
    except Exception:  # noqa: BLE001 - a scratch connection has no such variable
        wanted = None
    con.execute(f"SET threads = {int(wanted or _PREP_THREADS)}")
    try:
        yield
    finally:
        con.execute(f"SET threads = {int(threads)}")


def _write_in_parallel(con: Any, ex: ExportWriter, jobs: Sequence[tuple], columns: Sequence[Column], compress: bool,
                       workbook: tuple | None) -> tuple[list, list]:
    """Write the lists' CSV files (``jobs``: file, SQL, rows, key warnings, and optionally the file's
    own columns, e.g. with its constant values: :func:`_constant_columns`) and the workbook
    (``workbook``: name, sheets, About rows) on two cursors of ``con``'s database at once: one
    engine thread each (files are written on one thread, :func:`list_engine`), two cores busy.
    The workbook is started first (it takes longest) and records its sheets; the CSV files are
    written here and recorded by the caller, in order. Returns (workbook records, CSV records)."""
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()
    cursors: list[Any] = []
    guard = threading.Lock()

    def cursor() -> Any:
        if getattr(local, "con", None) is None:
            local.con = con.cursor()
            with guard:
                cursors.append(local.con)
        return local.con

    def csv_job(job: tuple) -> Any:
        file, sql, total, warned, *own = job
        return ex.write_file(cursor(), file, sql, own[0] if own else columns, "mailing_<segment>.csv", rows=total,
                             compress=compress, warnings=warned)

    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="rfm-lists") as pool:
            book = pool.submit(lambda: ex.write_workbook(cursor(), *workbook)) if workbook else None
            written = [f.result() for f in [pool.submit(csv_job, j) for j in jobs]]
            recs = book.result() if book is not None else []
    finally:
        for c in cursors:
            with contextlib.suppress(Exception):
                c.close()
    return recs, written


def _constant_columns(columns: Sequence[Column], constants: dict[str, Any]) -> list[Column]:
    """``columns`` with those of ``constants`` (the same value on every row of a file) taken from
    that value as a literal of the type the list's query gives it (:func:`_typed_literal`): the
    engine then makes such a column's text once (its formula check, its quoting) instead of once
    per row. The file's bytes are the same."""
    return [c.from_(_typed_literal(constants[c.key])) if c.key in constants and c.source is None else c
            for c in columns]


def _merge_key_warnings(rows: list[dict], tests: list[dict], columns: Sequence[Column]) -> list[dict]:
    """The key warnings of one list: its customers' counts plus the test recipients' (appended to
    every list), per column, in the columns' order."""
    out = {w["column"]: dict(w) for w in rows}
    for w in tests:
        if w["column"] in out:
            out[w["column"]]["count"] += w["count"]
        else:
            out[w["column"]] = dict(w)
    return [out[c.key] for c in columns if c.key in out]


def columns_of(con: Any, name: str = "assigned") -> list[str]:
    """The column names of a table or view on ``con``."""
    return list(con.sql(f"SELECT * FROM {name} LIMIT 0").columns)


def _check_contacts(con: Any, contacts: pd.DataFrame | None) -> None:
    if contacts is None:
        return
    if "customer_id" not in contacts.columns:
        raise KeyError(f"contacts need a 'customer_id' column; got {list(contacts.columns)}")
    dup = con.execute("SELECT CAST(customer_id AS VARCHAR) AS id, count(*) FROM contacts GROUP BY 1 "
                      "HAVING count(*) > 1 ORDER BY 2 DESC, 1 LIMIT 3").fetchall()
    if dup:
        raise ValueError(f"contacts: customer ids {[d[0] for d in dup]} appear more than once; keep one contact "
                         "row per customer (which e-mail or phone to use is not a guess the export makes)")


def customer_sql(assigned: Any, contacts: pd.DataFrame | None, contact_cols: Sequence[Column]) -> str:
    """SQL (over views ``assigned``, ``seg`` and optionally ``contacts``) giving one row per
    customer with every list column. ``assigned``: the segmented frame, or its column names."""
    have = set(map(str, assigned.columns)) if hasattr(assigned, "columns") else set(assigned)
    need = ["customer_id", "segment", "recency_days", "frequency", "monetary"]
    missing = [c for c in need if c not in have]
    if missing:
        raise KeyError(f"the segmented table lacks columns {missing}; segment it with assign_segments first")
    opt = {k: (f'a."{k}"' if k in have else f"CAST(NULL AS {t})") for k, t in _OPTIONAL.items()}
    contact_sel = "".join(f', c."{c.key}"' if contacts is not None and c.key in contacts.columns
                          else f', CAST(NULL AS VARCHAR) AS "{c.key}"' for c in contact_cols)
    join = ("LEFT JOIN contacts AS c ON CAST(c.customer_id AS VARCHAR) = CAST(a.customer_id AS VARCHAR)"
            if contacts is not None else "")
    return f"""
        SELECT CAST(a.customer_id AS VARCHAR) AS customer_id, s.segment, s.segment_label,
               a.recency_days, a.frequency, a.monetary,
               {opt['r_score']} AS r_score, {opt['f_score']} AS f_score, {opt['m_score']} AS m_score,
               a.recency_days AS days_since_last_order,
               CAST({opt['last_purchase']} AS DATE) AS last_order_date,
               CAST({opt['first_purchase']} AS DATE) AS first_order_date,
               a.monetary AS total_spend,
               CASE WHEN a.frequency > 0 THEN a.monetary / a.frequency END AS average_order_value,
               s.suggested_offer, s.recommended_channel, s.talking_points, s.call_weight, s.ord,
               0 AS is_test{contact_sel}
        FROM assigned AS a JOIN seg AS s ON CAST(a.segment AS VARCHAR) = s.segment {join}"""


def restrict_to_reachable(con: Any, channel: str | None, contacts: pd.DataFrame | None, assume: set[str]) -> dict:
    """With a ``channel`` and contacts: replace the view ``customers`` by the customers that can
    be reached on it (:mod:`rfm_helpers.act.consent`) and return the customers left out per
    segment and reason (``{segment: {reason: n}}``); otherwise change nothing and return ``{}``."""
    if channel is None or contacts is None:
        return {}
    check_channel(channel)
    have = {str(c) for c in contacts.columns}
    con.execute("ALTER VIEW customers RENAME TO customers_all")
    con.execute(f"""CREATE TEMP TABLE reach AS SELECT a.customer_id, a.segment, {reason_sql(channel, have, assume)} AS reason
                    FROM customers_all AS a LEFT JOIN contacts AS c ON CAST(c.customer_id AS VARCHAR) = a.customer_id""")
    con.execute("CREATE TEMP VIEW customers AS SELECT x.* FROM customers_all AS x JOIN reach AS r "
                "USING (customer_id) WHERE r.reason IS NULL")
    out: dict[str, dict[str, int]] = {}
    for seg, reason, n in con.execute("SELECT segment, reason, count(*) FROM reach WHERE reason IS NOT NULL "
                                      "GROUP BY ALL").fetchall():
        out.setdefault(str(seg), {})[str(reason)] = int(n)
    return out


def _excluded_note(excluded: dict, channel: str, file: str, assume: set[str]) -> dict:
    totals = {r: sum(v.get(r, 0) for v in excluded.values()) for r in REASONS}
    return {"code": "consent_filter", "file": file, "channel": channel, **totals,
            "assumed_consent": channel in assume}


def safe_filename(key: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_") or "segment"


def write_mailing_lists(ex: ExportWriter, assigned: Any, map_name: str | None = None,
                        maps: dict | None = None, segments: Iterable[str] | None = None, test_recipients: Any = None,
                        contacts: pd.DataFrame | None = None, formats: Iterable[str] = ("csv", "xlsx"),
                        prefix: str = "mailing", phone_region: str | None = None,
                        channel: str | None = None, engine: Any = None) -> pd.DataFrame:
    """Write ``{prefix}_{segment}.csv`` per non-empty segment and ``{prefix}_lists.xlsx`` (About
    sheet, then one sheet per segment named after its label). ``segments`` restricts the export
    to some segment keys. Returns a manifest (one row per segment: ``segment``, ``label``,
    ``customers``, ``test_rows``, ``csv_file``, ``xlsx_sheet``; aggregates only) whose
    ``attrs["warnings"]`` holds the warning codes (``xlsx_capped``, ``formula_like_keys`` ...).

    ``formats`` may also name list formats of :data:`rfm_helpers.act.formats.LIST_FORMATS`
    (``mailchimp``, ``unisender``, ``amocrm``): then ``{format}_{segment}.csv`` is written per
    segment, ready for that service's import (see :mod:`rfm_helpers.act.formats`). Phones of
    ``contacts`` are written in E.164; a number without a country code is read in
    ``phone_region`` (default: ``RU`` for a Russian run, else ``US``), and that is reported.

    ``channel`` (``email``, ``sms`` or ``call``) with ``contacts``: every list keeps only the
    customers that can be reached on that channel (a contact for it, consent, not
    unsubscribed; :mod:`rfm_helpers.act.consent`); the manifest then has the columns
    ``excluded_no_contact``, ``excluded_unsubscribed``, ``excluded_no_consent`` and the
    writer's notes a ``consent_filter`` code with the totals. Without ``channel`` the lists
    carry the contact columns as given, unfiltered.

    ``assigned`` may also be the name of a table or view in ``engine`` (or a Relation of it),
    e.g. the ``assigned`` views of :func:`rfm_helpers.clustering.compare_methods_engine`: the
    lists are then written from the engine (:func:`list_engine`); the same files."""
    formats = [f.lower() for f in formats]
    bad = [f for f in formats if f not in ("csv", "xlsx", *LIST_FORMATS)]
    if bad:
        raise ValueError(f"unknown export format(s) {bad}; use 'csv', 'xlsx' or a list format {sorted(LIST_FORMATS)}")
    services = [list_format(f) for f in formats if f in LIST_FORMATS]
    region = phone_region or ("RU" if ex.language == "ru" else "US")
    prep_warnings: list[dict] = []
    assume = assumed_channels(contacts)
    if contacts is not None:
        contacts, prep_warnings = prepare_contacts(contacts, region)
    maps = maps if maps is not None else load_segment_maps()
    name = map_name or getattr(assigned, "attrs", {}).get("segment_map") or "classic"
    _, mp = _get_map(name, maps)
    keys = [s["key"] for s in mp["segments"]]
    wanted = list(segments) if segments is not None else keys
    unknown = [k for k in wanted if k not in keys]
    if unknown:
        raise ValueError(f"segments {unknown} are not in map {name!r}")
    seg = segment_texts(name, ex.language, maps)
    tests = load_test_recipients(test_recipients)
    if len(tests):
        tests, more = prepare_contacts(tests, region)
        tests = tests.astype("string")
        prep_warnings += [dict(w, test_recipients=True) for w in more]
    base, columns, frames = list_inputs("mailing_<segment>.csv", assigned, seg, contacts, tests)
    records, sheets, rows_out = len(ex.records), [], []
    with list_engine(frames, engine) as con:
        _check_contacts(con, contacts)
        known = {r[0] for r in con.execute("SELECT DISTINCT CAST(segment AS VARCHAR) FROM assigned").fetchall()}
        stray = sorted(str(k) for k in known - set(keys) if k is not None)
        if stray:
            raise ValueError(f"segments {stray} are not in map {name!r}")
        con.execute(f"CREATE TEMP VIEW customers AS {customer_sql(columns_of(con), contacts, [c for c in columns if c.key not in {b.key for b in base}])}")
        excluded = restrict_to_reachable(con, channel, contacts, assume)
        # the list rows once: every file and sheet below reads this table (filtered by segment)
        # instead of deriving every customer's row again per file. The segment's own texts (the
        # same on every row of a list) are added per list, not stored per customer. A table of
        # the database, not of this connection, so that two cursors can write files at once.
        uid = f"act_lists_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        rows_t, tests_t = f"{uid}_rows", f"{uid}_tests"
        try:
            with _all_threads(con):
                con.execute(f"CREATE TABLE {rows_t} AS SELECT * EXCLUDE ({', '.join(_SEGMENT_TEXTS)}) FROM customers")
            if len(tests):
                con.execute(f"CREATE TABLE {tests_t} AS SELECT * FROM tests")
            counts = dict(con.execute(f"SELECT segment, count(*) FROM {rows_t} GROUP BY 1").fetchall())
            todo = [s for s in seg.itertuples() if s.segment in wanted and counts.get(s.segment)]
            # the lists are one set: compressed together when their rows together pass the writer's limit
            compress = ex.compresses(sum(int(counts[s.segment]) + len(tests) for s in todo))
            files = {s.segment: f"{prefix}_{safe_filename(s.segment)}.csv" for s in todo}
            keyed = key_warnings(con, f"SELECT * FROM {rows_t}", columns, files, by="segment") if "csv" in formats else {}
            test_keyed = (key_warnings(con, f"SELECT * FROM {tests_t}",
                                       [c for c in columns if c.key in set(map(str, tests.columns))],
                                       {None: ""})[None] if len(tests) and "csv" in formats else [])
            jobs = []
            for s in seg.itertuples():
                if s.segment not in wanted or not counts.get(s.segment):
                    if s.segment in wanted and excluded.get(s.segment):  # everybody left out: say so
                        rows_out.append({"segment": s.segment, "label": s.segment_label, "customers": 0, "test_rows": 0,
                                         "csv_file": "", "xlsx_sheet": "",
                                         **{f"excluded_{r}": int(excluded[s.segment].get(r, 0)) for r in REASONS}})
                    continue
                texts = ", ".join(f"{_typed_literal(getattr(s, k))} AS {k}" for k in _SEGMENT_TEXTS)
                sql = f"SELECT *, {texts} FROM {rows_t} WHERE segment = {sql_literal(s.segment)}"
                if len(tests):
                    sql = (f"{sql} UNION ALL BY NAME SELECT *, {sql_literal(s.segment)} AS segment, "
                           f"{sql_literal(s.segment_label)} AS segment_label, {sql_literal(s.suggested_offer)} AS suggested_offer, "
                           f"{sql_literal(s.recommended_channel)} AS recommended_channel, 1 AS is_test FROM {tests_t}")
                sql = f"SELECT * FROM ({sql}) AS l ORDER BY is_test, monetary DESC NULLS LAST, customer_id"
                entry = {"segment": s.segment, "label": s.segment_label, "customers": int(counts[s.segment]),
                         "test_rows": len(tests), "csv_file": "", "xlsx_sheet": ""}
                if channel is not None and contacts is not None:
                    entry.update({f"excluded_{r}": int(excluded.get(s.segment, {}).get(r, 0)) for r in REASONS})
                total = int(counts[s.segment]) + len(tests)
                # the segment and its texts are the same on every row of the list (test recipients' rows
                # carry the segment, its label, offer and channel, not the rest): written once per file
                same = {k: getattr(s, k) for k in ("segment", *(_TEST_TEXTS if len(tests) else _SEGMENT_TEXTS))}
                if "csv" in formats:
                    warned = _merge_key_warnings(keyed.get(s.segment, []), test_keyed, columns)
                    jobs.append((entry, files[s.segment], sql, total, warned, _constant_columns(columns, same)))
                    entry["csv_file"] = f"{files[s.segment]}.gz" if compress else files[s.segment]
                for fmt in services:
                    write_format(ex, con, fmt, sql, [c.key for c in columns], f"{fmt.name}_{safe_filename(s.segment)}.csv")
                if "xlsx" in formats:
                    sheets.append(Sheet(s.segment_label, columns, sql, total, entry["csv_file"], constants=same))
                rows_out.append(entry)
            about = definitions(ex, seg, rows_out, name, maps) if sheets else None
            recs, written = _write_in_parallel(
                con, ex, [job[1:] for job in jobs], columns, compress,
                (f"{prefix}_lists.xlsx", sheets, about) if sheets else None)
            for (entry, file, *_), rec in zip(jobs, written):  # recorded in the lists' order
                entry["csv_file"] = ex.record_file(rec, file, columns).file
            for entry, rec in zip([e for e in rows_out if e["customers"]], recs):
                entry["xlsx_sheet"] = rec.file.split("#", 1)[1]
        finally:
            with contextlib.suppress(Exception):
                con.complete()
            for t in (rows_t, tests_t):
                with contextlib.suppress(Exception):
                    con.execute(f"DROP TABLE IF EXISTS {t}")
    names = ["segment", "label", "customers", "test_rows", "csv_file", "xlsx_sheet"]
    if channel is not None and contacts is not None:
        names += [f"excluded_{r}" for r in REASONS]
        wanted_excluded = {k: v for k, v in excluded.items() if k in wanted}
        prep_warnings.append(_excluded_note(wanted_excluded, channel, prefix, assume))
    manifest = pd.DataFrame(rows_out, columns=names)
    ex.notes.extend(prep_warnings)
    manifest.attrs["warnings"] = prep_warnings + [w for r in ex.records[records:] for w in r.warnings]
    return manifest


def definitions(ex: ExportWriter, seg: pd.DataFrame, entries: Sequence[dict], map_name: str,
                maps: dict | None) -> list[list[Any]]:
    """About-sheet rows: the segment map, each segment's rule and description, and the rows of
    each list."""
    w = ex.words
    maps = maps if maps is not None else load_segment_maps()
    title = maps["maps"][map_name].get("title", {})
    rows: list[list[Any]] = [[w.label("segment_map"), title.get(ex.language, map_name) if isinstance(title, dict) else map_name],
                             [], [w.label("segment_definitions")],
                             [w.header("segment_label"), w.header("segment"), w.label("rule"), w.label("description"),
                              w.header("customers")]]
    counts = {e["segment"]: e["customers"] for e in entries}
    for s in seg.itertuples():
        rows.append([s.segment_label, s.segment, s.rule, s.description, counts.get(s.segment, 0)])
    rows += [[], [w.label("rule_note")]]
    return rows
