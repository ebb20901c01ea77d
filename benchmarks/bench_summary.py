"""What the executive summary of the month page costs a run, against references measured in
the same process and run (timings on a shared machine are noisy; the ratios are the point).

* ``month_figures``: the one aggregate query of the summary (notebook 02), against
  ``compute_scored_rfm`` on the same transactions (the step every notebook already runs).
* ``segment_figures``: the segment figures and moves from two monthly snapshots (notebook 05),
  against ``tracking.key_flows`` on the same pair (what notebook 05 already computes).
* ``month page``: ``month_index_html`` of a summary with the executive figures (chart drawn)
  against the same summary without them (the old tiles).

    .venv/bin/python benchmarks/bench_summary.py                 # CDNOW (69,659 rows)
    .venv/bin/python benchmarks/bench_summary.py --rows 1e6      # + synthetic 1e6 rows (bench_rfm's data)
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))


def best(fn, repeat: int = 3) -> float:
    """Median wall time of ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(tx: pd.DataFrame, as_of: dt.date, label: str) -> list[tuple[str, float, float]]:
    from rfm_helpers import tracking
    from rfm_helpers.report import executive
    from rfm_helpers.rfm import compute_scored_rfm
    from rfm_helpers.segments import assign_segments

    prev_end = as_of.replace(day=1) - dt.timedelta(days=1)
    snaps = {}
    for day in (prev_end, as_of):
        seg = assign_segments(compute_scored_rfm(tx, day))
        snaps[day.strftime("%Y-%m")] = tracking.snapshot_from_segmented(seg, tx, day, day)
    order = tracking.value_order(snaps.values())
    a, b = snaps.values()
    ref_rfm = best(lambda: compute_scored_rfm(tx, as_of))
    t_month = best(lambda: executive.month_figures(tx, as_of))
    ref_flows = best(lambda: tracking.key_flows(a, b, order))
    t_seg = best(lambda: executive.segment_figures(snaps, order, "classic"))
    print(f"{label}: {len(tx):,} rows")
    return [("month_figures / compute_scored_rfm", t_month, ref_rfm),
            ("segment_figures / key_flows", t_seg, ref_flows)]


def page(tx: pd.DataFrame, as_of: dt.date) -> list[tuple[str, float, float]]:
    from rfm_helpers import tracking
    from rfm_helpers.report import executive, render
    from rfm_helpers.rfm import compute_scored_rfm
    from rfm_helpers.segments import assign_segments

    prev_end = as_of.replace(day=1) - dt.timedelta(days=1)
    snaps = {d.strftime("%Y-%m"): tracking.snapshot_from_segmented(assign_segments(compute_scored_rfm(tx, d)), tx, d, d)
             for d in (prev_end, as_of)}
    order = tracking.value_order(snaps.values())
    run = {"month": as_of.strftime("%Y-%m"), "language": "ru", "currency": "RUB", "analysis_date": as_of.isoformat(),
           "notebooks": []}
    full = {"run": run, "executive": {"month": {"value": executive.month_figures(tx, as_of)},
                                      "segments": {"value": executive.segment_figures(snaps, order, "classic")}},
            "headline": {"customers": {"value": 1, "label": "Клиентов", "fmt": "int"}}}
    old = {"run": run, "headline": full["headline"]}
    return [("month page with summary / without", best(lambda: render.month_index_html(full)),
             best(lambda: render.month_index_html(old)))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="", help="also a synthetic data set of this many rows (e.g. 1e6)")
    args = ap.parse_args(argv)
    from rfm_helpers.pipeline import prepare

    p = prepare(analysis_date="1998-06-30")
    rows = measure(p.transactions, p.as_of, "CDNOW") + page(p.transactions, p.as_of)
    if args.rows:
        import bench_rfm

        n = int(float(args.rows))
        path = bench_rfm.bench_dir() / f"tx_{n}.parquet"
        if not path.exists():
            bench_rfm.generate(n, path)
        tx = pd.read_parquet(path)
        tx["order_date"] = pd.to_datetime(tx["order_date"])
        rows += measure(tx, dt.date(2024, 12, 31), f"synthetic {args.rows}")
    print(f"{'what':40s} {'seconds':>9s} {'reference':>10s} {'ratio':>7s}")
    for name, t, ref in rows:
        ratio = f"{t / ref:7.2f}" if ref >= 0.005 else "      –"  # the old page takes ~0 s: no ratio
        print(f"{name:40s} {t:9.3f} {ref:10.3f} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
