"""Load benchmark: a 1C-style CSV export through ``load_transactions`` beside a bare
``duckdb.read_csv`` of the same file, each in a fresh process (peak memory = ru_maxrss of
that process, so one measurement cannot inherit the other's memory).

The file looks like a 1C "Продажи" report saved as CSV: UTF-8 with BOM, ``;`` separator,
``dd.mm.yyyy hh:mm:ss`` dates, amounts like ``41 950,31`` (no-break space between
thousands, decimal comma), Cyrillic text in every column::

    Дата;Документ;Контрагент;Номенклатура;Количество;Сумма
    03.06.2023 03:23:56;РТУ-0471617;Покупатель 086131;Товар 621;1;41 950,31

Usage::

    .venv/bin/python benchmarks/bench_load.py                 # 3,000,000 rows (issue 9's target)
    .venv/bin/python benchmarks/bench_load.py --rows 300000   # quicker
    .venv/bin/python benchmarks/bench_load.py --keep /tmp/1c.csv   # keep / reuse the file

Target (issue 9): 3e6 rows under 15 s and under 1 GB peak on the 2-core machine. Timings on
a shared machine are noisy: read the ratio to the bare DuckDB read measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = "Дата;Документ;Контрагент;Номенклатура;Количество;Сумма"
SPEC = {"currency": "RUB", "columns": {"customer_id": "Контрагент", "order_date": "Дата", "amount": "Сумма"}}


def make_1c_csv(path: Path, n: int, seed: int = 1) -> dict:
    """Write the file; returns the independently computed truth (rows, revenue in kopecks)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    total = 0
    with open(path, "wb") as fh:
        fh.write(("\ufeff" + HEADER + "\n").encode("utf-8"))
        step = 500_000
        for start in range(0, n, step):
            k = min(step, n - start)
            secs = rng.integers(0, 3 * 365 * 86400, k)
            ts = pa.array(np.datetime64("2022-01-01T00:00:00") + secs.astype("timedelta64[s]"))
            date = pc.strftime(ts, format="%d.%m.%Y %H:%M:%S")
            cust = pc.utf8_lpad(pa.array(rng.integers(1, 200_000, k).astype(str)), 6, "0")
            cents = rng.integers(100, 5_000_000, k)
            total += int(cents.sum())
            rub, kop = cents // 100, pc.utf8_lpad(pa.array((cents % 100).astype(str)), 2, "0")
            thousands, rest = rub // 1000, pc.utf8_lpad(pa.array((rub % 1000).astype(str)), 3, "0")
            grouped = pc.binary_join_element_wise(pa.array(thousands.astype(str)), rest, "\u00a0")
            rubles = pc.if_else(pa.array(thousands > 0), grouped, pa.array((rub % 1000).astype(str)))
            amount = pc.binary_join_element_wise(rubles, kop, ",")
            doc = pc.binary_join_element_wise(
                pa.scalar("РТУ"), pc.utf8_lpad(pa.array(rng.integers(1, 10**6, k).astype(str)), 7, "0"), "-")
            item = pc.binary_join_element_wise(pa.scalar("Товар"), pa.array(rng.integers(1, 5000, k).astype(str)), " ")
            client = pc.binary_join_element_wise(pa.scalar("Покупатель"), cust, " ")
            qty = pa.array(rng.integers(1, 10, k).astype(str))
            line = pc.binary_join_element_wise(date, doc, client, item, qty, amount, ";")
            fh.write(("\n".join(line.to_pylist()) + "\n").encode("utf-8"))
    return {"rows": n, "revenue_kopecks": total}


def _child(kind: str, path: str) -> None:
    """Runs in a fresh process: one measurement, printed as JSON."""
    import resource

    t0 = time.perf_counter()
    if kind == "duckdb":
        import duckdb

        con = duckdb.connect()
        n = con.execute(f"SELECT count(*) FROM read_csv('{path}', delim=';', header=true, all_varchar=true)").fetchone()[0]
        out = {"rows": n}
    else:
        from rfm_helpers.load import load_transactions

        r = load_transactions({"path": path, **SPEC})
        out = {"rows": r.rows_in, "kept": r.rows_kept, "revenue_kopecks": int(round(r.clean["amount"].sum() * 100)),
               "phases": r.timings}
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


def _measure(kind: str, path: Path) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--keep", type=Path, default=None, help="write the file here (reused if it exists)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return 0
    path = args.keep or Path(tempfile.gettempdir()) / f"bench_load_{args.rows}.csv"
    truth_file = path.with_suffix(".truth.json")
    if path.exists() and truth_file.exists() and json.loads(truth_file.read_text())["rows"] == args.rows:
        truth = json.loads(truth_file.read_text())
    else:
        t = time.perf_counter()
        truth = make_1c_csv(path, args.rows)
        truth_file.write_text(json.dumps(truth))
        print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows) in {time.perf_counter() - t:.1f} s")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for _ in range(args.repeat):
        bare = _measure("duckdb", path)
        ours = _measure("load", path)
        assert ours["rows"] == bare["rows"] == truth["rows"], (ours, bare, truth)
        assert ours["kept"] == truth["rows"] and ours["revenue_kopecks"] == truth["revenue_kopecks"], (ours, truth)
        print(f"bare duckdb.read_csv : {bare['seconds']:6.2f} s  peak {bare['peak_mb']:7.1f} MB")
        print(f"load_transactions    : {ours['seconds']:6.2f} s  peak {ours['peak_mb']:7.1f} MB  "
              f"({ours['seconds'] / max(bare['seconds'], 1e-9):.1f}x the bare read; revenue exact)")
        print("  phases: " + ", ".join(f"{k} {v['seconds']:.2f} s (peak {v['peak_mb']:.0f} MB)"
                                       for k, v in ours["phases"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
