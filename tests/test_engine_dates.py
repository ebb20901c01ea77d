"""Calendar dates on DuckDB: no result depends on the machine's TZ; instants need a zone.

CDNOW gets a time of day on every purchase (some just after midnight, some just before),
then RFM is computed from several encodings of the same wall-clock times - naive frame,
Parquet, tz-aware frame, Parquet written the way Spark writes TIMESTAMP (INT96, or INT64
adjusted to UTC, no zone recorded) - in fresh processes whose TZ is not UTC. Every table
must equal the one computed here from the naive frame. Spark runs the same checks in
test_engines.py.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rfm_helpers.load import bundled as datasets
from rfm_helpers import engine as E
from rfm_helpers.rfm import compute_rfm, compute_scored_rfm

AS_OF = "1998-06-30"
ZONE = "Europe/Moscow"


@pytest.fixture(scope="module")
def wall_clock() -> pd.DataFrame:
    """CDNOW with times of day: every third purchase at 00:15, every third at 23:45."""
    raw = datasets.read_cdnow_raw()
    day = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    minutes = np.choose(np.arange(len(raw)) % 3, [15, 12 * 60, 23 * 60 + 45])
    return pd.DataFrame({
        "customer_id": raw["customer_id"].astype("string"),
        "order_date": (day + pd.to_timedelta(minutes, unit="min")).astype("datetime64[ns]"),
        "amount": raw["dollar_value"].astype("float64"),
    })


def instants(frame: pd.DataFrame, zone: str = ZONE) -> pd.DataFrame:
    """The same wall-clock times as points in time in ``zone`` (as a Spark session there stores them)."""
    local = frame["order_date"].dt.tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
    return frame.assign(order_date=local)


def spark_style_parquet(frame: pd.DataFrame, path, int96: bool) -> None:
    """UTC instants without any zone name, as Spark writes TIMESTAMP columns."""
    utc = instants(frame).assign(order_date=lambda d: d["order_date"].dt.tz_convert("UTC"))
    table = pa.Table.from_pandas(utc, preserve_index=False)
    pq.write_table(table, path, use_deprecated_int96_timestamps=int96, store_schema=False)


@pytest.fixture(scope="module")
def reference(wall_clock) -> pd.DataFrame:
    return compute_scored_rfm(wall_clock, AS_OF)


@pytest.fixture(scope="module")
def files(wall_clock, tmp_path_factory):
    d = tmp_path_factory.mktemp("dates")
    E.write_parquet(wall_clock, d / "naive.parquet")
    instants(wall_clock).to_parquet(d / "pandas_moscow.parquet")  # zone name kept in the schema
    spark_style_parquet(wall_clock, d / "int96.parquet", int96=True)
    spark_style_parquet(wall_clock, d / "utc.parquet", int96=False)
    wall_clock.to_pickle(d / "naive.pkl")
    instants(wall_clock).to_pickle(d / "moscow.pkl")
    return d


def test_the_premise_utc_instants_read_naively_move_dates(files, wall_clock):
    """What a reader that ignores the flags sees: the UTC wall clock, hours before Moscow's."""
    naive_read = pd.read_parquet(files / "int96.parquet")["order_date"]
    moved = (naive_read.dt.date != wall_clock["order_date"].dt.date).sum()
    assert moved == (wall_clock["order_date"].dt.hour == 0).sum() > 20_000


@pytest.mark.parametrize("name", ["int96.parquet", "utc.parquet"])
def test_instants_without_a_zone_are_refused_with_the_option(files, name):
    with pytest.raises(E.EngineDateError, match=r"order_date.*holds instants.*time_zone='Area/City'"):
        compute_rfm(files / name, AS_OF)


def test_instants_become_calendar_dates_of_the_zone(files, wall_clock, reference):
    frame = pd.read_pickle(files / "moscow.pkl")
    pd.testing.assert_frame_equal(compute_scored_rfm(frame, AS_OF), reference)  # zone of the frame
    pd.testing.assert_frame_equal(compute_scored_rfm(files / "pandas_moscow.parquet", AS_OF), reference)
    for name in ("int96.parquet", "utc.parquet"):
        pd.testing.assert_frame_equal(compute_scored_rfm(files / name, AS_OF, time_zone=ZONE), reference)
    # the same instants seen from another zone give that zone's dates (recency moves)
    tokyo = compute_rfm(files / "int96.parquet", AS_OF, time_zone="Asia/Tokyo")
    assert (tokyo["recency_days"] != reference["recency_days"]).any()
    # naive timestamps are wall-clock times already: time_zone does not touch them
    pd.testing.assert_frame_equal(compute_scored_rfm(wall_clock, AS_OF, time_zone="Asia/Tokyo"), reference)


def test_fixed_offsets_and_bad_zone_names():
    frame = pd.DataFrame({"customer_id": pd.array(["a"], dtype="string"),
                          "order_date": pd.to_datetime(["2024-01-01 00:30"]).tz_localize("+03:00"),
                          "amount": [1.0]})
    assert compute_rfm(frame, "2024-01-31")["last_purchase"].iloc[0] == pd.Timestamp("2024-01-01")
    with pytest.raises(ValueError, match="not a time zone name"):
        compute_rfm(frame, "2024-01-31", time_zone="Moscow")


CHILD = textwrap.dedent("""
    import sys, pandas as pd
    from pathlib import Path
    from rfm_helpers.rfm import compute_scored_rfm
    d, out = Path(sys.argv[1]), Path(sys.argv[2])
    runs = {
        "naive frame": compute_scored_rfm(pd.read_pickle(d / "naive.pkl"), "1998-06-30"),
        "moscow frame": compute_scored_rfm(pd.read_pickle(d / "moscow.pkl"), "1998-06-30"),
        "naive parquet": compute_scored_rfm(d / "naive.parquet", "1998-06-30"),
        "pandas parquet": compute_scored_rfm(d / "pandas_moscow.parquet", "1998-06-30"),
        "int96 parquet": compute_scored_rfm(d / "int96.parquet", "1998-06-30", time_zone="Europe/Moscow"),
        "utc parquet": compute_scored_rfm(d / "utc.parquet", "1998-06-30", time_zone="Europe/Moscow"),
    }
    pd.concat(runs, names=["run"]).reset_index(level=0).to_pickle(out)
""")


@pytest.mark.parametrize("tz", ["America/Sao_Paulo", "Asia/Kathmandu"])
def test_duckdb_results_do_not_depend_on_the_machine_time_zone(files, reference, tmp_path, tz):
    out = tmp_path / "runs.pkl"
    res = subprocess.run([sys.executable, "-c", CHILD, str(files), str(out)], env={**os.environ, "TZ": tz},
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    runs = pd.read_pickle(out)
    assert runs["run"].nunique() == 6
    for name, got in runs.groupby("run", sort=False):
        got = got.drop(columns="run").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, reference, obj=f"{name} under TZ={tz}")
