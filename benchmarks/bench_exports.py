"""Export files at scale: the engine writer (rfm_helpers.act) against the writers it replaced.

Writes the per-customer files of one run (mailing lists per segment, the call list, the scores;
CSV only, or with the workbooks) for N synthetic customers, each method in a fresh subprocess,
and prints wall and CPU seconds, workbook rows per second and the peak resident memory of the
export step (sampled every 10 ms, above the resident size once the segmented table is built)
(ratios against the first method in the same run, since the machine is shared).

    .venv/bin/python benchmarks/bench_exports.py --customers 478000
    .venv/bin/python benchmarks/bench_exports.py --customers 478000 --xlsx --methods act-openpyxl,act
    .venv/bin/python benchmarks/bench_exports.py --customers 4790000 --xlsx --methods act

Methods: ``old`` is ``rfm_helpers/exports.py`` as of commit e0be130; ``act-openpyxl`` is the
engine writer with the workbook written by openpyxl's write-only mode, as of commit 55156c8
(``rfm_helpers/act/workbook.py`` then); ``act`` is the current code. Old code is read with
``git show``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "e0be130"
OPENPYXL_WORKBOOK = "55156c8"


def make_table(n: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    from rfm_helpers.rfm import score_quantiles
    from rfm_helpers.segments import assign_segments

    rng = np.random.default_rng(seed)
    freq = rng.geometric(0.4, n)
    tenure = rng.integers(0, 700, n)
    rec = np.minimum(tenure, rng.integers(0, 700, n))
    df = pd.DataFrame({"customer_id": pd.array([f"{i:08d}" for i in range(n)], dtype="string"),
                       "recency_days": rec, "frequency": freq,
                       "monetary": np.round(freq * rng.gamma(2.0, 25.0, n), 2), "tenure_days": tenure})
    as_of = pd.Timestamp("2024-12-31")
    df["first_purchase"] = as_of - pd.to_timedelta(df["tenure_days"], unit="D")
    df["last_purchase"] = as_of - pd.to_timedelta(df["recency_days"], unit="D")
    scored = score_quantiles(df)
    scored["rfm_cell"] = (scored["r_score"].astype(str) + scored["f_score"].astype(str) + scored["m_score"].astype(str))
    scored["rfm_score"] = scored["r_score"] + scored["f_score"] + scored["m_score"]
    return assign_segments(scored, "classic", "en")


def _old_module(commit: str, path: str, name: str, out: str, package: str | None = None):
    import importlib.util

    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"], check=True,
                         capture_output=True, text=True).stdout
    file = Path(out) / f"_{name.rsplit('.', 1)[-1]}.py"
    file.write_text(src)
    spec = importlib.util.spec_from_file_location(name, file, submodule_search_locations=None)
    mod = importlib.util.module_from_spec(spec)
    if package:
        mod.__package__ = package
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    file.unlink()
    return mod


def child(method: str, n: int, xlsx: bool, out: str) -> dict:
    table = make_table(n)
    import gc

    gc.collect()
    import threading

    def rss_mb() -> float:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS")) / 1024

    before, peak_box, done = rss_mb(), [0.0], threading.Event()

    def sample() -> None:  # the peak of *this* step (ru_maxrss would include building the table)
        while not done.is_set():
            peak_box[0] = max(peak_box[0], rss_mb())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    formats = ("csv", "xlsx") if xlsx else ("csv",)
    t, cpu = time.perf_counter(), time.process_time()
    if method in ("act", "act-openpyxl"):
        from rfm_helpers import act

        if method == "act-openpyxl":
            import rfm_helpers.act.writer as writer

            old = _old_module(OPENPYXL_WORKBOOK, "rfm_helpers/act/workbook.py", "rfm_helpers.act._old_workbook",
                              out, package="rfm_helpers.act")
            writer.write_workbook = old.write_workbook

        ex = act.ExportWriter(out, "en")
        act.write_scores(ex, table)
        act.write_mailing_lists(ex, table, formats=formats)
        act.write_call_list(ex, table, max_rows=500, formats=formats)
    else:
        old = _old_module(BASELINE, "rfm_helpers/exports.py", "rfm_helpers._old_exports", out)
        table.to_csv(Path(out) / "rfm_scores.csv", index=False, encoding="utf-8-sig", date_format="%Y-%m-%d")
        old.write_mailing_lists(table, out, "en", formats=formats)
        old.write_call_list(table, out, "en", max_rows=500, **({} if xlsx else {"xlsx_max_rows": 0}))
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    done.set()
    sampler.join()
    peak = max(peak_box[0], rss_mb())
    books = list(Path(out).glob("*.xlsx"))
    rows = 0
    if books:
        from python_calamine import CalamineWorkbook

        for b in books:  # data rows of every sheet but the About sheet (read back: what was written)
            wb = CalamineWorkbook.from_path(str(b))
            rows += sum(max(len(wb.get_sheet_by_name(s).to_python()) - 1, 0) for s in wb.sheet_names[1:])
    return {"method": method, "seconds": round(seconds, 2), "cpu": round(cpu, 2), "peak_mb": round(peak),
            "before_mb": round(before), "xlsx_rows": rows, "xlsx_mb": round(sum(b.stat().st_size for b in books) / 1e6, 1),
            "files": len(list(Path(out).glob("*.csv"))) + len(books)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=478_000)
    ap.add_argument("--xlsx", action="store_true", help="also write the workbooks (capped per sheet)")
    ap.add_argument("--methods", default="old,act", help="comma-separated: old, act-openpyxl, act")
    ap.add_argument("--child", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.customers, args.xlsx, args.out)))
        return 0
    rows = []
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, __file__, "--child", method, "--customers", str(args.customers), "--out", out]
            if args.xlsx:
                cmd.append("--xlsx")
            res = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    base = rows[0]
    print(f"customers: {args.customers:,}  workbooks: {'yes' if args.xlsx else 'no'}")
    print(f"| writer | seconds | CPU s | x {base['method']} | workbook rows | xlsx MB | peak RSS MB | MB above the table | files |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['seconds']} | {r['cpu']} | {r['seconds'] / base['seconds']:.2f} | {r['xlsx_rows']:,} | "
              f"{r['xlsx_mb']} | {r['peak_mb']} | {r['peak_mb'] - r['before_mb']} | {r['files']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
