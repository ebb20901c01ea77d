"""Parquet read in place by DuckDB (``read_parquet``) gives exactly what the whole Arrow read gives.

The reference is the Arrow path (``RFM_LOAD_PARQUET_IN_PLACE=0``: the file read whole with
pyarrow, then prepared in Arrow, as before). Both paths run on the same nasty typed files and
every part of the result is compared: kept rows (in memory and as the run cache's Parquet
file), the quarantine file with its raw texts, reasons, counts, remarks, freshness, statuses.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rfm_helpers.load import DataValidationError, load_transactions
from rfm_helpers.load import loader as loader_mod


def _load(monkeypatch: pytest.MonkeyPatch, spec: dict, as_of: str, in_place: bool, clean_path: Path | None = None):
    used: list[bool] = []
    real = loader_mod.parquet_in_place

    def spy(raw, cols):
        used.append(real(raw, cols))
        return used[-1]

    monkeypatch.setenv("RFM_LOAD_PARQUET_IN_PLACE", "1" if in_place else "0")
    monkeypatch.setattr(loader_mod, "parquet_in_place", spy)
    result = load_transactions(spec, as_of, clean_path=clean_path)
    return result, (used[-1] if used else False)


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.clean, b.clean)
    pd.testing.assert_frame_equal(a.quarantine, b.quarantine)
    assert (a.rows_in, a.rows_kept, a.rows_quarantined) == (b.rows_in, b.rows_kept, b.rows_quarantined)
    assert a.rows_in == a.rows_kept + a.rows_quarantined
    assert a.remarks == b.remarks
    assert a.reason_counts().to_dict() == b.reason_counts().to_dict()
    assert (a.customers_lost, a.currency, a.statuses, a.column_map) == \
        (b.customers_lost, b.currency, b.statuses, b.column_map)
    assert (a.freshness, a.data_range) == (b.freshness, b.data_range)


def _both(monkeypatch, tmp_path: Path, spec: dict, as_of: str, expect_in_place: bool = True):
    ref, used_ref = _load(monkeypatch, spec, as_of, in_place=False)
    new, used_new = _load(monkeypatch, spec, as_of, in_place=True)
    assert not used_ref and used_new == expect_in_place
    _same(new, ref)
    # the run cache's way: kept rows written by DuckDB straight to a file
    ref_f, _ = _load(monkeypatch, spec, as_of, in_place=False, clean_path=tmp_path / "ref.parquet")
    new_f, _ = _load(monkeypatch, spec, as_of, in_place=True, clean_path=tmp_path / "new.parquet")
    _same(new_f, ref_f)
    assert pq.read_table(tmp_path / "new.parquet").equals(pq.read_table(tmp_path / "ref.parquet"))
    return new


def _nasty(n: int = 3000, seed: int = 7, id_kind: str = "text") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"C{int(i):05d}" for i in rng.integers(0, 400, n)]
    odd = ["C00001 ", " C00001", "C00\u00a0001", "C00001\u200b", "c00001", "7.70117E+11", "123.0", "C0  2",
           "null", "", None, "N/A", "C00003\t"]
    for k, v in enumerate(odd):
        ids[k * 37 % n] = v
    base = pd.Timestamp("2023-01-01")
    dates = base + pd.to_timedelta(rng.integers(0, 700, n), unit="D") + pd.to_timedelta(rng.integers(0, 86400, n),
                                                                                        unit="s")
    dates = pd.Series(dates.astype("datetime64[us]"))
    dates[5] = pd.NaT
    dates[6] = pd.Timestamp("1800-01-01")
    dates[7] = pd.Timestamp("2030-05-05")
    amounts = np.round(rng.gamma(2.0, 40.0, n), 2)
    amounts[8] = np.nan
    amounts[9] = 0.0
    amounts[10:14] = -np.abs(amounts[10:14])
    amounts[14] = 12.345  # more digits than the currency has
    amounts[15:25] = 1e7 + np.arange(10)  # outliers (distinct: the largest names its row)
    status = rng.choice(["completed", "Completed ", "cancelled", "refunded", "Доставлен", None], n)
    channel = rng.choice(["web", "store", None], n)
    frame = pd.DataFrame({"customer_id": ids, "order_date": dates, "amount": amounts, "status": status,
                          "channel": channel, "note": rng.choice(["a", "b", None], n)})
    frame = pd.concat([frame, frame.iloc[100:140]], ignore_index=True)  # exact repeats
    if id_kind == "int":
        frame["customer_id"] = pd.array(rng.integers(1, 500, len(frame)), dtype="Int64")
        frame.loc[3, "customer_id"] = pd.NA
    return frame


def test_nasty_text_ids_timestamps_statuses(monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "tx.parquet"
    _nasty().to_parquet(path, index=False)
    spec = {"path": str(path), "currency": "USD", "statuses": {"exclude": ["cancelled", "refunded"]},
            "columns": {"customer_id": "customer_id", "order_date": "order_date", "amount": "amount",
                        "status": "status", "channel": "channel"}}
    r = _both(monkeypatch, tmp_path, spec, "2024-10-31")
    reasons = set(r.reason_counts().index)
    assert {"missing_customer_id", "bad_customer_id", "bad_date", "bad_amount", "zero_amount",
            "excluded_status", "after_analysis_date"} <= reasons, reasons
    codes = {x.code for x in r.remarks}
    assert {"ids_cleaned", "ids_scientific", "statuses", "amount_rounded", "outliers"} <= codes, codes


def test_order_ids_refunds_and_exact_repeats(monkeypatch, tmp_path: Path) -> None:
    frame = _nasty(id_kind="int")
    rng = np.random.default_rng(3)
    frame["order_id"] = pd.array(rng.integers(1, 1200, len(frame)), dtype="Int64")
    frame.loc[20:25, "order_id"] = pd.NA
    frame["refund_of"] = pd.array([None] * len(frame), dtype="Int64")
    frame.loc[10:13, "refund_of"] = frame.loc[30:33, "order_id"].to_numpy()
    frame["quantity"] = rng.integers(1, 4, len(frame)).astype(float)
    frame = frame.drop(columns=["status"])
    frame.loc[40, "order_date"] = frame.loc[41, "order_date"]
    frame["order_date"] = frame["order_date"].dt.normalize()  # order lines of one day
    path = tmp_path / "orders.parquet"
    frame.to_parquet(path, index=False)
    cols = {"customer_id": "customer_id", "order_date": "order_date", "amount": "amount", "order_id": "order_id",
            "refund_of": "refund_of", "quantity": "quantity", "channel": "channel"}
    for dedupe in (True, False):
        spec = {"path": str(path), "currency": "EUR", "columns": cols, "returns": {"policy": "net"},
                "amounts": {"level": "line"},
                "cleaning": {"dedupe_with_order_id": dedupe}}
        r = _both(monkeypatch, tmp_path, spec, "2024-12-31")
        assert r.rows_quarantined > 0
        assert any(x.code == "ids_numeric_source" for x in r.remarks)


def test_dates_as_dates_integer_amounts_and_keep_returns(monkeypatch, tmp_path: Path) -> None:
    frame = _nasty(n=800, seed=11)
    table = pa.table({"Client ": pa.array(frame["customer_id"], pa.string()),
                      "day": pa.array(frame["order_date"].dt.date, pa.date32()),
                      "cents": pa.array(np.nan_to_num(frame["amount"].to_numpy() * 100).astype(np.int64)),
                      "status": pa.array(frame["status"], pa.large_string())})
    path = tmp_path / "days.parquet"
    pq.write_table(table, path, row_group_size=97)  # quarantined rows spread over many row groups
    spec = {"path": str(path), "currency": "RUB", "returns": {"policy": "keep"}, "statuses": {"include": ["completed"]},
            "columns": {"customer_id": "Client", "order_date": "day", "amount": "cents", "status": "status"}}
    r = _both(monkeypatch, tmp_path, spec, "2024-06-30")
    assert r.quarantine["raw_status" if "raw_status" in r.quarantine else "status"].notna().all()


def test_time_zones_and_text_amounts_fall_back_to_the_whole_read(monkeypatch, tmp_path: Path) -> None:
    frame = _nasty(n=500, seed=5)
    tz = frame.copy()
    tz["order_date"] = tz["order_date"].dt.tz_localize("Europe/Moscow", ambiguous="NaT", nonexistent="NaT")
    tz.to_parquet(tmp_path / "tz.parquet", index=False)
    spec = {"path": str(tmp_path / "tz.parquet"), "currency": "USD", "statuses": {"exclude": ["cancelled"]},
            "columns": {"customer_id": "customer_id", "order_date": "order_date", "amount": "amount",
                        "status": "status"}}
    r = _both(monkeypatch, tmp_path, spec, "2024-12-31", expect_in_place=False)
    assert r.remark("timezone_dropped") is not None
    text = frame.assign(amount=frame["amount"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}".replace(".", ",")))
    text.to_parquet(tmp_path / "text.parquet", index=False)
    spec = {**spec, "path": str(tmp_path / "text.parquet")}
    _both(monkeypatch, tmp_path, spec, "2024-12-31", expect_in_place=False)


def _refusals(monkeypatch, spec: dict) -> list[str]:
    """The refusal message of the whole read, then of the read in place."""
    messages = []
    for in_place in (False, True):
        monkeypatch.setenv("RFM_LOAD_PARQUET_IN_PLACE", "1" if in_place else "0")
        with pytest.raises(DataValidationError) as e:
            load_transactions(spec, "2024-12-31")
        messages.append(str(e.value))
    return messages


def test_refusals_are_the_same(monkeypatch, tmp_path: Path) -> None:
    frame = _nasty(n=300, seed=2)
    frame.loc[:, "status"] = "on hold"  # an unknown status: the whole source is refused
    frame.to_parquet(tmp_path / "st.parquet", index=False)
    spec = {"path": str(tmp_path / "st.parquet"),
            "columns": {"customer_id": "customer_id", "order_date": "order_date", "amount": "amount",
                        "status": "status"}}
    messages = _refusals(monkeypatch, spec)
    assert messages[0] == messages[1] and "on hold" in messages[0]
    # most dates unreadable (the 1800s) is refused with the same examples
    frame = _nasty(n=300, seed=2)
    frame["order_date"] = pd.Series([pd.Timestamp("1800-01-01")] * len(frame)).astype("datetime64[us]")
    frame.to_parquet(tmp_path / "old.parquet", index=False)
    spec = {"path": str(tmp_path / "old.parquet"), "columns": {"customer_id": "customer_id",
                                                               "order_date": "order_date", "amount": "amount"}}
    messages = _refusals(monkeypatch, spec)
    assert messages[0] == messages[1]


def test_a_wrong_column_name_is_named_before_anything_is_read(monkeypatch, tmp_path: Path) -> None:
    _nasty(n=50).to_parquet(tmp_path / "x.parquet", index=False)
    monkeypatch.setenv("RFM_LOAD_PARQUET_IN_PLACE", "1")
    with pytest.raises(DataValidationError, match="Did you mean 'amount'"):
        load_transactions({"path": str(tmp_path / "x.parquet"),
                           "columns": {"customer_id": "customer_id", "order_date": "order_date",
                                       "amount": "amont"}}, dt.date(2024, 12, 31))


@pytest.mark.parametrize("years", [1, 7, 12])  # one word of month bits; two; three (12 years = 144 months)
def test_load_page_facts_and_months_from_a_file_equal_pandas(tmp_path: Path, years: int) -> None:
    from rfm_helpers.load import describe_clean, monthly_activity
    from rfm_helpers.load.describe import _DONE

    rng = np.random.default_rng(years)
    n = 4000
    start = pd.Timestamp("2011-03-15")
    days = rng.integers(0, 365 * years, n)
    days[(days > 100) & (days < 200)] += 120  # months without any order in between
    frame = pd.DataFrame({
        "customer_id": pd.array([f"c{i}" for i in rng.integers(0, 700, n)], dtype="string"),
        "order_date": (start + pd.to_timedelta(days, unit="D") + pd.to_timedelta(rng.integers(0, 86400, n), unit="s"))
        .astype("datetime64[us]"),
        "amount": np.round(rng.gamma(2.0, 30.0, n), 2)})
    path = tmp_path / "clean.parquet"
    frame.to_parquet(path, index=False)
    _DONE.clear()
    facts = describe_clean(str(path))
    assert facts == pytest.approx(describe_clean(frame))
    pd.testing.assert_frame_equal(monthly_activity(str(path)), monthly_activity(frame), check_exact=False, rtol=1e-12)
    # computed once: the second ask is answered from the first pass
    assert len(_DONE) == 1 and describe_clean(str(path)) == facts
    frame.iloc[:0].to_parquet(tmp_path / "empty.parquet", index=False)
    assert describe_clean(str(tmp_path / "empty.parquet"))["rows"] == 0
    assert monthly_activity(str(tmp_path / "empty.parquet")).empty
