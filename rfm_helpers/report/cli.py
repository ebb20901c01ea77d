"""``rfm-report``: render the monthly RFM reports from the command line.

Examples::

    rfm-report run --month 1998-06
    rfm-report run --month 1998-06 --source-config configs/shop.yaml --language ru --currency RUB
    rfm-report run --from 1997-03 --to 1998-06          # backfill, then rebuild reports/index.html
    rfm-report index                                      # only rebuild reports/index.html

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
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rfm-report`` console script; returns the exit status."""
    ap = _parser()
    args = ap.parse_args(argv)
    if args.command == "index":
        print(build_index(args.reports_dir))
        return 0
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
