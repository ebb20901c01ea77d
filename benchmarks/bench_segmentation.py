"""Notebook 03's method comparison at scale: the engine path against the pandas path.

For a benchmark transactions file, scores every customer in DuckDB (as ``Prepared.rfm_table``)
and then times, each in a fresh subprocess, ``compare_methods_engine`` on the engine table
(clusters fitted on a 50k sample, every customer assigned in SQL) and ``compare_methods`` on
the same table fetched into pandas (the path notebook 03 used before issue 12), with the
notebook's four methods. Prints wall seconds and peak resident memory of each (the machine
is shared: compare the two numbers of one run, not across runs).

    .venv/bin/python benchmarks/bench_segmentation.py --data /tmp/rfm_bench/tx_1000000.parquet
    .venv/bin/python benchmarks/bench_segmentation.py --data /tmp/rfm_bench/tx_10000000.parquet --only engine
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

AS_OF = "2024-12-31"


def run(method: str, data: str) -> dict:
    from rfm_helpers.clustering import ClusterSegmenter, compare_methods, compare_methods_engine
    from rfm_helpers.engine import DuckDBEngine
    from rfm_helpers.rfm import scored_rfm_relation, tidy_rfm
    from rfm_helpers.segments import QuantileSegmenter, ThresholdSegmenter

    eng = DuckDBEngine()
    table = eng.materialize(scored_rfm_relation(data, AS_OF, engine=eng, order=True), "rfm_scored")
    ca = dict(n_clusters=0, k_range=(3, 8), random_state=42)
    methods = {"quantile": QuantileSegmenter(), "thresholds": ThresholdSegmenter(),
               "kmeans": ClusterSegmenter("kmeans", **ca), "gmm": ClusterSegmenter("gmm", **ca)}
    t0 = time.perf_counter()
    if method == "engine":
        res = compare_methods_engine(eng, table, methods, n_boot=3, random_state=42)
    else:
        rfm = tidy_rfm(eng.fetch(f"SELECT * FROM {table}", label="bench", kind="per_customer"))
        res = compare_methods(rfm, methods, n_boot=3, random_state=42)
    seconds = time.perf_counter() - t0
    return {"method": method, "seconds": round(seconds, 2), "customers": int(res["tables"]["quantile"]["customers"].sum()),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="transactions (Parquet) with customer_id, order_date, amount")
    ap.add_argument("--only", choices=["engine", "pandas"], help="run one path only")
    ap.add_argument("--child", choices=["engine", "pandas"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run(args.child, args.data)))
        return
    for method in [args.only] if args.only else ["engine", "pandas"]:
        out = subprocess.run([sys.executable, __file__, "--data", args.data, "--child", method],
                             capture_output=True, text=True, check=True)
        print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
