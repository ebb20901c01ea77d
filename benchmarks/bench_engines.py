"""Spark and DuckDB side by side: time, and whether they give the same scores.

For each size (1e6, 1e7 transactions) and each time zone, every engine computes the same
thing in a fresh process whose ``TZ`` is that zone (and, for Spark, whose JVM and
``spark.sql.session.timeZone`` are too): transactions (one Parquet file, naive timestamps,
2017-2018 so that America/Sao_Paulo's summer-time changes at midnight fall inside) to RFM
scores as of 2018-12-31, written to Parquet by the engine. Then DuckDB compares the outputs:

* **run vs run**: DuckDB twice on the same data (same zone);
* **engine vs engine**: Spark against DuckDB (same zone);
* **zone vs UTC**: each engine's result against the same engine under UTC;
* **equal spends split**: within one output, spend values (to the cent) whose customers
  got more than one monetary score - what the README promises never happens.

Columns of the comparison table count customers whose r, f or m score differs (and,
separately in brackets, whose recency differs and whose monetary value differs in any bit). Timings: Spark's session start (JVM, context) is
shown apart from the query; the query is transactions -> scored RFM -> Parquet for both.

``--baseline FILE`` runs an older implementation instead of the package (a copy of a
previous ``rfm_helpers/rfm.py``: its ``compute_scored_rfm`` on the file, or on
``spark.read.parquet(file)``, then ``DataFrame.to_parquet``), to measure before/after.
``--before-after FILE`` runs that older implementation and then the package in one
invocation (same data, same machine state) and prints both tables.

Usage::

    .venv/bin/python benchmarks/bench_engines.py --sizes 1e6
    .venv/bin/python benchmarks/bench_engines.py --sizes 1e6,1e7 \\
        --time-zones UTC,America/Sao_Paulo,Europe/Moscow
    git show e0be130:rfm_helpers/rfm.py > /tmp/rfm_before.py
    .venv/bin/python benchmarks/bench_engines.py --sizes 1e6 --baseline /tmp/rfm_before.py
    .venv/bin/python benchmarks/bench_engines.py --sizes 1e6 --before-after /tmp/rfm_before.py
    # a standalone cluster (see benchmarks/README.md): two executors of 1 GB
    .venv/bin/python benchmarks/bench_engines.py --sizes 1e7 --engines spark \\
        --spark-master spark://127.0.0.1:7077 --executor-memory 1g --max-cores 2
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rfm import bench_dir, generate, parse_sizes  # noqa: E402

AS_OF = "2018-12-31"
START, DAYS = "2017-01-01", 730
SCORE_COLUMNS = "customer_id, recency_days, frequency, monetary, r_score, f_score, m_score"


def data_path(n: int) -> Path:
    return generate(n, bench_dir() / f"tx_{n}_2017.parquet", start=START, days=DAYS)


# ------------------------------------------------------------------ one run (subprocess)
def _spark_session(args):
    from pyspark.sql import SparkSession

    b = (SparkSession.builder.master(args.spark_master).appName("rfm-bench-engines")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.session.timeZone", args.tz)
         .config("spark.driver.extraJavaOptions", f"-Duser.timezone={args.tz}")
         .config("spark.executor.extraJavaOptions", f"-Duser.timezone={args.tz}")
         .config("spark.driver.memory", args.driver_memory)
         .config("spark.driver.maxResultSize", "0")
         .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions)))
    if args.executor_memory:
        b = b.config("spark.executor.memory", args.executor_memory)
    if args.max_cores:
        b = b.config("spark.cores.max", str(args.max_cores)).config("spark.executor.cores", "1")
    session = b.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    session.range(1).count()  # the first job pays for starting executors: count it as start-up
    return session


def _load_baseline(path: str):
    spec = importlib.util.spec_from_file_location("rfm_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_once(args) -> dict:
    """Compute scored RFM of ``args.data`` on ``args.engine`` and write it to ``args.out``."""
    import pandas as pd  # noqa: F401  (imports are not timed)

    out = Path(args.out)
    if out.is_dir():
        shutil.rmtree(out)
    out.unlink(missing_ok=True)
    result = {"session_start": None}
    spark = None
    if args.engine == "spark":
        t = time.perf_counter()
        spark = _spark_session(args)
        result["session_start"] = time.perf_counter() - t
    t = time.perf_counter()
    if args.baseline:
        mod = _load_baseline(args.baseline)
        source = spark.read.parquet(args.data) if spark is not None else args.data
        frame = mod.compute_scored_rfm(source, AS_OF)
        result["query"] = time.perf_counter() - t
        frame.to_parquet(out, index=False)
        result["customers"] = len(frame)
    else:
        from rfm_helpers.engine import DuckDBEngine, SparkEngine
        from rfm_helpers.rfm import scored_rfm_relation

        with (SparkEngine(spark) if spark is not None else DuckDBEngine()) as eng:
            rel = scored_rfm_relation(args.data, AS_OF, engine=eng)
            rel.write_parquet(out)
        result["query"] = time.perf_counter() - t
    if spark is not None:
        spark.stop()
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def launch(engine: str, n: int, tz: str, tag: str, args) -> dict:
    out = bench_dir() / "engines_out" / f"{tag}_{engine}_{n}_{tz.replace('/', '-')}"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--_run", "--engine", engine, "--tz", tz, "--data", str(data_path(n)),
           "--out", str(out), "--spark-master", args.spark_master, "--driver-memory", args.driver_memory,
           "--shuffle-partitions", str(args.shuffle_partitions)]
    if args.baseline:
        cmd += ["--baseline", args.baseline]
    if args.executor_memory:
        cmd += ["--executor-memory", args.executor_memory]
    if args.max_cores:
        cmd += ["--max-cores", str(args.max_cores)]
    env = {**os.environ, "TZ": tz}
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        err = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        hint = next((ln for ln in reversed(err) if "Error" in ln or "Exception" in ln), err[-1] if err else "failed")
        return {"error": hint[:160], "wall": wall}
    r = json.loads(res.stdout.strip().splitlines()[-1])
    r.update(wall=wall, out=str(out))
    return r


# -------------------------------------------------------------------------- comparing
def _scan(path: str) -> str:
    p = Path(path)
    return f"read_parquet('{p}/*.parquet')" if p.is_dir() else f"read_parquet('{p}')"


def compare(a: str, b: str) -> dict:
    """Customers in each output, customers missing from one, customers whose scores or
    recency differ."""
    import duckdb

    con = duckdb.connect()
    row = con.execute(f"""
        SELECT COUNT(a.customer_id), COUNT(b.customer_id),
               COUNT(*) FILTER (WHERE a.customer_id IS NULL OR b.customer_id IS NULL),
               COUNT(*) FILTER (WHERE a.r_score <> b.r_score OR a.f_score <> b.f_score OR a.m_score <> b.m_score),
               COUNT(*) FILTER (WHERE a.m_score <> b.m_score),
               COUNT(*) FILTER (WHERE a.recency_days <> b.recency_days),
               COUNT(*) FILTER (WHERE a.monetary <> b.monetary)
        FROM (SELECT {SCORE_COLUMNS} FROM {_scan(a)}) a
        FULL JOIN (SELECT {SCORE_COLUMNS} FROM {_scan(b)}) b USING (customer_id)""").fetchone()
    keys = ["customers_a", "customers_b", "missing", "scores", "m_scores", "recency", "monetary_bits"]
    return dict(zip(keys, row))


def count_rows(path: str) -> int:
    import duckdb

    return duckdb.connect().execute(f"SELECT COUNT(*) FROM {_scan(path)}").fetchone()[0]


def split_spends(path: str) -> tuple[int, int]:
    """(spend values to the cent whose customers got several m_scores, customers concerned)."""
    import duckdb

    return duckdb.connect().execute(f"""
        SELECT COUNT(*), COALESCE(SUM(k), 0) FROM (
            SELECT ROUND(monetary, 2) AS m, COUNT(*) AS k, COUNT(DISTINCT m_score) AS scores
            FROM {_scan(path)} GROUP BY 1) WHERE scores > 1""").fetchone()


def _diff(c: dict | None) -> str:
    if c is None:
        return "-"
    s = f"{c['scores']:,}"
    if c["recency"]:
        s += f" (recency {c['recency']:,})"
    if c["monetary_bits"]:
        s += f" (monetary {c['monetary_bits']:,})"
    if c["missing"]:
        s += f" (missing {c['missing']:,})"
    return s


def measure(args) -> None:
    tag = "baseline" if args.baseline else "package"
    engines = [e for e in args.engines.split(",") if e]
    zones = [z for z in args.time_zones.split(",") if z]
    print(f"implementation: {args.baseline or 'rfm_helpers (this checkout)'}   spark master: "
          f"{args.spark_master}   cores: {os.cpu_count()}", flush=True)
    timing, comparisons = [], []
    for n in parse_sizes(args.sizes):
        path = data_path(n)
        print(f"{n:>12,} rows: {path} ({path.stat().st_size / 2**20:.0f} MB)", flush=True)
        runs: dict[tuple[str, str, int], dict] = {}
        spark_zones = [z for z in (args.spark_time_zones or args.time_zones).split(",") if z]
        for tz in zones:
            for eng in engines:
                if eng == "spark" and tz not in spark_zones:
                    continue
                for k in range(args.duckdb_runs if eng == "duckdb" else 1):
                    r = launch(eng, n, tz, f"{tag}{k}", args)
                    runs[(eng, tz, k)] = r
                    shown = r.get("error") or (f"query {r['query']:.1f} s" + (
                        f", session start {r['session_start']:.1f} s" if r.get("session_start") else ""))
                    print(f"    {eng:<7} {tz:<18} run {k + 1}: {shown}", flush=True)
                    timing.append((n, eng, tz, k, r))
        for tz in zones:
            def out(eng, k=0):
                r = runs.get((eng, tz, k))
                return r.get("out") if r and "out" in r else None

            def cmp(a, b):
                return compare(a, b) if a and b else None

            utc = {e: runs.get((e, "UTC", 0), {}).get("out") for e in engines}
            d0 = out("duckdb")
            row = {
                "n": n, "tz": tz,
                "customers": count_rows(d0) if d0 else None,
                "duckdb_run_vs_run": cmp(d0, out("duckdb", 1)) if args.duckdb_runs > 1 else None,
                "spark_vs_duckdb": cmp(out("spark"), d0),
                "duckdb_vs_utc": cmp(d0, utc.get("duckdb")) if tz != "UTC" else None,
                "spark_vs_utc": cmp(out("spark"), utc.get("spark")) if tz != "UTC" else None,
                "split_duckdb": split_spends(d0) if d0 else None,
                "split_spark": split_spends(out("spark")) if out("spark") else None,
            }
            comparisons.append(row)

    print("\nTiming (seconds; Spark session start = JVM + context + first job, shown apart)")
    head = f"{'rows':>12}  {'engine':<7} {'TZ':<18} {'run':>3} {'session start':>14} {'query':>8} {'driver peak MB':>15}"
    print(head + "\n" + "-" * len(head))
    for n, eng, tz, k, r in timing:
        if "error" in r:
            print(f"{n:>12,}  {eng:<7} {tz:<18} {k + 1:>3}  error: {r['error']}")
            continue
        ss = f"{r['session_start']:.1f}" if r.get("session_start") else "-"
        print(f"{n:>12,}  {eng:<7} {tz:<18} {k + 1:>3} {ss:>14} {r['query']:>8.1f} {r['peak_mb']:>15.0f}")

    print("\nCustomers whose r/f/m score differs (recency differences in brackets)")
    head = (f"{'rows':>12}  {'TZ':<18} {'customers':>10} {'DuckDB run vs run':>18} {'Spark vs DuckDB':>16} "
            f"{'DuckDB vs UTC':>14} {'Spark vs UTC':>13} {'split spends D/S':>17}")
    print(head + "\n" + "-" * len(head))
    for c in comparisons:
        sd = c["split_duckdb"][1] if c["split_duckdb"] else "-"
        ss = c["split_spark"][1] if c["split_spark"] else "-"
        cust = f"{c['customers']:,}" if c["customers"] is not None else "-"
        print(f"{c['n']:>12,}  {c['tz']:<18} {cust:>10} {_diff(c['duckdb_run_vs_run']):>18} "
              f"{_diff(c['spark_vs_duckdb']):>16} {_diff(c['duckdb_vs_utc']):>14} "
              f"{_diff(c['spark_vs_utc']):>13} {str(sd) + ' / ' + str(ss):>17}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1e6")
    ap.add_argument("--time-zones", default="UTC,America/Sao_Paulo,Europe/Moscow")
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--duckdb-runs", type=int, default=2, help="DuckDB runs per zone (run-vs-run)")
    ap.add_argument("--baseline", default="", help="older rfm.py to measure instead of the package")
    ap.add_argument("--before-after", default="", help="older rfm.py measured first, then the package")
    ap.add_argument("--spark-time-zones", default="", help="zones of the Spark runs (default: --time-zones)")
    ap.add_argument("--before-spark-time-zones", default="",
                    help="zones of the older implementation's Spark runs (it collects every customer to the "
                         "driver: slow at 1e7)")
    ap.add_argument("--spark-master", default="local[2]")
    ap.add_argument("--driver-memory", default="3g")
    ap.add_argument("--executor-memory", default="")
    ap.add_argument("--max-cores", type=int, default=0)
    ap.add_argument("--shuffle-partitions", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--_run", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--tz", default="UTC", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._run:
        print(json.dumps(run_once(args)))
        return 0

    if args.before_after:
        for baseline in (args.before_after, ""):
            print(f"\n===== {'BEFORE' if baseline else 'AFTER'} =====", flush=True)
            spark_zones = (args.before_spark_time_zones if baseline else "") or args.spark_time_zones
            measure(argparse.Namespace(**{**vars(args), "baseline": baseline, "spark_time_zones": spark_zones}))
        print("\nBefore vs after: customers whose r/f/m score differs (recency in brackets)")
        engines = [e for e in args.engines.split(",") if e]
        for n in parse_sizes(args.sizes):
            for tz in [z for z in args.time_zones.split(",") if z]:
                for eng in engines:
                    name = f"{eng}_{n}_{tz.replace('/', '-')}"
                    a, b = (bench_dir() / "engines_out" / f"{t}0_{name}" for t in ("baseline", "package"))
                    shown = _diff(compare(str(a), str(b))) if a.exists() and b.exists() else "-"
                    print(f"{n:>12,}  {eng:<7} {tz:<18} {shown:>12}")
    else:
        measure(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
