"""The monthly run keeps per-customer work in the engine (issue 12), checked in CI on 2e5 rows.

Notebooks 03-06 run through the real runner on 200,000 generated transactions (about 96,000
customers) with a :class:`rfm_helpers.engine.guard.FrameGuard` in every kernel: any pandas
DataFrame or Series longer than ``BOUND`` rows that exists after a cell or while a cell runs,
and any fetch from the engine above it that is not an aggregate, is recorded. Notebooks 03-06
must record nothing: pandas sees aggregates and bounded samples only. (Notebooks 01-02 run
first in the same month to build the run's load cache; what they hold is not checked here.)

A unit test shows the guard itself catches what it must, so an empty log means something.
"""
from __future__ import annotations

import gc
import os
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rfm_helpers.engine.guard import FrameGuard, read_log

ROOT = Path(__file__).resolve().parents[1]
BOUND = 50_000          # rows: a bounded sample (clusters are fitted on at most 50,000 customers) passes;
                        # the data have about 96,000 customers and 200,000 transactions
CHECKED = ("03_segmentation", "04_campaign_ab_test", "05_segment_migration", "06_customer_value")


def test_guard_records_large_frames_and_fetches_only(tmp_path):
    log = tmp_path / "log.jsonl"
    guard = FrameGuard(1_000, log)
    # large frames other tests of this worker left alive (caches, cycles) are seen first, so that
    # the counts below are this test's own
    gc.collect()
    before = guard.scan("before")
    small = pd.DataFrame({"a": range(1_000)})                       # at the bound: fine
    big = pd.DataFrame({"customer_id": np.arange(5_000), "x": 1.0})  # above: recorded once
    series = big["customer_id"]                                      # a long Series too
    assert guard.scan("test") == 2
    assert guard.scan("again") == 0
    records = read_log(log)[before:]
    assert {(r["what"], r["rows"]) for r in records} == {("DataFrame", 5_000), ("Series", 5_000)}
    assert next(r for r in records if r["what"] == "DataFrame")["columns"] == ["customer_id", "x"]
    del small, big, series

    # frames built while the guard runs: seen when built, even if gone at once, with the line
    guard.start()
    try:
        def transient() -> int:
            return len(pd.DataFrame({"customer_id": np.arange(2_000)}).groupby("customer_id").size())

        assert transient() == 2_000
        pd.DataFrame({"a": range(500)}).sum()                        # small: nothing
    finally:
        guard.stop()
    built = [r for r in read_log(log) if r["seen"].startswith("built at")]
    assert [r["what"] for r in read_log(log) if r["seen"].startswith("bound")] == ["started"]
    assert built and all(r["rows"] == 2_000 for r in built)
    assert all("test_scale_guard.py" in r["seen"] and "transient" in r["seen"] for r in built)
    assert len(built) == len({r["seen"] for r in built})             # one record per line
    n = len(read_log(log))
    pd.DataFrame({"a": np.arange(5_000)})                            # stopped: not recorded
    assert len(read_log(log)) == n

    from rfm_helpers.engine import DuckDBEngine
    from rfm_helpers.engine.fetch import recording_fetches
    with DuckDBEngine() as eng:
        with recording_fetches() as fetched:
            eng.fetch("SELECT range AS customer_id FROM range(3000)", label="everyone", kind="per_customer")
            eng.fetch("SELECT range AS seg FROM range(3000)", label="big aggregate", kind="aggregate")
        for rec in fetched:
            guard.on_fetch(rec)
    kinds = [(r["what"], r.get("kind")) for r in read_log(log)[n:]]
    assert kinds == [("fetch", "per_customer")]


def _transactions(n: int, path: Path, seed: int = 12) -> Path:
    """``n`` rows, skewed like CDNOW (a row's customer is floor(n * u^3): most customers buy
    once, a few very often), two years of dates, log-normal amounts in cents."""
    rng = np.random.default_rng(seed)
    ids = np.floor(n * rng.random(n) ** 3).astype(np.int64)
    start = np.datetime64("2023-01-01", "s")
    frame = pd.DataFrame({
        "customer_id": pd.Series(ids).map("{:09d}".format),
        "order_date": start + rng.integers(0, 730 * 86_400, n).astype("timedelta64[s]"),
        "amount": np.round(rng.lognormal(3.0, 0.8, n), 2),
    })
    frame.to_parquet(path, index=False)
    return path


@pytest.mark.slow
def test_notebooks_03_to_06_keep_customers_in_the_engine(tmp_path, monkeypatch):
    from rfm_helpers.report.run import run_month

    data = _transactions(200_000, tmp_path / "tx.parquet")
    customers = pd.read_parquet(data, columns=["customer_id"])["customer_id"].nunique()
    assert customers > 1.8 * BOUND, customers  # one row per customer is well above the bound
    cfg = tmp_path / "source.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        name: synthetic 200,000 transactions
        format: parquet
        path: {data}
        columns: {{customer_id: customer_id, order_date: order_date, amount: amount}}
        """), encoding="utf-8")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for nb in sorted((ROOT / "notebooks").glob("0[1-6]_*.ipynb")):
        shutil.copy(nb, notebooks / nb.name)
    # every kernel papermill starts runs this startup file: the guard, switched on by the variables
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-frame-guard.py").write_text(
        "from rfm_helpers.engine.guard import install_from_env\ninstall_from_env()\n", encoding="utf-8")
    log = tmp_path / "frames.jsonl"
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("RFM_FRAME_GUARD", str(BOUND))
    monkeypatch.setenv("RFM_FRAME_GUARD_LOG", str(log))
    run_month("2024-12", reports_dir=tmp_path / "reports", source_config=str(cfg), notebooks_dir=notebooks,
              progress=False)
    records = read_log(log)
    # the guard ran in the kernel of every notebook (each records that it started)
    started = {r["label"] for r in records if r["what"] == "started"}
    assert {nb.stem for nb in notebooks.glob("*.ipynb")} <= started, started
    offending = [r for r in records if r["label"] in CHECKED and r["what"] != "started"]
    assert not offending, "per-customer pandas objects in notebooks 03-06:\n" + "\n".join(
        f"  {r['label']} cell {r['cell']}: {r['what']} {r['rows']:,} rows {r['columns']} ({r['seen']})"
        for r in offending)
    assert os.path.exists(tmp_path / "reports" / "2024-12" / "index.html") or any(
        (tmp_path / "reports").rglob("*.html"))
