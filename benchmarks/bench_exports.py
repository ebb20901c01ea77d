"""Export files at scale: the engine writer (rfm_helpers.act) against the writer it replaced.

Writes the per-customer files of one run (mailing lists per segment, the call list, the scores;
CSV only, or with the workbooks) for N synthetic customers, each method in a fresh subprocess,
and prints wall seconds and the peak resident memory of the export step (sampled every 10 ms,
above the resident size once the segmented table is built) (ratios against the old writer in the same run,
since the machine is shared).

    .venv/bin/python benchmarks/bench_exports.py --customers 478000
    .venv/bin/python benchmarks/bench_exports.py --customers 100000 --xlsx

The old writer is ``rfm_helpers/exports.py`` as of commit e0be130 (read with ``git show``).
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
    t = time.perf_counter()
    if method == "act":
        from rfm_helpers import act

        ex = act.ExportWriter(out, "en")
        act.write_scores(ex, table)
        act.write_mailing_lists(ex, table, formats=formats)
        act.write_call_list(ex, table, max_rows=500, formats=formats)
    else:
        import importlib.util

        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{BASELINE}:rfm_helpers/exports.py"],
                             check=True, capture_output=True, text=True).stdout
        path = Path(out) / "_old_exports.py"
        path.write_text(src)
        spec = importlib.util.spec_from_file_location("rfm_helpers._old_exports", path)
        old = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = old
        spec.loader.exec_module(old)
        table.to_csv(Path(out) / "rfm_scores.csv", index=False, encoding="utf-8-sig", date_format="%Y-%m-%d")
        old.write_mailing_lists(table, out, "en", formats=formats)
        old.write_call_list(table, out, "en", max_rows=500, **({} if xlsx else {"xlsx_max_rows": 0}))
    seconds = time.perf_counter() - t
    done.set()
    sampler.join()
    peak = max(peak_box[0], rss_mb())
    return {"method": method, "seconds": round(seconds, 2), "peak_mb": round(peak), "before_mb": round(before),
            "files": len(list(Path(out).glob("*.csv"))) + len(list(Path(out).glob("*.xlsx")))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=478_000)
    ap.add_argument("--xlsx", action="store_true", help="also write the workbooks (capped per sheet)")
    ap.add_argument("--child", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.customers, args.xlsx, args.out)))
        return 0
    rows = []
    for method in ("old", "act"):
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, __file__, "--child", method, "--customers", str(args.customers), "--out", out]
            if args.xlsx:
                cmd.append("--xlsx")
            res = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    base = rows[0]
    print(f"customers: {args.customers:,}  workbooks: {'yes' if args.xlsx else 'no'}")
    print("| writer | seconds | x old | peak RSS MB | MB above the table | files |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['seconds']} | {r['seconds'] / base['seconds']:.2f} | {r['peak_mb']} | "
              f"{r['peak_mb'] - r['before_mb']} | {r['files']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
