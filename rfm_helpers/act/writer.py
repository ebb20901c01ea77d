"""The export writer of a run: one object per run writes every file in the run's dialect.

    ex = ExportWriter.for_run(p, language, words)      # p: rfm_helpers.pipeline.Prepared
    ex.write_table("rfm_scores.csv", p.rfm)           # any schema of act.columns.SCHEMAS
    ex.records / ex.warnings / ex.manifest()          # aggregates only, safe for the report

Every file written is listed in ``data_dictionary.csv`` beside the exports (file, column,
kind, meaning; in the run's dialect and language), so a file's columns are documented next to
it, and in ``README.txt`` (:data:`README_FILE`): the source, the analysis date, the currency and
the CSV format of the folder, then every file with its rows and the time it was written, so a
list found later says where it came from. ``.files.json`` keeps that listing for the next
writer of the same folder; a writer refuses a folder that holds another source's or another
analysis date's files. The writer keeps nothing per customer: tables are written by the engine from the frame
the caller holds.

Size policy (what a run of tens of millions of customers writes)
----------------------------------------------------------------
* **Compressed machine files**: a CSV file with more than :attr:`ExportWriter.gzip_rows` rows
  (default :data:`GZIP_ROWS`, 10 million; environment ``RFM_EXPORT_GZIP_ROWS``, ``0`` never
  compresses) is written gzip-compressed as ``<name>.csv.gz``: the same bytes once unpacked
  (``gzip -d``, 7-Zip; pandas and DuckDB read it as it is). The mailing lists of one call are
  decided together (all compressed when their rows together pass the limit), so a folder never
  mixes both kinds for one set of lists. At 47.9 million customers the lists, the scores and
  the customer values would take about 28 GB uncompressed; gzip (level 1) cuts that to about
  5 GB (ratios measured on the 10^6 run's files: lists 8.9, customer values 5.5, scores 3.3).
* **Workbooks**: a workbook is written when the rows of its lists (every sheet's CSV rows) are
  at most :attr:`ExportWriter.workbook_rows` (default :data:`WORKBOOK_ROWS`, 1,048,576, one
  spreadsheet sheet's limit; environment ``RFM_EXPORT_WORKBOOK_ROWS``, ``0`` always writes it).
  Above it the workbook is not written (a stale one of an earlier run in the folder is removed)
  and the ``workbook_skipped`` note names the CSV files that hold the same rows and the option;
  nothing is cut silently. Each sheet still shows at most :attr:`ExportWriter.xlsx_max_rows`
  rows (the About sheet says so).

Both limits and what they did are written into ``README.txt`` and ``.files.json`` (the real
file names, ``.csv.gz`` included), and said on the notebook's page.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from ..paths import folder_lock
from .columns import Column, SCHEMAS, schema
from .files import CsvDialect, FileRecord, dialect_for, engine, write_csv
from .workbook import EXCEL_MAX_ROWS, XLSX_MAX_ROWS, ExportWords, Sheet, sheet_title, write_workbook

__all__ = ["ExportWriter", "DICTIONARY_FILE", "README_FILE", "ExportFolderConflict", "GZIP_ROWS", "WORKBOOK_ROWS",
           "GZIP_ROWS_ENV", "WORKBOOK_ROWS_ENV", "size_limit"]

DICTIONARY_FILE = "data_dictionary.csv"
#: CSV files with more rows than this are written gzip-compressed (``.csv.gz``); see the module's docstring.
GZIP_ROWS = 10_000_000
#: Workbooks whose lists hold more rows than this are not written (the CSV files hold the rows).
WORKBOOK_ROWS = 1_048_576
GZIP_ROWS_ENV = "RFM_EXPORT_GZIP_ROWS"
WORKBOOK_ROWS_ENV = "RFM_EXPORT_WORKBOOK_ROWS"
README_FILE = "README.txt"
_LISTING = ".files.json"


def size_limit(value: Any, env: str, default: int) -> int:
    """A row limit of the size policy: ``value`` when given, else the environment variable
    ``env``, else ``default``; a whole number of at least 0 (0: no limit), or a sentence naming
    the option."""
    if value is None:
        raw = os.environ.get(env, "").strip().replace("_", "")
        if not raw:
            return int(default)
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{env}={os.environ.get(env)!r} must be a whole number of rows (0: no limit)") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{env.removeprefix('RFM_EXPORT_').lower()} {value!r} must be a whole number of rows of at least 0 "
                         "(0: no limit)")
    return int(value)


class ExportFolderConflict(ValueError):
    """An exports folder already holds files of another source or analysis date."""

    def _render_traceback_(self) -> list[str]:  # IPython: the sentence, no traceback
        return [f"{type(self).__name__}: {self}"]


def _listing_locked(method: Any) -> Any:
    """Run ``method`` holding the exports folder's lock: it reads, changes and rewrites the
    files every writer of the run shares (``.files.json``, ``README.txt``,
    ``data_dictionary.csv``), and notebooks of one run may write at the same time."""
    @functools.wraps(method)
    def locked(self: Any, *args: Any, **kw: Any) -> Any:
        folder = self.path(_LISTING).parent
        folder.mkdir(parents=True, exist_ok=True)
        with folder_lock(folder):
            return method(self, *args, **kw)
    return locked


@dataclass
class ExportWriter:
    """Writes the export files of one run into ``exports_dir``."""

    exports_dir: Path
    language: str = "en"
    words: ExportWords = field(default_factory=ExportWords)
    source_name: str = ""
    as_of: dt.date | None = None
    currency: str = ""
    xlsx_max_rows: int = XLSX_MAX_ROWS
    #: CSV files with more rows are gzip-compressed (None: ``RFM_EXPORT_GZIP_ROWS``, else :data:`GZIP_ROWS`; 0: never)
    gzip_rows: int | None = None
    #: workbooks whose lists hold more rows are not written (None: ``RFM_EXPORT_WORKBOOK_ROWS``, else
    #: :data:`WORKBOOK_ROWS`; 0: always written)
    workbook_rows: int | None = None
    records: list[FileRecord] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)  # warnings not tied to one file (contacts)

    def __post_init__(self) -> None:
        self.exports_dir = Path(self.exports_dir)
        self.gzip_rows = size_limit(self.gzip_rows, GZIP_ROWS_ENV, GZIP_ROWS)
        self.workbook_rows = size_limit(self.workbook_rows, WORKBOOK_ROWS_ENV, WORKBOOK_ROWS)
        self.exports_dir.mkdir(parents=True, exist_ok=True)
        self.started = dt.datetime.now().astimezone().replace(microsecond=0)
        listing = self._read_listing()
        if listing and self.source_name and (listing.get("source"), listing.get("analysis_date")) != (
                self.source_name, self.as_of.isoformat() if self.as_of else None):
            raise ExportFolderConflict(
                f"{self.exports_dir} holds the files of {listing.get('source')!r} for {listing.get('analysis_date')}; "
                f"this run is {self.source_name!r} for {self.as_of}: write them into another folder "
                "(an interactive run gets its own, reports/_interactive/<source>_<date>/)")
        if self.words.language != self.language:
            self.words = ExportWords(language=self.language) if not self.words.headers else self.words

    @classmethod
    def for_run(cls, prepared: Any, language: str = "en", words: ExportWords | None = None,
                **options: Any) -> "ExportWriter":
        """The writer of a prepared run (its exports folder, source name and analysis date)."""
        source = getattr(prepared, "source", None)
        currency = str(getattr(prepared, "currency", "") or "").upper()
        return cls(prepared.exports_dir, language, words or ExportWords(language=language),
                   source_name=str(getattr(source, "display_name", "") or ""),
                   as_of=getattr(prepared, "as_of", None), currency=currency, **options)

    @property
    def dialect(self) -> CsvDialect:
        return dialect_for(self.language)

    @property
    def warnings(self) -> list[dict]:
        """Warning codes with values of every file written so far (no customer data)."""
        return self.notes + [w for r in self.records for w in r.warnings]

    def manifest(self) -> pd.DataFrame:
        """One row per file (or workbook sheet) written: ``file``, ``rows``."""
        return pd.DataFrame([{"file": r.file, "rows": r.rows} for r in self.records], columns=["file", "rows"])

    # ------------------------------------------------------------------ writing
    def path(self, name: str) -> Path:
        return self.exports_dir / name

    def compresses(self, rows: int) -> bool:
        """Whether a CSV file of ``rows`` rows is written gzip-compressed (the size policy)."""
        return bool(self.gzip_rows) and int(rows) > int(self.gzip_rows)

    def write_query(self, con: Any, name: str, sql: str, columns: Sequence[Column], schema_name: str, *,
                    rows: int | None = None, compress: bool | None = None,
                    warnings: list[dict] | None = None) -> FileRecord:
        """Write the rows of ``sql`` (on the engine connection ``con``) as CSV file ``name``, or as
        ``name.gz`` when the size policy compresses it (``compress`` None: decided by the rows,
        counted unless ``rows`` is given; see the module's docstring). The record names the file
        written; the other kind of the same file left by an earlier run is removed."""
        if compress is None:
            if rows is None:
                rows = int(con.execute(f"SELECT count(*) FROM ({sql}) AS q").fetchone()[0])
            compress = self.compresses(rows)
        rec = self.write_file(con, name, sql, columns, schema_name, rows=rows, compress=compress, warnings=warnings)
        return self.record_file(rec, name, columns)

    def write_file(self, con: Any, name: str, sql: str, columns: Sequence[Column], schema_name: str, *,
                   rows: int | None, compress: bool, warnings: list[dict] | None = None) -> FileRecord:
        """The writing half of :meth:`write_query` (``name``, or ``name.gz`` when ``compress``):
        touches no state of the writer, so several may run at once on cursors of one engine; each
        result then goes through :meth:`record_file`, in the order the files should be listed."""
        file = f"{name}.gz" if compress else name
        if warnings is not None:
            warnings = [dict(w, file=file) for w in warnings]
        rec = write_csv(con, sql, columns, self.path(file), self.dialect, schema=schema_name, rows=rows,
                        compress=compress, warnings=warnings)
        if compress:
            rec.warnings.append({"code": "csv_gzipped", "file": file, "rows": rec.rows, "limit": self.gzip_rows})
        return rec

    def record_file(self, rec: FileRecord, name: str, columns: Sequence[Column]) -> FileRecord:
        """Record a file :meth:`write_file` wrote as ``name`` (or ``name.gz``): the data dictionary,
        the listing, and the other kind of the same file left by an earlier run removed."""
        self._forget(f"{name}.gz" if rec.file == name else name)
        self._document(rec.schema, columns)
        self.add(rec)
        return rec

    def _forget(self, name: str) -> None:
        """Remove file ``name`` of an earlier run from the folder and its listing."""
        path = self.path(name)
        listing = self._read_listing()
        listed = bool(listing and name in listing.get("files", {}))
        if not path.exists() and not listed:
            return
        path.unlink(missing_ok=True)
        if listed:
            del listing["files"][name]
            self._write_text(self.path(_LISTING), json.dumps(listing, ensure_ascii=False, indent=1) + "\n")
            self._write_text(self.path(README_FILE), self.readme(listing))

    def write_table(self, schema_name: str, frame: pd.DataFrame, name: str | None = None,
                    columns: Sequence[Column] | None = None, order_by: str = "", select: str = "",
                    **frames: Any) -> FileRecord:
        """Write ``frame`` (any table the engine can scan: pandas or Arrow; the view ``t``) as the
        CSV file of ``schema_name`` (file ``name``, default the schema's name). ``select`` is an
        optional query over ``t`` and the extra ``frames`` (default ``SELECT * FROM t``). Columns
        the rows lack are refused, naming them."""
        cols = list(columns or schema(schema_name))
        sql = select or "SELECT * FROM t"
        with engine(t=frame, **frames) as con:
            have = {d[0] for d in con.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0").description}
            missing = [c.key for c in cols if c.source is None and c.key not in have]
            if missing:
                raise KeyError(f"{name or schema_name}: the table lacks columns {missing}; it has {sorted(have)}")
            if order_by:
                sql = f"SELECT * FROM ({sql}) AS q ORDER BY {order_by}"
            return self.write_query(con, name or schema_name, sql, cols, schema_name)

    def write_workbook(self, con: Any, name: str, sheets: Sequence[Sheet], about: Sequence[Sequence[Any]]) -> list[FileRecord]:
        """Write the workbook ``name`` (About sheet first, then ``sheets``), unless the rows of its
        lists pass :attr:`workbook_rows`: then nothing is written (a workbook of that name left
        by an earlier run is removed), the writer's notes get ``workbook_skipped`` (the file, the
        rows, the limit and the CSV files holding the rows) and ``[]`` is returned."""
        total = sum(int(sh.total_rows) for sh in sheets)
        if self.workbook_rows and total > self.workbook_rows:
            self._forget(name)
            note = {"code": "workbook_skipped", "file": name, "rows": total, "limit": self.workbook_rows,
                    "csv_files": [sh.csv_file for sh in sheets if sh.csv_file]}
            self.notes.append(note)
            self._note_in_listing(note)
            return []
        w = self.words
        used = {w.label("about_sheet").lower()[:31]}
        sheets = [replace(sh, title=sheet_title(sh.title, used)) for sh in sheets]
        cap = min(self.xlsx_max_rows, EXCEL_MAX_ROWS - 1)
        listing: list[list[Any]] = [[], [w.label("sheets")],
                                    [w.label("sheet"), w.label("rows_in_sheet"), w.label("rows_in_csv"), w.label("csv_file")]]
        for sh in sheets:
            listing.append([sh.title, min(sh.total_rows, cap), sh.total_rows, sh.csv_file or "-"])
        if any(sh.total_rows > cap for sh in sheets):
            listing.append([w.label("xlsx_cap_note").format(rows=w.integer(cap))])
        recs = write_workbook(con, self.path(name), [*self.about_rows(), *about, *listing], sheets, w,
                              max_rows=cap, about_title=w.label("about_sheet"))
        # written again by this writer: the sheets of the earlier writing are gone (their rows
        # would otherwise be added to the new ones in the listing)
        self.records = [r for r in self.records if r.file.split("#", 1)[0] != name]
        for rec in recs:
            self.add(rec)
        return recs

    def about_rows(self) -> list[list[Any]]:
        """The first rows of every workbook's About sheet: source, analysis date, files' format."""
        w = self.words
        rows: list[list[Any]] = [[w.label("about_heading")],
                                 [w.label("source"), self.source_name or "-"]]
        if self.as_of is not None:
            rows.append([w.label("analysis_date"), self.as_of])
        rows.append([w.label("written_at"), self.started.strftime("%Y-%m-%d %H:%M %z")])
        if self.currency:
            rows.append([w.label("currency"), self.currency])
        rows.append([w.label("csv_format"), w.label(f"csv_dialect_{self.dialect.name}")])
        rows.append([w.label("data_dictionary"), DICTIONARY_FILE])
        rows.append([])
        return rows

    # ------------------------------------------------------------------ README.txt
    @_listing_locked
    def add(self, rec: FileRecord) -> None:
        """Record a file written (for :meth:`manifest` and ``README.txt``); a file written again
        replaces its earlier record."""
        self.records = [r for r in self.records if r.file != rec.file]
        self.records.append(rec)
        listing = self._read_listing() or {}
        files = listing.get("files", {})
        name = rec.file.split("#", 1)[0]  # a workbook's sheets are "file.xlsx#Sheet": rows of all its sheets
        rows = rec.rows if name == rec.file else sum(r.rows for r in self.records if r.file.startswith(name + "#"))
        files[name] = {"rows": rows, "written_at": self._stamp()}
        skipped = listing.get("skipped", {})
        skipped.pop(name, None)  # written now
        listing.update({"source": self.source_name, "analysis_date": self.as_of.isoformat() if self.as_of else None,
                        "currency": self.currency, "language": self.language, "files": dict(sorted(files.items())),
                        "policy": self._policy(), "skipped": dict(sorted(skipped.items()))})
        self._write_text(self.path(_LISTING), json.dumps(listing, ensure_ascii=False, indent=1) + "\n")
        self._write_text(self.path(README_FILE), self.readme(listing))

    def _policy(self) -> dict:
        return {"gzip_rows": self.gzip_rows, "workbook_rows": self.workbook_rows,
                "gzip_rows_option": GZIP_ROWS_ENV, "workbook_rows_option": WORKBOOK_ROWS_ENV}

    @_listing_locked
    def _note_in_listing(self, note: Mapping[str, Any]) -> None:
        """Keep a file not written (``workbook_skipped``) in ``.files.json`` and ``README.txt``."""
        listing = self._read_listing() or {}
        listing.update({"source": self.source_name, "analysis_date": self.as_of.isoformat() if self.as_of else None,
                        "currency": self.currency, "language": self.language, "files": listing.get("files", {}),
                        "policy": self._policy()})
        listing.setdefault("skipped", {})[note["file"]] = {"rows": note["rows"], "limit": note["limit"],
                                                           "csv_files": list(note["csv_files"]),
                                                           "written_at": self._stamp()}
        self._write_text(self.path(_LISTING), json.dumps(listing, ensure_ascii=False, indent=1) + "\n")
        self._write_text(self.path(README_FILE), self.readme(listing))

    def _stamp(self) -> str:
        return self.started.strftime("%Y-%m-%d %H:%M:%S %z")

    def _read_listing(self) -> dict | None:
        try:
            return json.loads(self.path(_LISTING).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def readme(self, listing: Mapping[str, Any]) -> str:
        """The text of ``README.txt`` for ``listing`` (see the module's docstring)."""
        w = self.words
        lines = [w.label("readme_title"), "", f"{w.label('source')}: {listing.get('source') or '-'}",
                 f"{w.label('analysis_date')}: {listing.get('analysis_date') or '-'}"]
        if listing.get("currency"):
            lines.append(f"{w.label('currency')}: {listing['currency']}")
        lines += [f"{w.label('csv_format')}: {w.label(f'csv_dialect_{self.dialect.name}')}",
                  f"{w.label('data_dictionary')}: {DICTIONARY_FILE}", "", w.label("readme_files"), ""]
        files = listing.get("files", {})
        width = max([len(n) for n in files] + [10])
        for name in sorted(files):
            f = files[name]
            lines.append(f"{name:<{width}}  {w.label('rows')}: {w.integer(int(f['rows'])):>9}  "
                         f"{w.label('written_at')}: {f['written_at']}")
        policy = listing.get("policy") or self._policy()
        lines += ["", w.label("readme_policy"), ""]
        if policy.get("gzip_rows"):
            lines.append(w.label("readme_gzip").format(rows=w.integer(int(policy["gzip_rows"])),
                                                       option=policy.get("gzip_rows_option", GZIP_ROWS_ENV)))
        else:
            lines.append(w.label("readme_gzip_off").format(option=policy.get("gzip_rows_option", GZIP_ROWS_ENV)))
        if policy.get("workbook_rows"):
            lines.append(w.label("readme_workbook").format(rows=w.integer(int(policy["workbook_rows"])),
                                                           option=policy.get("workbook_rows_option", WORKBOOK_ROWS_ENV)))
        else:
            lines.append(w.label("readme_workbook_off").format(option=policy.get("workbook_rows_option", WORKBOOK_ROWS_ENV)))
        for name, f in sorted((listing.get("skipped") or {}).items()):
            lines.append(w.label("readme_workbook_skipped").format(
                file=name, rows=w.integer(int(f["rows"])), limit=w.integer(int(f["limit"])),
                files=", ".join(f.get("csv_files") or []) or "-"))
        return "\n".join(lines) + "\n"

    def _write_text(self, path: Path, text: str) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    # ------------------------------------------------------------------ data dictionary
    @_listing_locked
    def _document(self, schema_name: str, columns: Sequence[Column]) -> None:
        """Put the columns of ``schema_name`` into ``data_dictionary.csv`` (replacing its rows)."""
        path = self.path(DICTIONARY_FILE)
        rows: list[list[str]] = []
        if path.exists():
            with path.open(encoding="utf-8-sig", newline="") as fh:
                rows = [r for r in csv.reader(fh, delimiter=self.dialect.sep)][1:]
            rows = [r for r in rows if r and r[0] != schema_name]
        w = self.words
        for c in columns:
            rows.append([schema_name, c.key, w.kinds.get(c.kind, c.kind), w.header(c.key),
                         w.descriptions.get(f"{schema_name}:{c.key}", w.descriptions.get(c.key, ""))])
        order = {n: i for i, n in enumerate(SCHEMAS)}
        rows.sort(key=lambda r: order.get(r[0], len(order)))
        buf = io.StringIO()
        out = csv.writer(buf, delimiter=self.dialect.sep, quoting=csv.QUOTE_ALL, lineterminator="\n")
        out.writerow(["file", "column", "kind", "header", "meaning"])
        out.writerows(rows)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
        os.replace(tmp, path)
