"""Benchmark: transactions -> per-customer RFM (+ scores, + segments) at 1e5..1e7 rows.

Compared, in one run, on the same synthetic Parquet file:

* ``duckdb_handwritten``: one plain DuckDB query written by hand (RFM + the same quantile
  scores), result fetched into pandas. This is the near-limit reference: ratios are
  against it.
* ``rfm_helpers_scored``: :func:`rfm_helpers.rfm.compute_scored_rfm` on the file path.
* ``rfm_helpers_two_step``: ``score_quantiles(compute_rfm(path))`` (pandas in between).
* ``rfm_helpers_segments``: scored RFM + :func:`rfm_helpers.segments.assign_segments`,
  i.e. transactions to scored segments.
* ``rfm_helpers_segments_sql``: :func:`rfm_helpers.segments.compute_segmented_rfm`, the
  same with segments assigned by the engine (the map compiled to SQL).
* ``lifetimes``: ``pd.read_parquet`` + ``summary_data_from_transaction_data`` (no scores).
* ``pymc_marketing``: ``pd.read_parquet`` + ``pymc_marketing.clv.utils.rfm_summary``
  (optional: imported only inside its measurement).

Every measurement runs in a fresh subprocess; peak memory is that process's peak resident
set size (``resource.getrusage(...).ru_maxrss``, which also sees DuckDB's native memory,
unlike ``tracemalloc``), reported together with the resident size right after imports.

Usage::

    .venv/bin/python benchmarks/bench_rfm.py                  # 1e5, 1e6, 1e7
    .venv/bin/python benchmarks/bench_rfm.py --sizes 1e5,1e6
    .venv/bin/python benchmarks/bench_rfm.py --sizes 1e6 --report   # + full monthly report
    .venv/bin/python benchmarks/bench_rfm.py --sizes 1e5 --methods rfm_helpers_scored \
        --report --report-size 1e6,1e7,1e8                           # issue 12's table

``--report`` runs the whole monthly report cold (a fresh reports folder) at each
``--report-size`` and prints the seconds per notebook beside the baseline of issue 12, the
peak memory (sampled sum over the runner, its kernels and their engines - of resident sets,
and on Linux of proportional sets, which count a page the forked kernels share once; the
largest kernel; the runner) and the core computation (transactions -> scored RFM) measured
in the same run.
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

AS_OF = "2024-12-31"
START = "2023-01-01"
DAYS = 731
METHODS = ["duckdb_handwritten", "rfm_helpers_scored", "rfm_helpers_two_step",
           "rfm_helpers_segments", "rfm_helpers_segments_sql", "lifetimes", "pymc_marketing"]
SLOW = {"lifetimes", "pymc_marketing"}
REFERENCE = "duckdb_handwritten"

HANDWRITTEN_SQL = """
WITH c AS (
    SELECT customer_id,
           DATE '{as_of}' - MAX(CAST(order_date AS DATE)) AS recency_days,
           COUNT(DISTINCT CAST(order_date AS DATE)) AS frequency,
           SUM(amount) AS monetary,
           MIN(CAST(order_date AS DATE)) AS first_purchase,
           MAX(CAST(order_date AS DATE)) AS last_purchase,
           DATE '{as_of}' - MIN(CAST(order_date AS DATE)) AS tenure_days
    FROM read_parquet('{path}')
    WHERE CAST(order_date AS DATE) <= DATE '{as_of}'
    GROUP BY customer_id
)
SELECT *,
       LEAST(5, 1 + FLOOR(5 * (RANK() OVER (ORDER BY recency_days DESC) - 1) / COUNT(*) OVER ())) AS r_score,
       LEAST(5, 1 + FLOOR(5 * (RANK() OVER (ORDER BY frequency) - 1) / COUNT(*) OVER ())) AS f_score,
       LEAST(5, 1 + FLOOR(5 * (RANK() OVER (ORDER BY monetary) - 1) / COUNT(*) OVER ())) AS m_score
FROM c
"""


def bench_dir() -> Path:
    """Cache folder for generated data (outside the repository unless ``RFM_BENCH_DIR``)."""
    d = Path(os.environ.get("RFM_BENCH_DIR") or Path(tempfile.gettempdir()) / "rfm_bench")
    d.mkdir(parents=True, exist_ok=True)
    return d


def parse_sizes(text: str) -> list[int]:
    """``"1e5,1e6"`` -> ``[100000, 1000000]``."""
    return [int(float(x)) for x in text.split(",") if x.strip()]


def generate(n: int, path: Path, seed: int = 7, start: str = START, days: int = DAYS) -> Path:
    """Write ``n`` synthetic transactions to Parquet (once; reused when present).

    Customers: ``n`` candidate ids; a row's customer is ``floor(C * u ** 3)`` for
    uniform ``u``, so low ids buy very often and most ids buy once (about 60% of
    the customers who appear have a single order, like CDNOW). Dates uniform over
    ``days`` days from ``start`` (two years from 2023-01-01 by default), naive timestamps
    in microseconds; amounts log-normal (median about 20) rounded to cents.
    """
    if path.exists():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_customers = max(10, n)
    schema = pa.schema([("customer_id", pa.string()), ("order_date", pa.timestamp("us")),
                        ("amount", pa.float64())])
    tmp = path.with_suffix(".tmp")
    start = np.datetime64(start, "us")
    with pq.ParquetWriter(tmp, schema) as w:
        for lo in range(0, n, 1_000_000):
            k = min(1_000_000, n - lo)
            ids = np.floor(n_customers * rng.random(k) ** 3).astype(np.int64)
            cid = pc.utf8_lpad(pc.cast(pa.array(ids), pa.string()), 9, "0")
            day = rng.integers(0, days, k).astype("timedelta64[D]").astype("timedelta64[us]")
            secs = rng.integers(0, 86400, k).astype("timedelta64[s]").astype("timedelta64[us]")
            amount = np.round(rng.lognormal(3.0, 0.8, k), 2)
            w.write_table(pa.table({"customer_id": cid, "order_date": pa.array(start + day + secs),
                                    "amount": amount}, schema=schema))
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------------ one measurement
def _measure(method: str, path: str) -> dict:
    """Run one method in this (fresh) process; returns seconds, rows and memory."""
    import pandas as pd  # noqa: F401  (baseline imports for every method)
    import duckdb

    if method == "lifetimes":
        from lifetimes.utils import summary_data_from_transaction_data
    elif method == "pymc_marketing":
        from pymc_marketing.clv.utils import rfm_summary
    elif method.startswith("rfm_helpers"):
        from rfm_helpers.rfm import compute_rfm, compute_scored_rfm, score_quantiles
        from rfm_helpers.segments import assign_segments, compute_segmented_rfm
    base_mb = _rss_now_mb()
    t0 = time.perf_counter()
    if method == "duckdb_handwritten":
        con = duckdb.connect()
        out = con.sql(HANDWRITTEN_SQL.format(as_of=AS_OF, path=path)).df()
    elif method == "rfm_helpers_scored":
        out = compute_scored_rfm(path, AS_OF)
    elif method == "rfm_helpers_two_step":
        out = score_quantiles(compute_rfm(path, AS_OF))
    elif method == "rfm_helpers_segments":
        out = assign_segments(compute_scored_rfm(path, AS_OF))
    elif method == "rfm_helpers_segments_sql":
        out = compute_segmented_rfm(path, AS_OF)
    elif method == "lifetimes":
        tx = pd.read_parquet(path)
        out = summary_data_from_transaction_data(tx, "customer_id", "order_date", "amount",
                                                 observation_period_end=AS_OF, freq="D")
    elif method == "pymc_marketing":
        tx = pd.read_parquet(path)
        out = rfm_summary(tx, "customer_id", "order_date", "amount", observation_period_end=AS_OF)
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "rows_out": int(len(out)), "peak_mb": peak_kb / 1024, "base_mb": base_mb}


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_one(method: str, path: Path, timeout: float) -> dict:
    """Measure ``method`` in a subprocess; ``{"error": ...}`` when it fails or times out."""
    cmd = [sys.executable, __file__, "--_measure", method, str(path)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout > {timeout:.0f} s"}
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": last[:90]}
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- report run
#: The monthly report before issue 12 (seconds per notebook, whole report, peak memory), as the
#: issue measured it on the 2-core, 24 GB machine; printed beside every new measurement.
BASELINE = {
    1_000_000: {"01_load_and_validate": "5-11", "02_rfm": "7-13", "03_segmentation": "16-30",
                "04_campaign_ab_test": "12-18", "05_segment_migration": "10-34", "whole report": "51-108",
                "peak": "-"},
    10_000_000: {"01_load_and_validate": "56", "02_rfm": "54", "03_segmentation": "145",
                 "04_campaign_ab_test": "251", "05_segment_migration": "281", "whole report": "789",
                 "peak": "14.6 GB"},
}
#: What issue 12 asks for at each size.
TARGETS = {1_000_000: "whole report < 25 s", 10_000_000: "whole report < 120 s, peak < 4 GB",
           100_000_000: "completes, peak < 8 GB"}


def _pss_bytes(pid: int) -> int:
    """Proportional set size of a process: its private pages plus its share of pages shared
    with others (the kernels forked from the fork server share the libraries they imported)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
    except OSError:
        return 0


def _tree_peak_sampler(pid: int, stop, out: dict, interval: float = 0.2) -> None:
    """Largest sum of resident memory of ``pid`` and all its descendants (runner, kernels,
    DuckDB/Spark inside them), sampled every ``interval`` seconds: the sum of their resident
    sets (``peak_tree_mb``; a page shared by several processes counts in each) and of their
    proportional sets (``peak_tree_pss_mb``, Linux: a shared page counts once in all)."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        total = pss = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
            pss += _pss_bytes(proc.pid)
        out["peak_tree_mb"] = max(out.get("peak_tree_mb", 0), total / 2**20)
        if pss:
            out["peak_tree_pss_mb"] = max(out.get("peak_tree_pss_mb", 0), pss / 2**20)
        stop.wait(interval)


def bench_report(n: int, root: Path, timeout: float) -> dict:
    """Write an ``n``-row Parquet + source YAML and time the full monthly report (a cold first run:
    a new reports folder, so the month's snapshots are built too)."""
    import shutil
    import threading

    import yaml

    data = generate(n, root / f"tx_{n}.parquet")
    cfg = root / f"source_{n}.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": f"synthetic {n:,} transactions", "format": "parquet", "path": str(data),
        "columns": {"customer_id": "customer_id", "order_date": "order_date", "amount": "amount"},
    }), encoding="utf-8")
    reports = root / f"reports_{n}"
    shutil.rmtree(reports, ignore_errors=True)  # cold: no stored snapshots, no load cache
    # peak memory: the largest kernel (RUSAGE_CHILDREN: the biggest finished child process), the
    # runner itself, and the sampled peak of the whole process tree at any moment
    code = ("import time, json, sys, resource; from rfm_helpers.report.run import run_month; t=time.perf_counter(); "
            f"run_month('2024-12', reports_dir={str(reports)!r}, source_config={str(cfg)!r}, progress=False); "
            "print(json.dumps({'seconds': time.perf_counter()-t, "
            "'peak_kernel_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "
            "'peak_runner_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, sampled = threading.Event(), {}
    sampler = threading.Thread(target=_tree_peak_sampler, args=(proc.pid, stop, sampled), daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": f"timeout > {timeout:.0f} s", **sampled}
    finally:
        stop.set()
        sampler.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": (stderr.strip().splitlines() or ["failed"])[-1][:200], "wall": wall, **sampled}
    out = json.loads(stdout.strip().splitlines()[-1])
    out["wall"] = wall
    out.update(sampled)
    out["per_notebook"] = _notebook_times(reports / "2024-12")
    return out


def _report_table(n: int, rep: dict, core: dict | None) -> str:
    """The run's per-notebook seconds beside the baseline of issue 12."""
    base = BASELINE.get(n, {})
    lines = [f"full monthly report on {n:,} transactions (cold first run; target: {TARGETS.get(n, '-')})",
             f"  {'notebook':<24} {'now, s':>9} {'baseline, s':>12}"]
    for k, v in rep.get("per_notebook", {}).items():
        lines.append(f"  {k:<24} {v:>9.1f} {base.get(k, '-'):>12}")
    if "seconds" in rep:
        lines.append(f"  {'whole report':<24} {rep['seconds']:>9.1f} {base.get('whole report', '-'):>12}")
        pss = f" ({rep['peak_tree_pss_mb']:,.0f} MB proportional)" if rep.get("peak_tree_pss_mb") else ""
        lines.append(f"  peak memory: whole process tree {rep.get('peak_tree_mb', 0):,.0f} MB{pss} (sampled), largest "
                     f"kernel {rep['peak_kernel_mb']:,.0f} MB, runner {rep['peak_runner_mb']:,.0f} MB; "
                     f"baseline {base.get('peak', '-')}")
    else:
        lines.append(f"  failed: {rep.get('error')} (peak so far {rep.get('peak_tree_mb', 0):,.0f} MB)")
    if core and "seconds" in core:
        lines.append(f"  core computation in the same run (transactions -> scored RFM, rfm_helpers_scored): "
                     f"{core['seconds']:.1f} s, peak {core['peak_mb']:,.0f} MB"
                     + (f"; the report costs {rep['seconds'] / core['seconds']:.1f} x the core" if "seconds" in rep else ""))
    return "\n".join(lines)


def _notebook_times(month_dir: Path) -> dict:
    """Per-notebook execution time from papermill metadata of the executed notebooks."""
    import nbformat

    times = {}
    for nb_path in sorted(month_dir.rglob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        dur = nb.metadata.get("papermill", {}).get("duration")
        if dur is not None:
            times[nb_path.stem] = round(float(dur), 1)
    return times


def main(argv=None) -> int:
    """Command line entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1e5,1e6,1e7", help="comma-separated row counts")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--max-seconds", type=float, default=300,
                    help="skip a slow competitor when its estimate exceeds this (default 300)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure each method N times in fresh processes and keep the fastest")
    ap.add_argument("--report", action="store_true", help="also time the full monthly report (sizes: --report-size)")
    ap.add_argument("--report-size", default="1e6", help="comma-separated sizes of the report runs, e.g. 1e6,1e7,1e8")
    ap.add_argument("--report-timeout", type=float, default=3600, help="seconds per report run (default 3600)")
    ap.add_argument("--_measure", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._measure:
        print(json.dumps(_measure(*args._measure)))
        return 0

    root = bench_dir()
    methods = [m for m in args.methods.split(",") if m]
    sizes = parse_sizes(args.sizes)
    print(f"data cache: {root}   cores: {os.cpu_count()}   python: {sys.version.split()[0]}")
    rows = []
    per_row_cost: dict[str, float] = {}  # seconds per input row at the last size measured
    for n in sizes:
        t = time.perf_counter()
        path = generate(n, root / f"tx_{n}.parquet")
        print(f"{n:>12,} rows: data ready ({time.perf_counter() - t:.1f} s, "
              f"{path.stat().st_size / 2**20:.0f} MB parquet)", flush=True)
        results = {}
        for m in methods:
            if m in SLOW and m in per_row_cost:
                est = per_row_cost[m] * n
                if est > args.max_seconds:
                    results[m] = {"skipped": f"skipped (est. > {est:.0f} s)"}
                    continue
            r = run_one(m, path, timeout=max(args.max_seconds * 2, 120))
            for _ in range(args.repeat - 1 if "seconds" in r else 0):
                again = run_one(m, path, timeout=max(args.max_seconds * 2, 120))
                if again.get("seconds", float("inf")) < r["seconds"]:
                    r = again  # best of N: the machine may be shared
            results[m] = r
            if "seconds" in r:
                per_row_cost[m] = r["seconds"] / n
            print(f"    {m:<22} {_cell(r)}", flush=True)
        ref = results.get(REFERENCE, {})
        for m in methods:
            r = results[m]
            rows.append((n, m, r, ref))
    print()
    print(_table(rows))
    if args.report:
        for n in parse_sizes(args.report_size):
            print(f"\nfull monthly report (run_month) on {n:,} transactions ...", flush=True)
            rep = bench_report(n, root, timeout=args.report_timeout)
            core = run_one("rfm_helpers_scored", generate(n, root / f"tx_{n}.parquet"), timeout=args.report_timeout)
            print(_report_table(n, rep, core), flush=True)
    return 0


def _cell(r: dict) -> str:
    if "seconds" in r:
        return f"{r['seconds']:8.2f} s  peak {r['peak_mb']:7.0f} MB  -> {r['rows_out']:,} customers"
    return r.get("skipped") or f"error: {r.get('error')}"


def _table(rows) -> str:
    head = f"{'rows':>12}  {'method':<22} {'seconds':>9} {'peak MB':>9} {'after-import MB':>16} {'x time':>8} {'x mem':>7}"
    lines = [head, "-" * len(head)]
    for n, m, r, ref in rows:
        if "seconds" in r:
            xt = f"{r['seconds'] / ref['seconds']:.2f}" if "seconds" in ref else "-"
            xm = f"{r['peak_mb'] / ref['peak_mb']:.2f}" if "peak_mb" in ref else "-"
            lines.append(f"{n:>12,}  {m:<22} {r['seconds']:>9.2f} {r['peak_mb']:>9.0f} "
                         f"{r['base_mb']:>16.0f} {xt:>8} {xm:>7}")
        else:
            lines.append(f"{n:>12,}  {m:<22} {r.get('skipped') or 'error: ' + str(r.get('error'))}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
