"""Benchmark: the customer value stage at 1e6 (about 478k customers) or 1e7 transactions.

Every step runs in a fresh subprocess so the costs can be told apart; each reports wall
seconds, CPU seconds (user + system of the process and its children, e.g. gcc: on a shared
machine the CPU time is the steadier number) and peak resident memory (``ru_maxrss``, which
includes DuckDB's native memory):

* ``store``: one DuckDB pass over the Parquet file into the per-customer base table
  (:class:`rfm_helpers.value.store.ValueStore`);
* ``import``: importing PyMC-Marketing's CLV module (pytensor, pymc, arviz);
* ``compile_cold``: compiling the two log-likelihoods with an **empty** pytensor cache (a
  temporary ``PYTENSOR_FLAGS=compiledir=...``): what a fresh machine pays once;
* ``compile``: the same with the warm on-disk cache (paid by every process);
* ``fit``: purchase + spend MAP fits with Laplace covariance on the bounded stratified sample
  (``--fit-customers``, default 50,000), warm cache, import and compile excluded;
* ``fit_full``: the same on all customers (what the sample saves, and the parameters it gives);
* ``score``: every customer scored (numpy closed forms, chunked) into Parquet, slipping flag,
  headline and P(alive) histogram in SQL;
* ``export``: the sorted per-customer CSV written by DuckDB through the run's export writer
  (``rfm_helpers.act``: all-quoted, money in cents) as the stage writes it
  (:func:`rfm_helpers.value.analysis.write_export`: rows counted and ids checked unsorted);
* ``backtest``: calibration sample fit, scoring of the calibration customers, decile SQL;
* ``analyse``: the whole ``analyse_value`` (everything above, export included) from the Parquet
  path, including import and compile: the value stage's own cost in a notebook;
* ``analyse_pandas``: the same from a pandas frame (as ``prepare()`` hands it to notebook 06
  today; reading the file excluded);
* ``lifetimes``: lifetimes' MLE of the same modified BG/NBD on all customers (a scipy reference
  for ``fit_full``'s parameters and time);
* ``notebook``: notebook 06 alone through papermill on the same data (kernel start, load, RFM,
  segments, clusters, value stage, rendering of the cells) -- the ``--steps`` default leaves
  it out; add it explicitly.

Usage::

    .venv/bin/python benchmarks/bench_value.py                        # 1e6 rows
    .venv/bin/python benchmarks/bench_value.py --steps analyse,notebook
    nice -n 10 .venv/bin/python benchmarks/bench_value.py --size 1e7 --steps store,fit,score,analyse
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_rfm  # noqa: E402  (same synthetic data and cache folder)

STEPS = ["store", "import", "compile_cold", "compile", "fit", "fit_full", "score", "export", "backtest", "analyse",
         "analyse_pandas", "lifetimes"]
MODEL = "mbgnbd"  # notebook 06's default


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class _Clock:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, _cpu() - self.cpu


def _measure(step: str, path: str, fit_customers: int) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    from rfm_helpers.value import models
    from rfm_helpers.value.store import ValueStore

    out: dict = {}
    if step in ("import", "compile", "compile_cold"):
        with _Clock() as imp:
            models._clv_module()
        if step == "import":
            return {"wall": imp.wall, "cpu": imp.cpu}
        with _Clock() as c:
            models.purchase_loglik(MODEL)
            models.spend_loglik()
        return {"wall": c.wall, "cpu": c.cpu, "import_wall": round(imp.wall, 2)}
    if step == "lifetimes":
        from lifetimes import ModifiedBetaGeoFitter

        with ValueStore(path, bench_rfm.AS_OF) as store:
            summary = store.sample(None)
        with _Clock() as c:
            f = ModifiedBetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
        return {"wall": c.wall, "cpu": c.cpu, "params": {k: round(float(v), 5) for k, v in f.params_.items()}}
    if step in ("analyse", "analyse_pandas"):
        from rfm_helpers.value import analyse_value

        source = path
        if step == "analyse_pandas":
            import pandas as pd

            source = pd.read_parquet(path)
        from rfm_helpers.act import ExportWriter

        folder = Path(tempfile.mkdtemp(prefix="bench-value-"))
        with _Clock() as c:
            va = analyse_value(source, bench_rfm.AS_OF, transaction_model=MODEL, fit_customers=fit_customers,
                               export=ExportWriter(folder, "en"))
        export = folder / va.export.file
        out = {"wall": c.wall, "cpu": c.cpu, "customers": va.stats["customers"], "rows_out": va.export.rows,
               "params": {k: round(v, 5) for k, v in va.fitted.purchase_params.items()},
               "export_mb": export.stat().st_size / 2 ** 20}
        shutil.rmtree(folder)
        return out
    models._clv_module()
    models.purchase_loglik(MODEL)
    models.spend_loglik()
    with _Clock() as c:
        store = ValueStore(path, bench_rfm.AS_OF)
    try:
        if step == "store":
            st = store.stats()
            return {"wall": c.wall, "cpu": c.cpu, "customers": st["customers"], "repeat": st["repeat_customers"]}
        rows = store.sample(None if step == "fit_full" else fit_customers)
        with _Clock() as c:
            fitted = models.fit_value_models(rows, transaction_model=MODEL, fit_customers=None,
                                             n_customers=store.stats()["customers"])
        out = {"params": {k: round(v, 5) for k, v in fitted.purchase_params.items()},
               "fit_customers": fitted.n_fit_customers}
        if step in ("fit", "fit_full"):
            return {"wall": c.wall, "cpu": c.cpu, **out}
        if step == "backtest":
            from rfm_helpers.value.backtest import backtest_in_store

            with _Clock() as c:
                bt = backtest_in_store(store, transaction_model=MODEL, fit_customers=fit_customers)
            return {"wall": c.wall, "cpu": c.cpu, "customers": bt.customers, "verdict": bt.verdict}
        from rfm_helpers.value.segments import p_alive_histogram, value_headline

        with _Clock() as c:
            store.score(fitted, "customers")
            view = store.finish("customers")
            head = value_headline(view, con=store.con)
            p_alive_histogram(view, con=store.con)
        if step == "score":
            return {"wall": c.wall, "cpu": c.cpu, "customers": head["customers"]}
        from rfm_helpers.act import ExportWriter
        from rfm_helpers.value.analysis import write_export

        with _Clock() as c:
            rec = write_export(ExportWriter(store.dir / "exports", "en"), view, "bench", store.con, head["customers"])
        target = store.dir / "exports" / rec.file
        return {"wall": c.wall, "cpu": c.cpu, "rows_out": rec.rows, "export_mb": target.stat().st_size / 2 ** 20}
    finally:
        store.close()


def _notebook(n: int, path: Path) -> dict:
    """Notebook 06 alone through papermill on the bench data; per-cell times from its metadata."""
    import nbformat
    import papermill as pm
    import yaml

    root = Path(tempfile.mkdtemp(prefix="bench-value-nb-"))
    cfg = root / "source.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": f"synthetic {n:,} transactions", "format": "parquet", "path": str(path),
        "columns": {"customer_id": "customer_id", "order_date": "order_date", "amount": "amount"}}), encoding="utf-8")
    nb_dir = Path(__file__).resolve().parents[1] / "notebooks"
    out = root / "06.ipynb"
    with _Clock() as c:
        pm.execute_notebook(str(nb_dir / "06_customer_value.ipynb"), str(out), kernel_name="python3",
                            progress_bar=False, cwd=str(nb_dir),
                            parameters={"analysis_date": bench_rfm.AS_OF, "source_config": str(cfg),
                                        "run_dir": str(root / "run")})
    book = nbformat.read(out, as_version=4)
    cells = [round(float(cell.metadata.get("papermill", {}).get("duration") or 0), 2)
             for cell in book.cells if cell.cell_type == "code"]
    return {"wall": c.wall, "cpu": c.cpu, "papermill": round(float(book.metadata["papermill"]["duration"]), 2),
            "cells": cells}


def run_step(step: str, path: Path, fit_customers: int, env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--_measure", step, str(path), str(fit_customers)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1e6", help="number of synthetic transactions (bench_rfm data)")
    ap.add_argument("--fit-customers", type=int, default=50_000, help="bound of the fit sample")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--_measure", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._measure:
        step, path, k = args._measure
        out = _notebook(int(float(path.rsplit("_", 1)[-1].split(".")[0])), Path(path)) if step == "notebook" \
            else _measure(step, path, int(k))
        out["peak_mb"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                             resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
        print(json.dumps(out))
        return 0
    n = int(float(args.size))
    path = bench_rfm.generate(n, bench_rfm.bench_dir() / f"tx_{n}.parquet")
    load = os.getloadavg()[0]
    print(f"data: {path}   cores: {os.cpu_count()}   load: {load:.1f}   python: {sys.version.split()[0]}   "
          f"model: {MODEL}   fit sample: {args.fit_customers:,}")
    print(f"{'step':>14}  {'wall s':>7}  {'cpu s':>7}  {'peak MB':>8}  details")
    for step in [s for s in args.steps.split(",") if s]:
        env = None
        if step == "compile_cold":
            env = {**os.environ, "PYTENSOR_FLAGS": f"compiledir={tempfile.mkdtemp(prefix='pytensor-cold-')}"}
        r = run_step(step, path, args.fit_customers, env)
        if "error" in r:
            print(f"{step:>14}: ERROR {r['error']}", flush=True)
            continue
        details = {k: v for k, v in r.items() if k not in ("wall", "cpu", "peak_mb")}
        print(f"{step:>14}  {r['wall']:7.2f}  {r['cpu']:7.2f}  {r['peak_mb']:8,.0f}  {json.dumps(details)}", flush=True)
    print("cpu = user + system seconds of the process and its children; peak = resident set size.\n"
          "compile_cold is paid once per machine (pytensor's on-disk cache); every later process pays 'compile'.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
