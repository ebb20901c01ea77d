"""Open export files the way their readers do and compare what they see with the project's data.

Readers
-------
* ``calc-default``: LibreOffice Calc's Text Import dialog accepted unchanged (the dialog's
  defaults in a fresh profile: separators tab, comma *and* semicolon, ``"`` as text delimiter,
  character set from the BOM, standard column types, no "quoted field as text", no "detect
  special numbers", no "evaluate formulas"), in the en_US or ru_RU locale;
* ``calc-careful``: what a careful user picks: only the file's own separator, the first column
  (``customer_id``) as Text, the run's locale;
* ``pandas``: the README's reading recipe.

Calc runs headless (``soffice --convert-to xlsx`` with the CSV filter's options string), one
process for many files, with its own profile folder (``-env:UserInstallation``) so parallel
test workers never share one. Run as a script to print the table of a run folder::

    python tests/export_readers.py reports/1998-06 [--source-config shop.yaml]
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

#: LibreOffice language ids of the locales we test.
LANG_IDS = {"en_US": 1033, "ru_RU": 1049}
CALC_FILTER = "Text - txt - csv (StarCalc)"
ID_COLUMNS = ("customer_id",)
MONEY_COLUMNS = ("monetary", "total_spend", "monetary_before")
DATE_COLUMNS = ("first_purchase", "last_purchase", "last_order_date", "first_order_date")


def soffice() -> str | None:
    """The LibreOffice binary, or None where it is not installed."""
    for name in ("soffice", "libreoffice"):
        path = shutil.which(name)
        if path:
            return path
    return None


def calc_options(seps: str, locale: str, text_columns: Iterable[int] = ()) -> str:
    """The CSV import filter's options string (tokens: separators, text delimiter, charset,
    first line, column formats, language, quoted-as-text, detect special numbers, (export),
    (export), remove spaces, (export), evaluate formulas)."""
    sep_codes = "/".join(str(ord(c)) for c in seps)
    formats = "/".join(f"{i}/2" for i in text_columns)
    return f"{sep_codes},34,76,1,{formats},{LANG_IDS[locale]},false,false,false,false,false,-1,false"


def calc_default(locale: str) -> str:
    return calc_options(",;\t", locale)


def calc_careful(sep: str, locale: str) -> str:
    return calc_options(sep, locale, text_columns=[1])


def convert(files: list[Path], outdir: Path, options: str, locale: str, timeout: float = 90,
            profile: Path | None = None) -> dict[Path, Path]:
    """Convert ``files`` (CSV) to xlsx with one headless Calc process; returns csv -> xlsx.
    ``profile``: a LibreOffice profile folder to reuse (its first start costs seconds); never
    share one between processes that run at the same time. Default: a fresh one, removed after."""
    if not files:
        raise ValueError("no files to convert (soffice without files would wait as a server)")
    binary = soffice()
    if binary is None:
        raise RuntimeError("LibreOffice (soffice) is not installed")
    outdir.mkdir(parents=True, exist_ok=True)
    own_profile = profile is None
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-")) if own_profile else Path(profile)
    env = {**os.environ, "LC_ALL": f"{locale}.UTF-8", "LANG": f"{locale}.UTF-8", "LANGUAGE": locale.split("_")[0]}
    # files of different folders may share a name: convert links with unique names
    stage = outdir / ".in"
    stage.mkdir(exist_ok=True)
    staged = {}
    for i, f in enumerate(files):
        link = stage / f"{i:03d}_{f.name}"
        link.unlink(missing_ok=True)
        link.symlink_to(Path(f).resolve())
        staged[f] = link
    infilter = [f"--infilter={CALC_FILTER}:{options}"] if options else []
    args = [binary, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
            *infilter, "--convert-to", "xlsx", "--outdir", str(outdir), *map(str, staged.values())]
    try:
        for attempt in (1, 2):  # a headless start now and then stalls on a loaded machine: retry once
            # its own process group, so a stalled soffice.bin is ended with its launcher
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            try:
                if proc.wait(timeout=timeout) != 0:
                    raise RuntimeError(f"soffice exited with {proc.returncode}")
                break
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                if attempt == 2:
                    raise
    finally:
        if own_profile:
            shutil.rmtree(profile, ignore_errors=True)
    out = {f: outdir / (s.stem + ".xlsx") for f, s in staged.items()}
    missing = [str(f) for f, x in out.items() if not x.exists()]
    if missing:
        raise RuntimeError(f"LibreOffice did not convert {missing}")
    return out


def read_xlsx(path: Path) -> list[list]:
    """The first sheet's cells as Python values (str for text cells, numbers, datetimes)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    return rows


def read_pandas(path: Path, language: str) -> list[list]:
    """The README recipe, as rows (header first)."""
    sep, dec = (";", ",") if language == "ru" else (",", ".")
    header, _ = csv_header(path)
    df = pd.read_csv(path, sep=sep, decimal=dec, encoding="utf-8-sig",
                     dtype={"customer_id": "string", "phone": "string"}, keep_default_na=False, na_values=[""],
                     parse_dates=[c for c in DATE_COLUMNS if c in header], date_format="ISO8601")
    return [list(df.columns)] + [[None if pd.isna(v) else v for v in row] for row in df.itertuples(index=False)]


@dataclass
class Truth:
    """What the project knows per customer: id -> money per column and dates per column."""

    ids: set[str]
    money: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    dates: dict[str, dict[str, dt.date]] = field(default_factory=dict)

    @classmethod
    def from_rfm(cls, rfm: pd.DataFrame) -> "Truth":
        ids = rfm["customer_id"].astype(str)
        money = {"monetary": dict(zip(ids, (_cents(v) for v in rfm["monetary"])))}
        money["total_spend"] = money["monetary"]
        dates = {}
        for src, keys in (("first_purchase", ("first_purchase", "first_order_date")),
                          ("last_purchase", ("last_purchase", "last_order_date"))):
            if src in rfm.columns:
                d = dict(zip(ids, pd.to_datetime(rfm[src]).dt.date))
                for k in keys:
                    dates[k] = d
        return cls(set(ids), money, dates)


def _cents(v) -> Decimal:
    return Decimal(str(round(float(v), 2))).quantize(Decimal("0.01"))


@dataclass
class Check:
    """What one reader made of one file."""

    file: str
    reader: str
    rows: int = 0
    bad_width: int = 0
    ids: int = 0
    bad_ids: int = 0
    numbers: int = 0
    bad_numbers: int = 0
    dates: int = 0
    bad_dates: int = 0
    examples: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.bad_width or self.bad_ids or self.bad_numbers or self.bad_dates)

    def cell(self) -> str:
        """A short table cell: 'ok' or what went wrong."""
        if self.ok:
            return "ok"
        parts = []
        if self.bad_width:
            parts.append(f"{self.bad_width}/{self.rows} rows split")
        if self.bad_ids:
            parts.append(f"{self.bad_ids}/{self.ids} ids changed")
        if self.bad_numbers:
            parts.append(f"{self.bad_numbers}/{self.numbers} amounts wrong")
        if self.bad_dates:
            parts.append(f"{self.bad_dates}/{self.dates} dates not dates")
        return "; ".join(parts)


def _as_decimal(v) -> Decimal | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return Decimal(str(round(float(v), 2))).quantize(Decimal("0.01"))
    return None


def check_rows(file: str, reader: str, rows: list[list], truth: Truth, raw_header: list[str],
               raw_ids: list[str] | None = None) -> Check:
    """Compare a reader's rows of ``file`` with ``truth``: row widths against the file's own
    header (``raw_header``), ids byte for byte, money to the cent, dates as dates. ``raw_ids``
    (the ids as written, by row) pairs amounts and dates with the right customer even where
    the reader changed the id."""
    c = Check(file, reader)
    if not rows:
        return c
    width = len(raw_header)
    body = rows[1:]
    c.rows = len(body)
    # rows split by a separator inside a value carry cells beyond the header's width
    c.bad_width = sum(1 for r in body if any(v not in (None, "") for v in r[width:]))
    if [str(h) if h is not None else "" for h in rows[0][:width]] != raw_header:
        c.bad_width += 1
    index = {str(h): i for i, h in enumerate(raw_header)}
    id_col = next((index[k] for k in ID_COLUMNS if k in index), None)
    for n, r in enumerate(body):
        rid = r[id_col] if id_col is not None and id_col < len(r) else None
        sid = None
        if id_col is not None:
            c.ids += 1
            sid = rid if isinstance(rid, str) else None
            if sid is None or (sid not in truth.ids and not sid.startswith(("TEST", "QA"))):
                c.bad_ids += 1
                if len(c.examples) < 5:
                    c.examples.append(("id", rid))
                sid = None
        if raw_ids is not None and n < len(raw_ids) and len(r) >= width:
            sid = raw_ids[n] if raw_ids[n] in truth.ids else None
        if sid is None:
            continue
        for k in MONEY_COLUMNS:
            if k in index and k in truth.money and sid in truth.money[k]:
                c.numbers += 1
                got = _as_decimal(r[index[k]] if index[k] < len(r) else None)
                if got != truth.money[k][sid]:
                    c.bad_numbers += 1
                    if len(c.examples) < 5:
                        c.examples.append((k, r[index[k]] if index[k] < len(r) else None))
        for k in DATE_COLUMNS:
            if k in index and k in truth.dates and sid in truth.dates[k]:
                c.dates += 1
                v = r[index[k]] if index[k] < len(r) else None
                if not isinstance(v, (dt.date, dt.datetime)) or pd.Timestamp(v).date() != truth.dates[k][sid]:
                    c.bad_dates += 1
    return c


def csv_ids(path: Path) -> list[str] | None:
    """The ids of a file by row, as written (None when it has no id column)."""
    header, sep = csv_header(path)
    if "customer_id" not in header:
        return None
    i = header.index("customer_id")
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    return [r[i] if i < len(r) else "" for r in list(csv.reader(io.StringIO(text), delimiter=sep))[1:]]


def csv_header(path: Path) -> tuple[list[str], str]:
    """The file's header and separator, read the way the writer wrote them."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0]
    sep = ";" if first.count(";") > first.count(",") else ","
    return next(csv.reader(io.StringIO(first), delimiter=sep)), sep


def evaluate(files: list[Path], truth: Truth, language: str, workdir: Path,
             readers: Iterable[str] = ("calc-default", "calc-careful", "pandas")) -> list[Check]:
    """Every reader on every file (Calc: one process per reader and locale)."""
    locale = "ru_RU" if language == "ru" else "en_US"
    headers = {f: csv_header(f) for f in files}
    checks = []
    for reader in readers:
        if reader == "pandas":
            for f in files:
                try:
                    rows = read_pandas(f, language)
                except Exception as exc:  # the recipe failing is a result too
                    checks.append(Check(f.name, reader, bad_width=1, examples=[("error", repr(exc)[:80])]))
                    continue
                checks.append(check_rows(f.name, reader, rows, truth, headers[f][0], csv_ids(f)))
            continue
        if reader == "calc-default":
            groups = {calc_default(locale): files}
        else:  # the careful user picks the run's separator and types the id column as Text
            sep = ";" if language == "ru" else ","
            groups: dict[str, list[Path]] = {}
            for f in files:
                h = headers[f][0]
                pos = [h.index(k) + 1 for k in ID_COLUMNS if k in h]
                groups.setdefault(calc_options(sep, locale, pos), []).append(f)
        out = {}
        for i, (options, group) in enumerate(groups.items()):
            out.update(convert(group, workdir / f"{reader}-{i}", options, locale))
        for f in files:
            checks.append(check_rows(f.name, reader, read_xlsx(out[f]), truth, headers[f][0], csv_ids(f)))
    return checks


def convert_workbooks(files: list[Path], outdir: Path, locale: str) -> dict[Path, Path]:
    """Open workbooks in Calc (no import options) and save them again as xlsx."""
    if not files:
        raise ValueError("no workbooks to convert")
    return convert(files, outdir, "", locale)


def read_xlsx_sheets(path: Path) -> dict[str, list[list]]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    out = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    wb.close()
    return out


def check_workbook(name: str, reader: str, sheets: Mapping[str, list[list]], truth: Truth) -> Check:
    """Every list sheet (all but the first, the About sheet): the first column holds ids as text
    exactly as in the project's data; money columns are numbers, date columns dates (found by
    the cells' types: a column of the raw file is not known here)."""
    c = Check(name, reader)
    for title, rows in list(sheets.items())[1:]:
        for r in rows[1:]:
            if not r or r[0] is None:
                continue
            c.rows += 1
            c.ids += 1
            if not isinstance(r[0], str) or (r[0] not in truth.ids and not r[0].startswith(("TEST", "QA", "="))):
                c.bad_ids += 1
                if len(c.examples) < 5:
                    c.examples.append((title, r[0]))
            for v in r[1:]:
                if isinstance(v, (dt.date, dt.datetime)):
                    c.dates += 1
                elif isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-":
                    c.dates += 1
                    c.bad_dates += 1
    return c


def evaluate_workbooks(files: list[Path], truth: Truth, language: str, workdir: Path) -> list[Check]:
    locale = "ru_RU" if language == "ru" else "en_US"
    out = convert_workbooks(files, workdir / "xlsx", locale)
    checks = []
    for f in files:
        checks.append(check_workbook(f.name, "calc-default", read_xlsx_sheets(out[f]), truth))
        checks.append(check_workbook(f.name, "calc-careful", read_xlsx_sheets(out[f]), truth))
        frames = pd.read_excel(f, sheet_name=None, converters={0: str}, keep_default_na=False,
                               na_values=[""])  # the README recipe for workbooks
        checks.append(check_workbook(f.name, "pandas", {k: [list(v.columns)] + v.astype(object).where(v.notna(), None)
                                                        .values.tolist() for k, v in frames.items()}, truth))
    return checks


def table(checks: list[Check]) -> str:
    """A Markdown table: one row per file, one column per reader."""
    readers = list(dict.fromkeys(c.reader for c in checks))
    files = list(dict.fromkeys(c.file for c in checks))
    by = {(c.file, c.reader): c for c in checks}
    lines = ["| file | " + " | ".join(readers) + " |", "|---|" + "---|" * len(readers)]
    for f in files:
        lines.append(f"| {f} | " + " | ".join(by[(f, r)].cell() if (f, r) in by else "-" for r in readers) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - a measuring script
    import argparse

    from rfm_helpers.pipeline import prepare

    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--source-config", default="")
    ap.add_argument("--language", default="en")
    ap.add_argument("--analysis-date", default="")
    args = ap.parse_args(argv)
    p = prepare(analysis_date=args.analysis_date, source_config=args.source_config,
                run_dir=tempfile.mkdtemp(prefix="readers-run-"))
    truth = Truth.from_rfm(p.rfm)
    files = sorted(f for f in (Path(args.run_dir) / "exports").glob("*.csv") if f.name != "data_dictionary.csv")
    books = sorted((Path(args.run_dir) / "exports").glob("*.xlsx"))
    with tempfile.TemporaryDirectory() as work:
        checks = evaluate(files, truth, args.language, Path(work))
        checks += evaluate_workbooks(books, truth, args.language, Path(work))
    print(table(checks))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
