"""Benchmark: customer value models at the 1e6-transaction size (about 478k customers).

Every step runs in a fresh subprocess so the costs can be told apart:

* ``import``: importing PyMC-Marketing's CLV module (pytensor, pymc, arviz);
* ``compile``: a first MAP fit on a small sample in a process with an **empty** pytensor
  compile cache (a temporary ``PYTENSOR_FLAGS=compiledir=...``), i.e. what a fresh machine
  (CI, a new laptop) pays once; later processes reuse the on-disk cache;
* ``fit``: BG/NBD (or ``--model mbgnbd``) MAP fit + Laplace covariance, and Gamma-Gamma, on all
  customers, with a warm compile cache;
* ``score``: per-customer P(alive), expected purchases 90/365 days, expected spend and 12-month
  CLV, each with its interval (chunks of 100k customers);
* reference: the lifetimes maximum-likelihood fit of the same BG/NBD on the same summary (the
  near-limit for a scipy implementation), and the DuckDB summary itself.

Usage::

    .venv/bin/python benchmarks/bench_value.py                  # 1e6 rows
    .venv/bin/python benchmarks/bench_value.py --size 1e5 --model mbgnbd
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_rfm  # noqa: E402  (same synthetic data and cache folder)

STEPS = ["summary", "import", "compile", "fit", "score", "lifetimes"]


def _measure(step: str, path: str, model: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import pandas as pd

    from rfm_helpers.value.features import compute_value_summary

    tx = pd.read_parquet(path)
    t0 = time.perf_counter()
    summary = compute_value_summary(tx, bench_rfm.AS_OF)
    t_summary = time.perf_counter() - t0
    out = {"customers": len(summary), "repeat": int((summary["frequency"] > 0).sum())}
    if step == "summary":
        out["seconds"] = t_summary
    elif step == "import":
        t0 = time.perf_counter()
        from rfm_helpers.value.models import _clv_module

        _clv_module()
        out["seconds"] = time.perf_counter() - t0
    elif step in ("compile", "fit", "score"):
        from rfm_helpers.value.models import _clv_module, fit_value_models, score_customers

        _clv_module()
        rows = summary.sample(5000, random_state=0) if step == "compile" else summary
        t0 = time.perf_counter()
        fitted = fit_value_models(rows, transaction_model=model)
        out["fit_seconds"] = time.perf_counter() - t0
        out["params"] = {k: round(v, 5) for k, v in fitted.purchase_params.items()}
        if step == "score":
            t0 = time.perf_counter()
            scores = score_customers(fitted, summary)
            out["seconds"] = time.perf_counter() - t0
            out["rows_out"] = len(scores)
        else:
            out["seconds"] = out["fit_seconds"]
    elif step == "lifetimes":
        from lifetimes import BetaGeoFitter

        t0 = time.perf_counter()
        f = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
        f.conditional_expected_number_of_purchases_up_to_time(90, summary["frequency"], summary["recency"],
                                                              summary["T"])
        out["seconds"] = time.perf_counter() - t0
        out["params"] = {k: round(float(v), 5) for k, v in f.params_.items()}
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_step(step: str, path: Path, model: str, env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--_measure", step, str(path), model]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1e6", help="number of synthetic transactions (bench_rfm data)")
    ap.add_argument("--model", default="bgnbd", choices=["bgnbd", "mbgnbd"])
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--_measure", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._measure:
        print(json.dumps(_measure(*args._measure)))
        return 0
    n = int(float(args.size))
    path = bench_rfm.generate(n, bench_rfm.bench_dir() / f"tx_{n}.parquet")
    print(f"data: {path}   cores: {os.cpu_count()}   python: {sys.version.split()[0]}   model: {args.model}")
    for step in [s for s in args.steps.split(",") if s]:
        env = None
        if step == "compile":
            env = {**os.environ, "PYTENSOR_FLAGS": f"compiledir={tempfile.mkdtemp(prefix='pytensor-cold-')}"}
        r = run_step(step, path, args.model, env)
        if "error" in r:
            print(f"{step:>10}: ERROR {r['error']}")
            continue
        extra = f"  params {r['params']}" if "params" in r else ""
        print(f"{step:>10}: {r['seconds']:7.2f} s   customers {r['customers']:,} (repeat {r['repeat']:,})"
              f"   peak {r['peak_mb']:,.0f} MB{extra}", flush=True)
    print("compile = first MAP fit of 5,000 customers with an empty pytensor cache (paid once per machine);\n"
          "fit + score = the value stage on all customers with a warm cache (target: under 60 s together).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
