"""The fixed cost of every report notebook: kernel start, first-cell imports, the six kernels
of a run with their first cells' imports forked from the fork server (the default on Linux) or
each a new interpreter (RFM_FORK_KERNELS=0), prepare(), and a whole monthly run with kernels
started ahead (the default) and without (RFM_PREWARM_KERNELS=0).

    .venv/bin/python benchmarks/bench_kernels.py                      # bundled CDNOW sample
    .venv/bin/python benchmarks/bench_kernels.py --source /tmp/rfm_bench/source_1000000.yaml \
        --month 2024-12 --skip-run

Timings are noisy on a shared machine: the script measures each part several times and
prints the median; the two monthly runs are made one after the other in the same process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def kernel_start(reps: int) -> float:
    """Median seconds from launching a kernel to its first reply (kernel_info), as papermill waits."""
    from jupyter_client import KernelManager

    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        km = KernelManager(kernel_name="python3")
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        times.append(time.perf_counter() - t0)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return statistics.median(times)


def first_cell_imports(reps: int) -> dict[str, float]:
    """Median seconds of each notebook's first-cell imports in a new Python process (minus an
    empty interpreter's start)."""
    from rfm_helpers.report.execute import discover_notebooks
    from rfm_helpers.report.execute import first_cell_imports as imports_of

    def run(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT / "notebooks")
        return time.perf_counter() - t0

    empty = statistics.median(run("pass") for _ in range(reps))
    return {nb.name: round(statistics.median(run(imports_of(nb)) for _ in range(reps)) - empty, 2)
            for nb in discover_notebooks(ROOT / "notebooks")}


def kernels_of_a_run(reps: int) -> dict[str, dict[str, float]]:
    """Wall seconds until the kernels of the six notebooks are ready with their first cells'
    imports done (and the warm-up hooks run: notebook 06 imports PyMC-Marketing), and the
    processor seconds all of them used, forked and new; the median of ``reps`` rounds."""
    from rfm_helpers.report.execute import discover_notebooks
    from rfm_helpers.report.kernels import KernelPrewarmer

    notebooks = discover_notebooks(ROOT / "notebooks")
    out = {}
    for name, fork in (("new interpreters", False), ("forked", True)):
        walls, cpus = [], []
        for _ in range(reps):
            before, t0 = os.times(), time.perf_counter()
            with KernelPrewarmer(fork=fork) as warm:
                kernels = [warm.start(nb, ROOT / "notebooks") for nb in notebooks]
                assert all(k.manager() is not None for k in kernels)
                walls.append(time.perf_counter() - t0)
            after = os.times()  # the kernels (and the server) have exited and been waited for
            cpus.append(after.children_user + after.children_system - before.children_user - before.children_system)
        out[name] = {"ready_s": round(statistics.median(walls), 2), "cpu_s": round(statistics.median(cpus), 2)}
    return out


def prepare_cost(source: str, analysis_date: str, reps: int) -> dict[str, float]:
    """Seconds of prepare() in a later notebook (the run's cache exists) and of its first
    p.transactions_table / p.rfm, each in a new process."""
    run_dir = tempfile.mkdtemp(prefix="bench-kernels-")
    code = ("import time, json; from rfm_helpers.pipeline import prepare; t0 = time.perf_counter(); "
            f"p = prepare({analysis_date!r}, source_config={source!r}, run_dir={run_dir!r}); t1 = time.perf_counter(); "
            "p.transactions_table; t2 = time.perf_counter(); p.rfm; t3 = time.perf_counter(); "
            "print(json.dumps({'prepare': t1 - t0, 'transactions_table': t2 - t1, 'rfm': t3 - t2}))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT / "notebooks", capture_output=True)  # loads
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT / "notebooks",
                                      capture_output=True, text=True).stdout) for _ in range(reps)]
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}


def monthly_runs(source: str, month: str) -> dict[str, dict]:
    from rfm_helpers.report.run import PREWARM_ENV, run_month

    out = {}
    for prewarm in ("0", "1"):
        os.environ[PREWARM_ENV] = prewarm
        reports = Path(tempfile.mkdtemp(prefix="bench-kernels-reports-"))
        t0 = time.perf_counter()
        target = run_month(month, reports_dir=reports, source_config=source, progress=False)
        summary = json.loads((target / "summary.json").read_text(encoding="utf-8"))
        out["kernels started ahead" if prewarm == "1" else "kernel started per notebook"] = {
            "seconds": round(time.perf_counter() - t0, 1),
            "notebooks": {n["name"]: n["duration_s"] for n in summary["run"]["notebooks"]}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="", help="source YAML (empty: the bundled CDNOW sample)")
    ap.add_argument("--month", default="1998-06")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip-run", action="store_true", help="skip the two monthly runs")
    args = ap.parse_args()
    analysis_date = f"{args.month}-28"
    print(f"kernel start (launch to first reply): {kernel_start(args.reps):.2f} s")
    print("first-cell imports per notebook (s):", json.dumps(first_cell_imports(args.reps)))
    print("the six kernels of a run, ready with their imports:", json.dumps(kernels_of_a_run(args.reps)))
    print("prepare in a later notebook (s):", json.dumps(prepare_cost(args.source, analysis_date, args.reps)))
    if not args.skip_run:
        for name, r in monthly_runs(args.source, args.month).items():
            print(f"monthly run, {name}: {r['seconds']} s; per notebook: {json.dumps(r['notebooks'])}")


if __name__ == "__main__":
    main()
