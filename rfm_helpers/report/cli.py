"""``rfm-report``: render the monthly RFM reports from the command line.

Examples::

    rfm-report run --month 1998-06
    rfm-report run --month 1998-06 --source-config configs/shop.yaml --language ru --currency RUB
    rfm-report run --from 1997-03 --to 1998-06          # backfill, then rebuild reports/index.html
    rfm-report index                                      # only rebuild reports/index.html
    rfm-report init exports/sales_2024.csv                # draft a source spec for a new export
    rfm-report campaign create --name "Win back" --segments at_risk --channel email \
        --send-date 2026-07-01 --window-days 30 --control-share 0.1 --seed 1 \
        --primary-metric revenue --min-effect 1.0     # list + control group + registry
    rfm-report campaign register --assignment a.csv ... # a campaign sent with another tool
    rfm-report campaign list                            # the registry and its states

Exit status: 0 when every month succeeded, 1 when a notebook (or month) failed, 2 for bad
arguments. A backfill continues past a failed month (so one bad month does not block the
others) unless ``--stop-on-failure``; it still exits 1 if any month failed.

This module only reads options; :mod:`rfm_helpers.params` checks them and
:mod:`rfm_helpers.report.run` does the work.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from ..params import parse_month, parse_params
from . import campaign_commands
from .execute import NotebookFailed
from .i18n import available_languages
from .index import build_index
from .run import run_month, run_range


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="rfm-report", description="Render the monthly RFM reports (HTML).")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every notebook for one month or a range of months")
    when = run.add_mutually_exclusive_group(required=True)
    when.add_argument("--month", help="YYYY-MM: render this month")
    when.add_argument("--from", dest="start", metavar="YYYY-MM", help="first month of a backfill (with --to)")
    run.add_argument("--to", dest="end", metavar="YYYY-MM", help="last month of a backfill (inclusive)")
    run.add_argument("--analysis-date", default=None,
                     help="analysis date (YYYY-MM-DD) for --month; default: last day of the month")
    run.add_argument("--source-config", default="", help="YAML data-source file; default: bundled CDNOW sample")
    run.add_argument("--window-days", type=int, default=0,
                     help="frequency/monetary over the last N days; 0 = whole history (default)")
    run.add_argument("--language", choices=available_languages(), default="en",
                     help="language of texts, numbers and segment names")
    run.add_argument("--currency", default=None, metavar="ISO",
                     help="currency of the amounts (ISO 4217 code: USD, RUB, EUR...); default: the source "
                          "config's 'currency:', else USD")
    run.add_argument("--reports-dir", default="reports", help="where reports go (default: reports)")
    run.add_argument("--notebooks-dir", default=None, help="folder of NN_*.ipynb notebooks (default: ./notebooks)")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="extra notebook parameter (repeatable); only notebooks declaring KEY receive it")
    run.add_argument("--stop-on-failure", action="store_true", help="backfill: stop at the first failed month")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    idx = sub.add_parser("index", help="rebuild reports/index.html from the published months")
    idx.add_argument("--reports-dir", default="reports")
    init = sub.add_parser("init", help="look at a new export and write a commented source spec draft (YAML)")
    init.add_argument("file", help="the export: CSV/TXT, Excel (.xlsx/.xls/.xlsb/.ods), HTML table, Parquet")
    init.add_argument("-o", "--output", default=None, help="the YAML to write (default: <file>.yaml beside it)")
    init.add_argument("--sheet", default=None, help="the sheet to read when a workbook has several with data")
    init.add_argument("--force", action="store_true", help="overwrite an existing YAML")
    campaign_commands.add_parser(sub)
    return ap


def _init(args: argparse.Namespace) -> int:
    """``rfm-report init FILE``: write the draft, then say what was decided and what is left."""
    from ..load.init import write_draft
    from ..load.result import DataValidationError

    try:
        target, draft = write_draft(args.file, args.output, force=args.force, sheet=args.sheet)
    except (DataValidationError, FileExistsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {target}")
    read = ", ".join(f"{k} {v!r}" for k, v in draft.read.items())
    if read:
        print(f"  read as: {read}")
    for role, column in draft.columns.items():
        print(f"  {role:<12} <- {column!r}")
    for block, values in draft.options.items():
        for key, value in values.items():
            print(f"  {block}.{key}: {value!r}")
    if draft.currency:
        print(f"  currency: {draft.currency}")
    if draft.result is not None:
        r = draft.result
        print(f"  loads: {r.rows_in} rows read, {r.rows_kept} kept, {r.rows_in - r.rows_kept} set aside")
    if draft.undecided:
        print(f"left to decide ({len(draft.undecided)}), marked TO DECIDE in {target.name}:")
        for option, why in draft.undecided:
            print(f"  {option}: {' '.join(why.split())}")
        print(f"then check it: rfm-report init is done; run notebook 01 with source_config = {str(target)!r}")
    else:
        print(f"next: rfm-report run --month YYYY-MM --source-config {target}   (or source_config in rfm_settings.yaml)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rfm-report`` console script; returns the exit status."""
    ap = _parser()
    args = ap.parse_args(argv)
    if args.command == "index":
        print(build_index(args.reports_dir))
        return 0
    if args.command == "init":
        return _init(args)
    if args.command == "campaign":
        return campaign_commands.run(args)
    try:
        extras = parse_params(args.param)
        if args.month:
            parse_month(args.month)
            if args.end:
                ap.error("--to goes with --from, not with --month")
        else:
            if not args.end:
                ap.error("--from needs --to")
            if args.analysis_date:
                ap.error("--analysis-date only goes with --month (a range uses each month's end)")
            parse_month(args.start)
            parse_month(args.end)
    except ValueError as exc:
        ap.error(str(exc))
    common = dict(reports_dir=args.reports_dir, source_config=args.source_config, window_days=args.window_days,
                  language=args.language, currency=args.currency, notebooks_dir=args.notebooks_dir,
                  extra_params=extras, progress=not args.no_progress)
    t0 = time.perf_counter()
    if args.month:
        try:
            out = run_month(args.month, analysis_date=args.analysis_date, **common)
        except NotebookFailed as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            print("The previous report (if any) was left untouched.", file=sys.stderr)
            return 1
        except (ValueError, FileNotFoundError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1 if isinstance(exc, RuntimeError) else 2
        print(f"report: {out / 'index.html'} ({time.perf_counter() - t0:.1f} s)")
        return 0
    try:
        outcome = run_range(args.start, args.end, stop_on_failure=args.stop_on_failure, **common)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = {m: r for m, r in outcome.items() if isinstance(r, BaseException)}
    ok = len(outcome) - len(failed)
    print(f"{ok} month(s) rendered, {len(failed)} failed ({time.perf_counter() - t0:.1f} s); "
          f"index: {args.reports_dir}/index.html")
    for m, exc in failed.items():
        print(f"FAILED {exc}" if isinstance(exc, NotebookFailed) else f"FAILED {m}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
