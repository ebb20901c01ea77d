"""Unit and property tests of rfm_helpers.load.

Cross-checks use independent computations on the raw file (plain pandas on the
CDNOW text, a direct SQLite query), never numbers copied from the loader's output.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfm_helpers.load import (REASONS, CleaningRules, DataValidationError, LoadResult, describe_clean,
                              load_transactions, monthly_activity)
from rfm_helpers.load import bundled as datasets
from rfm_helpers.report.i18n import translator


def _csv(tmp_path: Path, text: str, name: str = "t.csv", encoding: str = "utf-8") -> str:
    p = tmp_path / name
    p.write_text(text, encoding=encoding)
    return str(p)


# --- CDNOW ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cdnow() -> LoadResult:
    return load_transactions(datasets.cdnow_source(), analysis_date="1998-06-30")


def test_cdnow_accounting_matches_an_independent_read(cdnow: LoadResult) -> None:
    raw = pd.read_csv(datasets.cdnow_path(), sep=r"\s+", dtype=str)
    amount = raw["dollar_value"].astype(float)
    assert cdnow.rows_in == len(raw)
    assert cdnow.rows_quarantined == int((amount == 0).sum())
    assert cdnow.reason_counts().to_dict() == {"zero_amount": int((amount == 0).sum())}
    assert cdnow.rows_kept == int((amount != 0).sum())
    assert cdnow.remarks == [] and cdnow.currency == "USD"
    # no order id: exact duplicate rows are separate purchases and all are kept
    assert cdnow.clean.duplicated().sum() == raw[amount != 0].duplicated().sum() > 0
    # quarantined lines really are the zero-amount lines of the file (header = line 1)
    assert sorted(cdnow.quarantine["source_row"]) == sorted((np.flatnonzero(amount == 0) + 2).tolist())
    assert cdnow.clean["customer_id"].str.len().eq(5).all()
    assert cdnow.clean["amount"].sum() == pytest.approx(amount.sum())
    assert cdnow.source_name == "CDNOW (bundled sample)"


def test_cdnow_accounting_table(cdnow: LoadResult) -> None:
    acc = cdnow.accounting()
    kept = acc.loc[acc["outcome"] == "kept", "rows"].item()
    total = acc.loc[acc["outcome"] == "total", "rows"].item()
    quarantined = acc.loc[acc["outcome"] == "quarantined", "rows"].sum()
    assert total == kept + quarantined == cdnow.rows_in
    assert acc.loc[acc["outcome"] == "total", "share"].item() == 1.0
    assert acc["share"].iloc[:-1].sum() == pytest.approx(1.0)
    from rfm_helpers.report.texts.load import accounting_view

    ru = accounting_view(cdnow, translator("ru", "USD"))
    assert ru.iloc[0].tolist() == ["оставлено", "", "оставлено для анализа", "69\u00a0579", "99,89\u00a0%"]
    assert ru.iloc[1, 2] == "нулевая сумма" and list(ru.columns)[0] == "Итог"


def test_cdnow_dates_and_summary(cdnow: LoadResult) -> None:
    d = describe_clean(cdnow.clean)
    raw = datasets.read_cdnow_raw()
    assert d["first_date"] == dt.date(1997, 1, 1) and d["last_date"] == dt.date(1998, 6, 30)
    assert d["customers"] == raw.loc[raw["dollar_value"] > 0, "customer_id"].nunique()
    only_zero = raw.groupby("customer_id")["dollar_value"].apply(lambda a: (a == 0).all()).sum()
    assert cdnow.customers_fully_quarantined() == only_zero == raw["customer_id"].nunique() - d["customers"]
    m = monthly_activity(cdnow.clean)
    assert len(m) == 18 and m["orders"].sum() == cdnow.rows_kept
    assert m["revenue"].sum() == pytest.approx(cdnow.clean["amount"].sum())


def test_monthly_plot_has_titles_and_units(cdnow: LoadResult) -> None:
    import matplotlib.pyplot as plt

    from rfm_helpers.report.charts.load import plot_monthly_activity

    fig = plot_monthly_activity(monthly_activity(cdnow.clean), translator("en", "USD"))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Orders per month", "Revenue per month"]
    assert "$" in fig.axes[1].get_ylabel()
    plt.close(fig)
    fig = plot_monthly_activity(monthly_activity(cdnow.clean), translator("ru", "RUB"))
    assert [ax.get_title() for ax in fig.axes] == ["Заказы по месяцам", "Выручка по месяцам"]
    assert "₽" in fig.axes[1].get_ylabel()
    plt.close(fig)


# --- individual rules ------------------------------------------------------------------

def test_reason_order_first_applicable_wins(tmp_path: Path) -> None:
    # blank id AND negative AND future: the id problem is reported
    path = _csv(tmp_path, "customer_id,order_date,amount\n,2099-01-01,-5\n1,2099-01-01,-5\n2,2024-01-01,-5\n")
    r = load_transactions(path, "2024-12-31")
    assert r.quarantine["reason"].tolist() == ["missing_customer_id", "after_analysis_date", "return_or_cancellation"]
    assert r.rows_kept == 0


def test_rules_can_keep_negative_and_zero(tmp_path: Path) -> None:
    path = _csv(tmp_path, "customer_id,order_date,amount\n1,2024-01-01,-5\n2,2024-01-01,0\n3,2024-01-01,1\n")
    r = load_transactions({"path": path, "returns": {"policy": "keep"}, "cleaning": {"quarantine_zero": False}})
    assert r.rows_kept == 3 and r.clean["amount"].tolist() == [-5, 0, 1]
    assert r.remark("returns_kept").values == {"rows": 1, "amount": 5.0}
    r2 = load_transactions({"path": path, "cleaning": {"quarantine_zero": False}})
    assert r2.reason_counts().to_dict() == {"return_or_cancellation": 1}
    with pytest.raises(DataValidationError, match="unknown key 'quarantine_zeros' in cleaning. Did you mean "
                                                  "'quarantine_zero'"):
        load_transactions({"path": path, "cleaning": {"quarantine_zeros": False}})


def test_share_threshold_is_configurable(tmp_path: Path) -> None:
    rows = "".join(f"{i},{'2024-01-05' if i % 10 else 'x'},5\n" for i in range(50))
    path = _csv(tmp_path, "customer_id,order_date,amount\n" + rows)
    with pytest.raises(DataValidationError, match=r"5 of 50 dates \(10%\)"):
        load_transactions(path)
    r = load_transactions(path, rules=CleaningRules(max_bad_share=0.2))
    assert r.reason_counts().to_dict() == {"bad_date": 5}
    assert r.quarantine["source_row"].tolist() == [2, 12, 22, 32, 42]
    assert (r.quarantine["reason_detail"] == "unreadable").all()


def test_small_files_are_not_failed_by_the_share_rule(tmp_path: Path) -> None:
    path = _csv(tmp_path, "customer_id,order_date,amount\n1,2024-01-01,5\n2,later,5\n")
    r = load_transactions(path)
    assert r.reason_counts().to_dict() == {"bad_date": 1}


def test_column_mapping_and_quarantine_keeps_original_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path, "Клиент;Дата;Сумма;Заметка\n001;01.02.2024;100,5;ok\n002;01.02.2024;-1;возврат\n")
    spec = {"path": path, "columns": {"customer_id": "Клиент", "order_date": "Дата", "amount": "Сумма"}}
    r = load_transactions(spec)
    assert r.clean.to_dict("list") == {"customer_id": ["001"], "order_date": [pd.Timestamp("2024-02-01")],
                                       "amount": [100.5]}
    q = r.quarantine
    assert list(q.columns) == ["source_row", "reason", "reason_detail", "reason_value", "Клиент", "Дата", "Сумма",
                               "Заметка"]
    assert q.iloc[0].tolist() == [3, "return_or_cancellation", "unlinked", pd.NA, "002", "01.02.2024", "-1",
                                  "возврат"]


def test_write_quarantine_is_excel_friendly_utf8_bom(tmp_path: Path) -> None:
    path = _csv(tmp_path, "customer_id,order_date,amount,channel\n1,2024-01-01,0,Розница\n2,2024-01-01,5,Опт\n")
    r = load_transactions({"path": path, "columns": {"channel": "channel"}})
    from rfm_helpers.report.texts.load import explain_quarantine

    out = r.write_quarantine(tmp_path / "sub" / "quarantine.csv", explain=explain_quarantine(translator("ru")))
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert back.to_dict("list") == {"source_row": ["2"], "reason": ["zero_amount"], "reason_detail": [""],
                                    "reason_value": [""], "explanation": ["нулевая сумма"],
                                    "customer_id": ["1"], "order_date": ["2024-01-01"], "amount": ["0"],
                                    "channel": ["Розница"]}


def test_post_init_refuses_inconsistent_counts() -> None:
    empty = pd.DataFrame()
    with pytest.raises(AssertionError):
        LoadResult(clean=empty, quarantine=empty, rows_in=1, rows_kept=0, rows_quarantined=0, source_name="x")


def test_analysis_date_is_inclusive_and_accepts_dates(tmp_path: Path) -> None:
    path = _csv(tmp_path, "customer_id,order_date,amount\n1,2024-06-30 23:59,5\n2,2024-07-01 00:00,5\n")
    for as_of in ("2024-06-30", dt.date(2024, 6, 30), pd.Timestamp("2024-06-30")):
        r = load_transactions(path, as_of)
        assert r.rows_kept == 1 and r.reason_counts().to_dict() == {"after_analysis_date": 1}


def test_dataframe_source_with_typed_columns() -> None:
    df = pd.DataFrame({"customer_id": [1, 2, 3], "order_date": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
                       "amount": [1.5, 0.0, 3.0]})
    r = load_transactions(df)
    assert r.clean["customer_id"].tolist() == ["1"]
    assert r.reason_counts().to_dict() == {"bad_date": 1, "zero_amount": 1}
    assert r.quarantine["source_row"].tolist() == [2, 3]
    assert r.source_name == "DataFrame"


def test_tz_aware_datetime_column_keeps_local_wall_time() -> None:
    ts = pd.to_datetime(["2024-03-01 23:30"]).tz_localize("Europe/Moscow")
    r = load_transactions(pd.DataFrame({"customer_id": ["a"], "order_date": ts, "amount": [1.0]}))
    assert r.clean["order_date"].iloc[0] == pd.Timestamp("2024-03-01 23:30")


# --- formats ----------------------------------------------------------------------------

def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "Клиент": ["001", "002", "003", "004"],
        "Дата": pd.to_datetime(["2024-01-01", "2024-02-15", "2024-03-31", "2024-04-01"]),
        "Сумма": [10.5, 0.0, 30.25, -4.0],
        "Канал": ["Розница", "Интернет", "Розница", "Опт"],
    })


MAPPING = {"customer_id": "Клиент", "order_date": "Дата", "amount": "Сумма", "channel": "Канал"}


def _expected_outcome(r: LoadResult) -> None:
    assert r.clean["customer_id"].tolist() == ["001", "003"]
    assert r.clean["order_date"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-03-31")]
    assert r.clean["amount"].tolist() == [10.5, 30.25]
    assert r.clean["channel"].tolist() == ["Розница", "Розница"]
    assert r.reason_counts().to_dict() == {"return_or_cancellation": 1, "zero_amount": 1}


def test_excel_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "tx.xlsx"
    _frame().to_excel(path, index=False, sheet_name="Продажи")
    r = load_transactions({"path": str(path), "columns": MAPPING, "excel": {"sheet": "Продажи"}})
    _expected_outcome(r)
    assert r.quarantine["source_row"].tolist() == [3, 5]  # sheet rows, header is row 1
    assert r.source_name == "tx.xlsx"


def test_parquet_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "tx.parquet"
    _frame().to_parquet(path, index=False)
    r = load_transactions({"path": str(path), "columns": MAPPING})
    _expected_outcome(r)
    assert r.quarantine["source_row"].tolist() == [2, 4]


def test_csv_round_trip_of_the_same_frame(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    _frame().to_csv(path, index=False, sep=";", decimal=",", encoding="cp1251")
    r = load_transactions({"path": str(path), "columns": MAPPING})
    _expected_outcome(r)
    assert r.remark("encoding_detected").values == {"encoding": "cp1251"}
    assert r.remark("decimal_comma").values == {"column": "Сумма"}


# --- SQL ------------------------------------------------------------------------------

@pytest.fixture()
def sqlite_db(tmp_path: Path) -> Path:
    db = tmp_path / "shop secret.db"
    with sqlite3.connect(db) as con:
        _frame().assign(Дата=lambda d: d["Дата"].dt.strftime("%Y-%m-%d")).rename(
            columns={"Клиент": "client", "Дата": "day", "Сумма": "total", "Канал": "channel"}).to_sql("sales", con)
    return db


def test_sql_source_via_sqlalchemy_url_from_env(sqlite_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{sqlite_db}"
    monkeypatch.setenv("SHOP_DB", url)
    spec = {"format": "sql", "name": url, "sql": {"query": "SELECT client, day, total, channel FROM sales",
                                                  "url_env": "SHOP_DB"},
            "columns": {"customer_id": "client", "order_date": "day", "amount": "total", "channel": "channel"}}
    r = load_transactions(spec)
    _expected_outcome(r)
    # independent check straight from SQLite
    with sqlite3.connect(sqlite_db) as con:
        n = con.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
    assert r.rows_in == n
    assert r.source_name == "SQL query"
    everything = repr(r) + r.quarantine.to_csv() + r.clean.to_csv() + r.accounting().to_csv()
    assert str(sqlite_db) not in everything and "sqlite:" not in everything


def test_sql_errors_never_show_the_url(sqlite_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{sqlite_db}"
    monkeypatch.setenv("RFM_DB_URL", url)
    with pytest.raises(DataValidationError) as info:
        load_transactions({"format": "sql", "sql": {"query": "SELECT * FROM no_such_table"}})
    msg = str(info.value)
    assert msg.startswith("SQL query: the database query failed") and "no_such_table" in msg
    assert str(sqlite_db) not in msg and "sqlite:" not in msg
    monkeypatch.setenv("RFM_DB_URL", "postgresql://alice:pa55word@db.invalid:1/shop")
    with pytest.raises(DataValidationError) as info:
        load_transactions({"format": "sql", "sql": {"query": "SELECT 1"}})
    assert "pa55word" not in str(info.value) and "alice" not in str(info.value) and "db.invalid" not in str(info.value)
    monkeypatch.delenv("RFM_DB_URL")
    with pytest.raises(DataValidationError, match="RFM_DB_URL"):
        load_transactions({"format": "sql", "sql": {"query": "SELECT 1"}})


# --- properties ---------------------------------------------------------------------------

_GOOD_DATES = st.dates(dt.date(2020, 1, 1), dt.date(2024, 12, 31))
_BAD_DATES = st.sampled_from(["", "n/a", "31.02.2024", "soon", "2024-13-01"])
_BAD_AMOUNTS = st.sampled_from(["", "abc", "1.2.3x", "NULL"])


@st.composite
def _rows(draw):
    n = draw(st.integers(1, 40))
    rows = []
    for _ in range(n):
        cid = draw(st.sampled_from(["001", "002", "42", "Анна", "", "  ", "n/a"]))
        d = draw(_GOOD_DATES)
        date = draw(st.one_of(st.just(d.strftime("%d.%m.%Y")), st.just(d.isoformat()), st.just(d.strftime("%Y%m%d")),
                              _BAD_DATES))
        amount = draw(st.one_of(st.floats(-100, 1e6, allow_nan=False).map(lambda x: f"{x:.2f}"),
                                st.just("0"), _BAD_AMOUNTS))
        oid = draw(st.sampled_from(["A", "B", "C"]))
        rows.append((cid, date, amount, oid))
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_rows(), use_order_id=st.booleans())
def test_property_partition_of_rows(tmp_path: Path, rows, use_order_id: bool) -> None:
    text = "customer_id;order_date;amount;order_id\n" + "".join(";".join(r) + "\n" for r in rows)
    path = tmp_path / "prop.csv"
    path.write_text(text, encoding="utf-8")
    spec = {"path": str(path), "csv": {"sep": ";"}, "amounts": {"decimal": ".", "level": "line"},
            "returns": {"policy": "quarantine"}, "columns": {"order_id": "order_id"} if use_order_id else {}}
    rules = CleaningRules(max_bad_share=1.0)
    try:
        r = load_transactions(spec, "2024-06-30", rules=rules)
    except DataValidationError as e:
        # only whole-column problems may fail the load
        assert "every row" in str(e) or "none of the values" in str(e)
        return
    assert r.rows_in == len(rows) == r.rows_kept + r.rows_quarantined
    assert r.quarantine["reason"].isin(REASONS).all()
    assert r.quarantine["reason"].str.len().gt(0).all()
    # reconstruct which lines were kept: every line is exactly one of kept / quarantined
    qlines = set(r.quarantine["source_row"])
    assert len(qlines) == r.rows_quarantined
    kept_lines = [i + 2 for i in range(len(rows)) if i + 2 not in qlines]
    assert len(kept_lines) == r.rows_kept
    for line, (_, row) in zip(kept_lines, r.clean.iterrows()):
        cid, date, amount, oid = rows[line - 2]
        assert row["customer_id"] == cid.strip() and cid.strip() not in ("", "n/a")
        assert row["amount"] == pytest.approx(float(amount)) and row["amount"] > 0
        assert row["order_date"] <= pd.Timestamp("2024-06-30")
        if use_order_id:
            assert row["order_id"] == oid
    assert r.clean["customer_id"].notna().all() and r.clean["order_date"].notna().all()
    if use_order_id:
        assert not r.clean.duplicated().any()


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(0.01, 1e7, allow_nan=False), min_size=1, max_size=20),
       style=st.sampled_from(["ru", "us", "plain", "swiss"]))
def test_property_amount_formats_round_trip(values, style) -> None:
    def fmt(x: float) -> str:
        s = f"{x:,.2f}"
        if style == "ru":
            return s.replace(",", "\u00a0").replace(".", ",") + " ₽"
        if style == "swiss":
            return s.replace(",", "'")
        if style == "plain":
            return f"{x:.2f}"
        return "$" + s
    df = pd.DataFrame({"customer_id": "c", "order_date": "2024-01-01", "amount": [fmt(v) for v in values]})
    r = load_transactions(df)
    assert r.clean["amount"].tolist() == pytest.approx([round(v, 2) for v in values])


