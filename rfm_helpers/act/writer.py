"""The export writer of a run: one object per run writes every file in the run's dialect.

    ex = ExportWriter.for_run(p, language, words)      # p: rfm_helpers.pipeline.Prepared
    ex.write_table("rfm_scores.csv", p.rfm)           # any schema of act.columns.SCHEMAS
    ex.records / ex.warnings / ex.manifest()          # aggregates only, safe for the report

Every file written is listed in ``data_dictionary.csv`` beside the exports (file, column,
kind, meaning; in the run's dialect and language), so a file's columns are documented next to
it. The writer keeps nothing per customer: tables are written by the engine from the frame
the caller holds.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from .columns import Column, SCHEMAS, schema
from .files import CsvDialect, FileRecord, dialect_for, engine, write_csv
from .workbook import EXCEL_MAX_ROWS, XLSX_MAX_ROWS, ExportWords, Sheet, sheet_title, write_workbook

__all__ = ["ExportWriter", "DICTIONARY_FILE"]

DICTIONARY_FILE = "data_dictionary.csv"


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
    records: list[FileRecord] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)  # warnings not tied to one file (contacts)

    def __post_init__(self) -> None:
        self.exports_dir = Path(self.exports_dir)
        self.exports_dir.mkdir(parents=True, exist_ok=True)
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

    def write_query(self, con: Any, name: str, sql: str, columns: Sequence[Column], schema_name: str) -> FileRecord:
        """Write the rows of ``sql`` (on the engine connection ``con``) as CSV file ``name``."""
        rec = write_csv(con, sql, columns, self.path(name), self.dialect, schema=schema_name)
        self.records.append(rec)
        self._document(schema_name, columns)
        return rec

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
        """Write the workbook ``name`` (About sheet first, then ``sheets``)."""
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
        self.records.extend(recs)
        return recs

    def about_rows(self) -> list[list[Any]]:
        """The first rows of every workbook's About sheet: source, analysis date, files' format."""
        w = self.words
        rows: list[list[Any]] = [[w.label("about_heading")],
                                 [w.label("source"), self.source_name or "-"]]
        if self.as_of is not None:
            rows.append([w.label("analysis_date"), self.as_of])
        if self.currency:
            rows.append([w.label("currency"), self.currency])
        rows.append([w.label("csv_format"), w.label(f"csv_dialect_{self.dialect.name}")])
        rows.append([w.label("data_dictionary"), DICTIONARY_FILE])
        rows.append([])
        return rows

    # ------------------------------------------------------------------ data dictionary
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
                         w.descriptions.get(c.key, "")])
        order = {n: i for i, n in enumerate(SCHEMAS)}
        rows.sort(key=lambda r: order.get(r[0], len(order)))
        buf = io.StringIO()
        out = csv.writer(buf, delimiter=self.dialect.sep, quoting=csv.QUOTE_ALL, lineterminator="\n")
        out.writerow(["file", "column", "kind", "header", "meaning"])
        out.writerows(rows)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
        os.replace(tmp, path)
