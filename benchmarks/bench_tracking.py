"""Notebook 05's engine work alone: ``tracking.track_months`` (fingerprints, the multi-month
snapshot pass, aggregates) and every table of the page plus the flow customers, on a
transactions Parquet file read in place (the run cache's columns: customer_id, order_date,
amount), in an engine bounded like a notebook's (``--memory``, default 3GB, spilling to
``<out>/spill``). Cold: all months are built (no stored snapshots, no run table).

    .venv/bin/python benchmarks/bench_tracking.py /tmp/rfm_bench/tx_1000000.parquet --out /tmp/me/trk

Prints wall and process CPU per step and the sampled peak resident memory of the process.
``--keep-months N`` keeps only the last N snapshot files on disk (the others are emptied
after their size is recorded; the aggregates then cover those N months) for data whose
snapshots do not fit the free disk (1e8 transactions: 6.8 GB for 12 months).
"""
from __future__ import annotations

import argparse
import functools
import shutil
import threading
import time
from pathlib import Path

import psutil


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("parquet")
    ap.add_argument("--out", required=True, help="scratch folder (removed at the end)")
    ap.add_argument("--as-of", default="2024-12-31")
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--memory", default="3GB")
    ap.add_argument("--keep-months", type=int, default=0)
    args = ap.parse_args()

    from rfm_helpers import tracking
    from rfm_helpers.engine import DuckDBEngine
    from rfm_helpers.tracking import monthly

    peak = [0]

    def sample() -> None:
        me = psutil.Process()
        while True:
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    start = time.perf_counter()

    def timed(name, f):
        @functools.wraps(f)
        def run(*a, **k):
            t, c = time.perf_counter(), time.process_time()
            try:
                return f(*a, **k)
            finally:
                print(f"  [{time.perf_counter() - start:7.1f}s] {name}: wall {time.perf_counter() - t:.2f}s, "
                      f"cpu {time.process_time() - c:.2f}s, peak {peak[0] / 2**20:.0f} MB", flush=True)
        return run

    for name in ["_fingerprints", "_write_pass", "_transition_counts", "_pair_query"]:
        setattr(monthly, name, timed(name, getattr(monthly, name)))
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    (out / "spill").mkdir(parents=True)
    months = tracking.history_months(args.as_of, args.months)
    sizes: dict[str, int] = {}
    write = monthly._write_snapshot

    def write_and_measure(engine, select, path, settings):
        write(engine, select, path, settings)
        sizes[settings["month"]] = path.stat().st_size
        if args.keep_months and settings["month"] not in months[-args.keep_months:]:
            path.write_bytes(b"")

    monthly._write_snapshot = timed("_write_snapshot", write_and_measure)
    if args.keep_months:
        aggregate = monthly.MonthlyTracking.from_files.__func__
        monthly.MonthlyTracking.from_files = classmethod(
            lambda cls, engine, paths, status: aggregate(
                cls, engine, {m: p for m, p in paths.items() if m in months[-args.keep_months:]}, status))
    try:
        with DuckDBEngine(memory_limit=args.memory) as eng:
            eng.con.execute(f"SET temp_directory = '{(out / 'spill').as_posix()}'")
            eng.con.execute(f"CREATE VIEW bench_tx AS SELECT customer_id, order_date, amount "
                            f"FROM read_parquet('{Path(args.parquet).as_posix()}')")
            t, c = time.perf_counter(), time.process_time()
            tr = tracking.track_months(eng, "bench_tx", months, out / "reports", current_as_of=args.as_of)
            print(f"track_months: wall {time.perf_counter() - t:.1f}s, cpu {time.process_time() - c:.1f}s", flush=True)
            t2 = time.perf_counter()
            order = tr.value_order()
            tr.month_findings(order), tr.headline(order), tr.segment_figures(order, "classic")
            tr.segment_history(), tr.movement_history(order), tr.churn_flows()
            if len(tr.months) >= 2:
                prev, curr = tr.months[-2], tr.months[-1]
                tr.transition_matrix(prev, curr, order), tr.key_flows(prev, curr, order, top=8)
                movers = tr.flow_customers(prev, curr, order).count_rows()
            else:
                movers = 0
            print(f"tables and flow customers: wall {time.perf_counter() - t2:.1f}s ({movers} movers)")
            print(f"total wall {time.perf_counter() - t:.1f}s; peak resident memory {peak[0] / 2**20:.0f} MB; "
                  f"snapshot files {sum(sizes.values()) / 1e9:.2f} GB for {len(sizes)} months")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
