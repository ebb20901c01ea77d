"""Export files: CSV with BOM in EN/RU conventions, XLSX sheets per segment, formula
injection neutralised, test recipients, call-list priority."""
from __future__ import annotations

import csv

import numpy as np
import openpyxl
import pandas as pd
import pytest

from rfm_helpers.exports import (call_priority, load_test_recipients, mailing_table, neutralize_formulas,
                                 read_export_csv, write_call_list, write_mailing_lists)
from rfm_helpers.rfm import score_quantiles
from rfm_helpers.segments import assign_segments, load_segment_maps

BOM = b"\xef\xbb\xbf"


def assigned(language="en", n=200, seed=0, map_name="classic"):
    rng = np.random.default_rng(seed)
    freq = rng.geometric(0.4, n)
    tenure = rng.integers(0, 700, n)
    rec = np.minimum(tenure, rng.integers(0, 700, n))
    df = pd.DataFrame({
        "customer_id": pd.array([f"{i:05d}" for i in range(n)], dtype="string"),
        "recency_days": rec.astype("int64"), "frequency": freq.astype("int64"),
        "monetary": np.round(freq * rng.gamma(2.0, 25.0, n), 2), "tenure_days": tenure.astype("int64"),
    })
    as_of = pd.Timestamp("2024-12-31")
    df["first_purchase"] = as_of - pd.to_timedelta(df["tenure_days"], unit="D")
    df["last_purchase"] = as_of - pd.to_timedelta(df["recency_days"], unit="D")
    return assign_segments(score_quantiles(df), map_name, language)


def test_neutralize_formulas():
    df = pd.DataFrame({"t": ["=SUM(A1:A9)", "+7", "-2+3", "@cmd", "\tx", "plain", "a=b", None],
                       "n": [-5, 1, 2, 3, 4, 5, 6, 7]})
    out = neutralize_formulas(df)
    assert out["t"].tolist()[:7] == ["'=SUM(A1:A9)", "'+7", "'-2+3", "'@cmd", "'\tx", "plain", "a=b"]
    assert pd.isna(out["t"].iloc[7])
    assert out["n"].tolist() == df["n"].tolist()  # numbers untouched
    assert df["t"].iloc[0] == "=SUM(A1:A9)"  # input not modified
    assert neutralize_formulas(pd.DataFrame({"=x": [1]})).columns.tolist() == ["'=x"]


def test_mailing_table_columns_by_hand():
    a = assigned()
    t = mailing_table(a, "en")
    assert len(t) == len(a) and (t["is_test"] == 0).all()
    row = t.iloc[0]
    src = a.set_index("customer_id").loc[row["customer_id"]]
    assert row["days_since_last_order"] == src["recency_days"]
    assert row["last_order_date"] == src["last_purchase"].strftime("%Y-%m-%d")
    assert row["total_spend"] == pytest.approx(src["monetary"])
    assert row["average_order_value"] == pytest.approx(round(src["monetary"] / src["frequency"], 2))
    strat = {s["key"]: s["strategy"]["en"] for s in load_segment_maps()["maps"]["classic"]["segments"]}
    assert (t["suggested_offer"] == t["segment"].map(strat)).all()


def test_mailing_lists_csv_bom_en_and_test_recipients(tmp_path):
    a = assigned("en")
    tests = [{"customer_id": "TEST-1", "email": "qa@example.com"},
             {"customer_id": "TEST-2", "email": "=HYPERLINK(\"http://x\")"}]
    manifest = write_mailing_lists(a, tmp_path, "en", test_recipients=tests)
    counts = a["segment"].astype(str).value_counts()
    assert set(manifest["segment"]) == set(counts.index)
    for r in manifest.itertuples():
        path = tmp_path / r.csv_file
        raw = path.read_bytes()
        assert raw.startswith(BOM)
        header = raw[len(BOM):].split(b"\r\n")[0].decode("utf-8")
        assert next(csv.reader([header], delimiter=","))[0] == "customer_id"
        back = read_export_csv(path, "en")
        real = back[back["is_test"] == 0]
        assert len(real) == counts[r.segment] == r.customers
        assert real["customer_id"].str.len().eq(5).all()  # leading zeros kept
        test_rows = back[back["is_test"] == 1]
        assert test_rows["customer_id"].tolist() == ["TEST-1", "TEST-2"]
        assert (test_rows["segment"] == r.segment).all()
        assert test_rows["email"].tolist() == ["qa@example.com", "'=HYPERLINK(\"http://x\")"]
        # integer columns are written as integers even with test rows appended
        text = raw.decode("utf-8-sig").split("\r\n")[1]
        row = next(csv.reader([text]))
        assert "." not in row[header.split(",").index("recency_days")]


def test_csv_ru_uses_semicolon_and_decimal_comma(tmp_path):
    a = assigned("ru")
    manifest = write_mailing_lists(a, tmp_path, "ru", formats=["csv"])
    first = manifest.iloc[0]
    text = (tmp_path / first.csv_file).read_bytes()[len(BOM):].decode("utf-8")
    lines = text.split("\r\n")
    header = lines[0].split(";")
    assert header[:3] == ["customer_id", "segment", "segment_label"]
    row = next(csv.reader([lines[1]], delimiter=";"))
    assert "," in row[header.index("monetary")] or float(row[header.index("monetary")]).is_integer()
    back = read_export_csv(tmp_path / first.csv_file, "ru")
    assert back["segment_label"].iloc[0] == first.label
    assert any(ch in first.label for ch in "абвгдеёжзийклмнопрстуфхцчшщъыьэюя")
    src = a.set_index("customer_id")
    assert back.set_index("customer_id")["monetary"].to_dict() == pytest.approx(
        src.loc[back["customer_id"], "monetary"].to_dict())


def test_xlsx_one_sheet_per_segment_and_no_formulas(tmp_path):
    a = assigned("ru", map_name="three_groups")
    manifest = write_mailing_lists(a, tmp_path, "ru", test_recipients=[{"customer_id": "=1+1", "name": "@evil"}])
    wb = openpyxl.load_workbook(tmp_path / "mailing_lists.xlsx")
    assert wb.sheetnames == manifest["xlsx_sheet"].tolist()
    assert all(len(n) <= 31 for n in wb.sheetnames)
    for r in manifest.itertuples():
        ws = wb[r.xlsx_sheet]
        assert ws.max_row == 1 + r.customers + 1  # header + customers + one test row
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (r.xlsx_sheet, cell.coordinate, cell.value)
        df = pd.read_excel(tmp_path / "mailing_lists.xlsx", sheet_name=r.xlsx_sheet, dtype={"customer_id": str})
        assert df["customer_id"].iloc[-1] == "'=1+1" and df["name"].iloc[-1] == "'@evil"
        assert (df["is_test"].iloc[:-1] == 0).all() and df["is_test"].iloc[-1] == 1


def test_test_recipients_from_csv_and_errors(tmp_path):
    p = tmp_path / "tests.csv"
    p.write_bytes(BOM + "customer_id;email\r\nT1;a@b.c\r\n".encode("utf-8"))
    df = load_test_recipients(p)
    assert df.to_dict("records") == [{"customer_id": "T1", "email": "a@b.c"}]
    with pytest.raises(KeyError, match="customer_id"):
        load_test_recipients([{"email": "x@y.z"}])
    with pytest.raises(ValueError, match="non-empty"):
        load_test_recipients([{"customer_id": ""}])
    assert load_test_recipients(None).empty


def test_call_priority_is_weight_times_spend_percentile():
    a = assigned(n=300, seed=3)
    pr = call_priority(a)
    weights = {s["key"]: s["call_weight"] for s in load_segment_maps()["maps"]["classic"]["segments"]}
    # independent percentile: share of customers with lower spend + half the ties (incl. self)
    m = a["monetary"].to_numpy()
    pct = np.array([((m < v).sum() + ((m == v).sum() + 1) / 2) / len(m) for v in m])
    expected = a["segment"].astype(str).map(weights).to_numpy() * pct
    assert np.allclose(pr.to_numpy(), expected)


def test_call_list_order_segments_and_limit(tmp_path):
    a = assigned("en", n=400, seed=4)
    info = write_call_list(a, tmp_path, "en", max_rows=50, test_recipients=[{"customer_id": "QA"}])
    back = read_export_csv(tmp_path / info["csv_file"], "en")
    real = back[back["is_test"] == 0]
    assert len(real) == info["rows"] <= 50 and info["test_rows"] == 1
    assert back["customer_id"].iloc[-1] == "QA" and back["is_test"].iloc[-1] == 1
    assert real["call_priority"].is_monotonic_decreasing
    assert real["priority_rank"].tolist() == list(range(1, len(real) + 1))
    weights = {s["key"]: s["call_weight"] for s in load_segment_maps()["maps"]["classic"]["segments"]}
    assert all(weights[s] > 0 for s in real["segment"])
    tp = {s["key"]: s["talking_points"]["en"] for s in load_segment_maps()["maps"]["classic"]["segments"]}
    assert (real["talking_points"] == real["segment"].map(tp)).all()
    # the top of the full list is the highest weight x percentile customer
    full = call_priority(a)
    assert real["call_priority"].iloc[0] == pytest.approx(round(full.max(), 4))
    assert (tmp_path / info["xlsx_file"]).exists()


def test_bad_options(tmp_path):
    a = assigned()
    with pytest.raises(ValueError, match="csv_locale"):
        write_mailing_lists(a, tmp_path, csv_locale="de")
    with pytest.raises(ValueError, match="format"):
        write_mailing_lists(a, tmp_path, formats=["pdf"])
    with pytest.raises(ValueError, match="not in map"):
        write_mailing_lists(a, tmp_path, segments=["vip"])


def test_xlsx_skipped_above_row_limit(tmp_path):
    a = assigned(n=120)
    manifest = write_mailing_lists(a, tmp_path, "en", xlsx_max_rows=50)
    assert "xlsx_max_rows" in manifest.attrs["xlsx_skipped"]
    assert not (tmp_path / "mailing_lists.xlsx").exists()
    assert manifest["customers"].sum() == 120 and (manifest["csv_file"] != "").all()
    info = write_call_list(a, tmp_path, "en", xlsx_max_rows=1)
    assert info["xlsx_file"] == "" and info["xlsx_skipped"] and not (tmp_path / "call_list.xlsx").exists()


def test_call_list_top_rows_match_sorting_everyone_with_ties(tmp_path):
    # Ties in spend (hence in priority) at the cut: the pre-filter must pick the same rows,
    # in the same order, as sorting the whole customer base by the documented keys.
    a = assigned("en", n=600, seed=9)
    a["monetary"] = (a["monetary"] // 40) * 40.0
    info = write_call_list(a, tmp_path, "en", max_rows=37)
    got = read_export_csv(tmp_path / info["csv_file"], "en")
    expected = a.assign(call_priority=call_priority(a).round(4))
    expected = expected[expected["call_priority"] > 0].sort_values(
        ["call_priority", "monetary", "recency_days", "customer_id"],
        ascending=[False, False, True, True], kind="mergesort").head(37)
    assert got["customer_id"].tolist() == expected["customer_id"].astype(str).tolist()
    everyone = write_call_list(a, tmp_path, "en", name="all")
    assert everyone["rows"] == int((call_priority(a) > 0).sum())


def test_neutralize_formulas_keeps_dtypes_of_text_columns():
    df = pd.DataFrame({"s": pd.array(["=1", "ok", None], dtype="string"),
                       "c": pd.Categorical(["-x", "y", "-x"]),
                       "o": pd.Series(["@a", 5, None], dtype=object)})
    out = neutralize_formulas(df)
    assert out["s"].tolist()[:2] == ["'=1", "ok"] and pd.isna(out["s"].iloc[2])
    assert pd.api.types.is_string_dtype(out["s"]) and pd.api.types.is_string_dtype(out["c"])
    assert out["c"].tolist() == ["'-x", "y", "'-x"]
    assert out["o"].tolist()[:2] == ["'@a", 5] and out["o"].iloc[2] is None


def test_mailing_lists_one_file_per_nonempty_segment(tmp_path):
    a = assigned("en", n=300, seed=5)
    man = write_mailing_lists(a, tmp_path, "en", formats=["csv"])
    counts = a["segment"].astype(str).value_counts()
    assert dict(zip(man["segment"], man["customers"])) == counts.to_dict()
    for r in man.itertuples():
        back = read_export_csv(tmp_path / r.csv_file, "en")
        assert (back["segment"] == r.segment).all() and len(back) == r.customers
