"""Comparison tables from the outputs bench_engines.py kept ($RFM_BENCH_DIR/engines_out): before
(baseline) and after (package) per zone for one size, with the benchmark's own compare. Usage::

    RFM_BENCH_DIR=... .venv/bin/python benchmarks/engine_tables.py 10000000
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engines import _diff, compare, count_rows, split_spends  # noqa: E402
from bench_rfm import bench_dir  # noqa: E402

d = bench_dir() / "engines_out"
n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
zones = ["UTC", "America/Sao_Paulo", "Europe/Moscow"]
def p(tag, eng, tz):
    q = d / f"{tag}_{eng}_{n}_{tz.replace('/', '-')}"
    return str(q) if q.exists() and (q.is_file() or any(q.glob("*.parquet"))) else None
def c(a, b):
    return _diff(compare(a, b)) if a and b else "-"
for impl in ("baseline", "package"):
    print(f"\n{impl}: rows {n:,}")
    print(f"{'TZ':<18} {'customers':>10} {'DuckDB run vs run':>18} {'Spark vs DuckDB':>18} {'DuckDB vs UTC':>14} {'Spark vs UTC':>14} {'split D/S':>12}")
    for tz in zones:
        d0, d1, s0 = p(f"{impl}0", "duckdb", tz), p(f"{impl}1", "duckdb", tz), p(f"{impl}0", "spark", tz)
        du, su = p(f"{impl}0", "duckdb", "UTC"), p(f"{impl}0", "spark", "UTC")
        sd = split_spends(d0)[1] if d0 else "-"
        ss = split_spends(s0)[1] if s0 else "-"
        print(f"{tz:<18} {count_rows(d0) if d0 else '-':>10} {c(d0, d1):>18} {c(s0, d0):>18} "
              f"{c(d0, du) if tz != 'UTC' else '-':>14} {c(s0, su) if tz != 'UTC' else '-':>14} {str(sd)+' / '+str(ss):>12}")
print("\nbefore vs after")
for tz in zones:
    for eng in ("duckdb", "spark"):
        print(f"{eng:<7} {tz:<18} {c(p('baseline0', eng, tz), p('package0', eng, tz)):>14}")
