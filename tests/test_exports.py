"""Export files (rfm_helpers.act): one CSV dialect per run, ids byte for byte, money in cents,
the formula policy on every file, the workbook for people, call-list priority."""
from __future__ import annotations

import csv
import io
import re

import numpy as np
import openpyxl
import pandas as pd
import pytest

from rfm_helpers import act
from rfm_helpers.act.files import formula_like, needs_apostrophe
from rfm_helpers.report.texts.act import export_notes, export_words
from rfm_helpers.rfm import score_quantiles
from rfm_helpers.segments import assign_segments, load_segment_maps

BOM = b"\xef\xbb\xbf"
#: Ids of real shapes: leading zeros, 16-19 digits, 1C codes, numbers in disguise, formulas.
NASTY_IDS = ["00001", "0000000000000000123", "2000000012345678901", "4276380012345678", "00-00000123",
             "ЦБ-000123", "1E5", "12.05", "+79161234567", "-5", "=1+2", "@SUM(1;2)", "NA", 'a"b;c,d', " 7 "]


def assigned(language="en", n=200, seed=0, map_name="classic", ids=None):
    rng = np.random.default_rng(seed)
    freq = rng.geometric(0.4, n)
    tenure = rng.integers(0, 700, n)
    rec = np.minimum(tenure, rng.integers(0, 700, n))
    cid = [f"{i:05d}" for i in range(n)]
    if ids:
        cid[: len(ids)] = ids
    df = pd.DataFrame({
        "customer_id": pd.array(cid, dtype="string"),
        "recency_days": rec.astype("int64"), "frequency": freq.astype("int64"),
        "monetary": np.round(freq * rng.gamma(2.0, 25.0, n), 2), "tenure_days": tenure.astype("int64"),
    })
    df.loc[1, "monetary"] = 100.50000000000001  # a float artefact of summing
    as_of = pd.Timestamp("2024-12-31")
    df["first_purchase"] = as_of - pd.to_timedelta(df["tenure_days"], unit="D")
    df["last_purchase"] = as_of - pd.to_timedelta(df["recency_days"], unit="D")
    return assign_segments(score_quantiles(df), map_name, language)


def writer(tmp_path, language="en", **kw):
    return act.ExportWriter(tmp_path, language, export_words(language), source_name="shop.csv",
                            as_of=pd.Timestamp("2024-12-31").date(), **kw)


def raw_rows(path, dialect):
    data = path.read_bytes()
    assert data.startswith(BOM)
    text = data[len(BOM):].decode("utf-8")
    return text, list(csv.reader(io.StringIO(text), delimiter=dialect.sep))


def assert_every_value_quoted(text, dialect):
    """Every non-empty field of every line is quoted (the default import of Excel/LibreOffice
    then splits each line into exactly the header's columns)."""
    import re

    field = r'(?:"(?:[^"]|"")*")?'
    line_re = re.compile(f"{field}(?:{re.escape(dialect.sep)}{field})*")
    for line in text.splitlines():
        assert line_re.fullmatch(line), line


def read_recipe(path, language):
    """The README's pandas recipe."""
    sep, dec = (";", ",") if language == "ru" else (",", ".")
    return pd.read_csv(path, sep=sep, decimal=dec, encoding="utf-8-sig", dtype={"customer_id": "string", "phone": "string"},
                       keep_default_na=False, na_values=[""])


def test_formula_predicates():
    for v in ["=1+2", "@SUM(1;2)", "+A1", "-2+3", "\tx", "\rx", "\nx", "-cmd|' /C calc'!A0"]:
        assert formula_like(v) and needs_apostrophe(v), v
    for v in ["-5", "+79161234567", "-12.5", "+1,5"]:
        assert needs_apostrophe(v) and not formula_like(v), v
    for v in ["00001", "a=b", "1E5", "", None, 5]:
        assert not formula_like(v) and not needs_apostrophe(v), v


@pytest.mark.parametrize("language", ["en", "ru"])
def test_scores_dialect_quoting_money_and_ids(tmp_path, language):
    a = assigned(language, ids=NASTY_IDS)
    ex = writer(tmp_path, language)
    rec = act.write_scores(ex, a)
    d = act.dialect_for(language)
    text, rows = raw_rows(tmp_path / rec.file, d)
    assert_every_value_quoted(text, d)
    header = rows[0]
    assert header == [c.key for c in act.SCHEMAS["rfm_scores.csv"]]
    assert all(len(r) == len(header) for r in rows) and len(rows) == len(a) + 1 == rec.rows + 1
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == set(a["customer_id"])  # every id byte for byte
    m = header.index("monetary")
    assert by_id[NASTY_IDS[1]][m] == ("100,50" if language == "ru" else "100.50")
    for r in rows[1:]:  # money always with two decimals, the run's decimal mark, no artefacts
        assert len(r[m].split(d.decimal)[1]) == 2 and ("." if language == "ru" else ",") not in r[m]
    assert by_id["00001"][header.index("last_purchase")] == a.loc[a.customer_id == "00001", "last_purchase"].iloc[0].strftime("%Y-%m-%d")
    back = read_recipe(tmp_path / rec.file, language)
    assert back["customer_id"].tolist() == sorted(a["customer_id"])
    assert back.set_index("customer_id")["monetary"].to_dict() == pytest.approx(
        a.set_index("customer_id")["monetary"].round(2).to_dict())
    assert back["recency_days"].dtype.kind == "i"
    # key values a spreadsheet would run are reported, not changed
    assert {w["code"] for w in rec.warnings} == {"formula_like_keys"}
    assert rec.warnings[0]["count"] == 2  # =1+2 and @SUM(1;2)


def test_mailing_lists_en_with_tests_and_contacts(tmp_path):
    a = assigned("en", ids=NASTY_IDS)
    ids = a["customer_id"].tolist()
    contacts = pd.DataFrame({"customer_id": ids, "name": ["=HYPERLINK(\"http://x\")"] + ["Ann"] * (len(ids) - 1),
                             "email": [f"c{i}@example.com" for i in range(len(ids))],
                             "phone": ["+79161234567"] * len(ids)})
    tests = [{"customer_id": "TEST-1", "email": "qa@example.com"}, {"customer_id": "TEST-2", "email": "-qa@example.com"}]
    ex = writer(tmp_path, "en")
    man = act.write_mailing_lists(ex, a, test_recipients=tests, contacts=contacts)
    counts = a["segment"].astype(str).value_counts()
    assert dict(zip(man["segment"], man["customers"])) == counts[counts > 0].to_dict()
    seen = set()
    for r in man.itertuples():
        text, rows = raw_rows(tmp_path / r.csv_file, ex.dialect)
        assert_every_value_quoted(text, ex.dialect)
        header = rows[0]
        assert header[0] == "customer_id" and header[-1] == "is_test"
        assert {"name", "email", "phone"} <= set(header)
        assert all(len(x) == len(header) for x in rows)
        back = read_recipe(tmp_path / r.csv_file, "en")
        real, test = back[back.is_test == 0], back[back.is_test == 1]
        assert len(real) == r.customers and test["customer_id"].tolist() == ["TEST-1", "TEST-2"]
        assert test["email"].tolist() == ["qa@example.com", "-qa@example.com"]  # keys never altered
        assert real["monetary"].is_monotonic_decreasing
        seen |= set(real["customer_id"])
        names = dict(zip(back["customer_id"], back["name"]))
        if ids[0] in names:
            assert names[ids[0]] == "'=HYPERLINK(\"http://x\")"  # free text: the OWASP apostrophe
        assert (real["phone"] == "+79161234567").all()
    assert seen == set(ids)
    codes = {(w["column"]) for w in man.attrs["warnings"] if w["code"] == "formula_like_keys"}
    assert codes == {"customer_id", "email"}


def test_workbook_typed_cells_about_sheet_and_no_formulas(tmp_path):
    a = assigned("ru", ids=NASTY_IDS)
    ex = writer(tmp_path, "ru", currency="RUB")
    man = act.write_mailing_lists(ex, a, test_recipients=[{"customer_id": "=1+1", "name": "@evil"}])
    path = tmp_path / "mailing_lists.xlsx"
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == "О файле" and wb.sheetnames[1:] == man["xlsx_sheet"].tolist()
    about = [[c for c in row if c is not None] for row in wb["О файле"].iter_rows(values_only=True)]
    flat = [str(v) for row in about for v in row]
    assert "shop.csv" in flat and "RUB" in flat and "Определения сегментов" in flat
    assert any("Чемпионы" in v for v in flat) and "R 5, FM 4-5" in flat
    for r in man.itertuples():  # the row counts of every sheet
        assert [r.xlsx_sheet, r.customers + 1, r.customers + 1, r.csv_file] in about
    ids = set()
    for r in man.itertuples():
        ws = wb[r.xlsx_sheet]
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(ws.max_column)}{ws.max_row}"
        header = [c.value for c in ws[1]]
        assert header[:3] == ["ID клиента", "Ключ сегмента", "Сегмент"] and header[-1] == "Тестовый получатель"
        assert ws.column_dimensions["A"].width >= len("ID клиента")
        for row in ws.iter_rows(min_row=2):
            cells = dict(zip(header, row))
            assert cells["ID клиента"].data_type == "s" and cells["ID клиента"].number_format == "@"
            ids.add(cells["ID клиента"].value)
            for c in row:
                assert c.data_type != "f" and not (isinstance(c.value, str) and c.value.startswith("'"))
            if cells["Тестовый получатель"].value == "да":
                continue
            assert cells["Сумма покупок"].data_type == "n" and cells["Сумма покупок"].number_format == "#,##0.00"
            assert cells["Последний заказ"].is_date and cells["Последний заказ"].number_format == "DD.MM.YYYY"
            assert cells["Тестовый получатель"].value == "нет"
        last = [c.value for c in ws[ws.max_row]]
        assert last[0] == "=1+1" and "@evil" in last  # written as strings, no apostrophe
    assert ids == set(a["customer_id"]) | {"=1+1"}
    import re

    recipe = re.search(r"`(sheets = pd\.read_excel\(.*?\))`", readme_exports()).group(1)
    ns = {"pd": pd}
    exec(recipe.replace("reports/1998-06/exports/mailing_lists.xlsx", str(path)), ns)
    got = {v for name, df in list(ns["sheets"].items())[1:] for v in df["ID клиента"]}
    assert got == set(a["customer_id"]) | {"=1+1"}  # the README's workbook recipe keeps every id


def test_workbook_cap_is_stated(tmp_path):
    a = assigned("en", n=150)
    ex = writer(tmp_path, "en", xlsx_max_rows=20)
    man = act.write_mailing_lists(ex, a)
    capped = [w for w in man.attrs["warnings"] if w["code"] == "xlsx_capped"]
    big = man[man.customers > 20]
    assert len(capped) == len(big) > 0 and all(w["rows"] == 20 for w in capped)
    wb = openpyxl.load_workbook(tmp_path / "mailing_lists.xlsx")
    for r in big.itertuples():
        assert wb[r.xlsx_sheet].max_row == 21
        assert len(read_recipe(tmp_path / r.csv_file, "en")) == r.customers  # the CSV has every row
    about = [str(v) for row in wb["About"].iter_rows(values_only=True) for v in row if v is not None]
    assert any("at most 20 rows" in v for v in about)
    notes = export_notes(ex.warnings, "en")
    assert any("shows the first 20 of" in n for n in notes)


def test_test_recipients_from_csv_and_errors(tmp_path):
    p = tmp_path / "tests.csv"
    p.write_bytes(BOM + "customer_id;email\r\n007;a@b.c\r\n".encode("utf-8"))
    df = act.load_test_recipients(p)
    assert df.to_dict("records") == [{"customer_id": "007", "email": "a@b.c"}]
    with pytest.raises(KeyError, match="customer_id"):
        act.load_test_recipients([{"email": "x@y.z"}])
    with pytest.raises(ValueError, match="non-empty"):
        act.load_test_recipients([{"customer_id": ""}])
    assert act.load_test_recipients(None).empty and act.load_test_recipients("").empty


def test_duplicate_contacts_are_refused(tmp_path):
    a = assigned("en")
    contacts = pd.DataFrame({"customer_id": ["00001", "00001"], "email": ["a@x.com", "b@x.com"]})
    with pytest.raises(ValueError, match="00001"):
        act.write_mailing_lists(writer(tmp_path), a, contacts=contacts)


def test_call_priority_is_weight_times_spend_percentile():
    a = assigned(n=300, seed=3)
    pr = act.call_priority(a)
    weights = {s["key"]: s["call_weight"] for s in load_segment_maps()["maps"]["classic"]["segments"]}
    m = a["monetary"].to_numpy()
    pct = np.array([((m < v).sum() + ((m == v).sum() + 1) / 2) / len(m) for v in m])
    assert np.allclose(pr.to_numpy(), a["segment"].astype(str).map(weights).to_numpy() * pct)


def test_call_list_matches_sorting_everyone_with_ties(tmp_path):
    a = assigned("en", n=600, seed=9)
    a["monetary"] = (a["monetary"] // 40) * 40.0
    ex = writer(tmp_path)
    info = act.write_call_list(ex, a, max_rows=37, test_recipients=[{"customer_id": "QA"}])
    got = read_recipe(tmp_path / info["csv_file"], "en")
    expected = a.assign(call_priority=act.call_priority(a).round(4))
    expected = expected[expected["call_priority"] > 0].sort_values(
        ["call_priority", "monetary", "recency_days", "customer_id"],
        ascending=[False, False, True, True], kind="mergesort").head(37)
    real = got[got.is_test == 0]
    assert real["customer_id"].tolist() == expected["customer_id"].astype(str).tolist()
    assert real["call_priority"].tolist() == pytest.approx(expected["call_priority"].tolist())
    assert real["priority_rank"].tolist() == list(range(1, 38)) and got["customer_id"].iloc[-1] == "QA"
    tp = {s["key"]: s["talking_points"]["en"] for s in load_segment_maps()["maps"]["classic"]["segments"]}
    assert (real["talking_points"] == real["segment"].map(tp)).all()
    assert info["rows"] == 37 and info["test_rows"] == 1 and sum(info["by_segment"].values()) == 37
    everyone = act.write_call_list(ex, a, name="all")
    assert everyone["rows"] == int((act.call_priority(a) > 0).sum())


def test_campaign_and_migration_files_follow_the_policy(tmp_path):
    ex = writer(tmp_path, "ru")
    act.write_excluded_customers(ex, pd.Series(["00042", "=1+2"], dtype="string"))
    effects = pd.DataFrame({"metric": ["revenue"], "group": ["=treatment"], "control": ["control"], "n_t": [10],
                            "n_c": [12], "mean_t": [1.0], "mean_c": [0.5], "diff": [0.50000000000001],
                            "ci_low": [-0.1], "ci_high": [1.1], "p_value": [1.2e-8], "test": ["welch"],
                            "alpha": [0.05], "rel_lift": [1.0], "rel_ci_low": [np.nan], "rel_ci_high": [np.inf],
                            "p_adjusted": [None], "n_comparisons": [1], "segment": ["champions"], "significant": [True]})
    act.write_segment_effects(ex, effects, "treatment", "revenue")
    movers = pd.DataFrame({"customer_id": ["007", "-5"], "from": ["champions", "loyal"], "to": ["at_risk", "lost"],
                           "monetary_before": [10.005, 2.675], "recency_days": [40, 300]})
    act.write_migration_list(ex, movers, {"champions": "Чемпионы", "loyal": "Лояльные", "at_risk": "В зоне риска",
                                          "lost": "Потерянные"}, "1998-06")
    for name in ["campaign_excluded_customers.csv", "campaign_segment_effects_treatment_revenue.csv",
                 "migration_at_risk_1998-06.csv"]:
        text, rows = raw_rows(tmp_path / name, ex.dialect)
        assert_every_value_quoted(text, ex.dialect)
        assert all(len(r) == len(rows[0]) for r in rows)
    _, rows = raw_rows(tmp_path / "campaign_excluded_customers.csv", ex.dialect)
    assert [r[0] for r in rows[1:]] == ["00042", "=1+2"]
    eff = read_recipe(tmp_path / "campaign_segment_effects_treatment_revenue.csv", "ru")
    assert eff["group"].iloc[0] == "'=treatment" and eff["diff"].iloc[0] == 0.5 and eff["p_value"].iloc[0] == 1.2e-8
    assert pd.isna(eff["rel_ci_low"].iloc[0]) and pd.isna(eff["rel_ci_high"].iloc[0]) and eff["significant"].iloc[0] == 1
    mig = read_recipe(tmp_path / "migration_at_risk_1998-06.csv", "ru")
    assert mig["customer_id"].tolist() == ["007", "-5"] and mig["from_label"].tolist() == ["Чемпионы", "Лояльные"]
    dictionary = pd.read_csv(tmp_path / act.DICTIONARY_FILE, sep=";", encoding="utf-8-sig", keep_default_na=False)
    assert set(dictionary["file"]) == {"campaign_excluded_customers.csv", "campaign_segment_effects_<variant>_<metric>.csv",
                                       "migration_at_risk_<month>.csv"}
    assert dictionary.set_index(["file", "column"]).loc[("migration_at_risk_<month>.csv", "customer_id"), "kind"].startswith("идентификатор")


def test_bad_options(tmp_path):
    a = assigned()
    with pytest.raises(ValueError, match="format"):
        act.write_mailing_lists(writer(tmp_path), a, formats=["pdf"])
    with pytest.raises(ValueError, match="not in map"):
        act.write_mailing_lists(writer(tmp_path), a, segments=["vip"])
    with pytest.raises(KeyError, match="lacks columns"):
        act.write_scores(writer(tmp_path), a.drop(columns=["monetary"]))


def readme_exports() -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    return text[text.index("## Exports\n"):text.index("\n## ", text.index("## Exports\n") + 5)]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_readme_reading_recipe_keeps_ids_numbers_and_dates(tmp_path, language):
    """The README's pandas recipe, run as written (path and, for Russian runs, the separator
    as its comment says), on a list with ids of real shapes."""
    import re

    section = readme_exports()
    code = re.search(r"\*\*Reading a CSV with pandas\*\*.*?```python\n(.*?)```", section, re.S).group(1)
    a = assigned(language, ids=NASTY_IDS)
    ex = writer(tmp_path, language)
    man = act.write_mailing_lists(ex, a, formats=["csv"])
    for r in man.itertuples():
        path = tmp_path / r.csv_file
        src = code.replace("reports/1998-06/exports/mailing_lost.csv", str(path))
        if language == "ru":
            src = src.replace('sep=",", decimal="."', 'sep=";", decimal=","')
        ns: dict = {}
        exec(src, ns)
        df = ns["df"]
        want = a[a["segment"].astype(str) == r.segment].set_index("customer_id")
        assert sorted(df["customer_id"]) == sorted(want.index)
        got = df.set_index("customer_id")
        assert got["monetary"].to_dict() == pytest.approx(want["monetary"].round(2).to_dict())
        assert (got["last_order_date"].dt.date == want.loc[got.index, "last_purchase"].dt.date).all()
        assert got["recency_days"].dtype.kind == "i"


def test_readme_documents_every_column():
    section = readme_exports()
    for name, cols in act.SCHEMAS.items():
        line = next(l for l in section.splitlines() if l.startswith(f"| `{name}`"))
        assert all(f"`{c.key}`" in line for c in cols), name
    for c in act.CONTACT_COLUMNS:
        assert f"`{c.key}`" in section
    from rfm_helpers.act.formats import LIST_FORMATS

    for fmt in LIST_FORMATS.values():
        assert fmt.source in section and f"`{fmt.name}`" in section


@pytest.mark.parametrize("column", ["monetary", "value_at_risk"])
def test_call_priorities_without_windows_equal_the_windows_exactly(column):
    """The call list's priorities come from distinct values and their counts, not three windows
    over every customer: the same doubles as the windowed formula (priority_sql), bit for bit,
    with ties, NULLs, zero and negative zero, a single value and weights of 0."""
    import duckdb
    import numpy as np

    from rfm_helpers.act.calls import _priorities_sql, priority_sql

    rng = np.random.default_rng(7)
    n = 20_000
    values = np.round(rng.lognormal(3, 1.5, n), 2)
    values[rng.choice(n, 3000)] = 25.0  # a big tie
    values[rng.choice(n, 50)] = 0.0
    values[rng.choice(n, 50)] = -0.0
    values[rng.choice(n, 200)] = np.round(values[rng.choice(n, 200)], 0)
    frame = pd.DataFrame({"customer_id": [f"c{i:05d}" for i in range(n)],
                          column: pd.array(np.where(rng.random(n) < 0.01, np.nan, values), dtype="Float64"),
                          "call_weight": rng.choice([0.0, 0.1, 0.25, 1 / 3, 0.9, 1.0], n)})
    frame.loc[frame.sample(frac=0.01, random_state=1).index, column] = None
    con = duckdb.connect()
    con.register("c", frame)
    source = f"SELECT customer_id, {column}, call_weight FROM c"
    windows = con.execute(f"SELECT customer_id, {priority_sql(column)} AS p FROM c ORDER BY customer_id").fetchall()
    distinct = con.execute(f"SELECT customer_id, call_priority FROM ({_priorities_sql(source, column)}) AS q "
                           "ORDER BY customer_id").fetchall()
    assert distinct == windows
    one = con.execute(f"SELECT call_priority FROM ({_priorities_sql('SELECT 1.5 AS m, 0.5 AS call_weight', 'm')}) AS q"
                      ).fetchall()
    assert one == con.execute(f"SELECT {priority_sql('m')} FROM (SELECT 1.5 AS m, 0.5 AS call_weight) AS q").fetchall()
