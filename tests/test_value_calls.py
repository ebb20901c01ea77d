"""The call list ranked by value at risk (issue 13 point 2): order against an independent pandas
computation, ids byte for byte, money in exact cents, consent, customers without a value row."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from rfm_helpers import act
from rfm_helpers.report.texts.act import export_notes, export_words
from rfm_helpers.segments import load_segment_maps
from test_contacts_consent import _assigned, _contacts, _expected
from test_exports import NASTY_IDS, assigned, raw_rows, read_recipe, writer

WEIGHTS = {s["key"]: s["call_weight"] for s in load_segment_maps()["maps"]["classic"]["segments"]}


def value_table(a, seed=0, missing=(), empty=()):
    """A value table for the customers of ``a``: heavy ties, a float artefact, ``missing`` ids
    left out, ``empty`` ids with no figure, and a row for a customer the segments do not know."""
    rng = np.random.default_rng(seed)
    v = pd.DataFrame({"customer_id": a["customer_id"].astype(str).to_numpy(),
                      "value_at_risk": np.round(rng.choice([0.0, 5.0, 12.5, 40.0], len(a)) + rng.integers(0, 3, len(a)), 2),
                      "p_alive": rng.uniform(0, 1, len(a))})
    v.loc[2, "value_at_risk"] = 100.50000000000001
    v.loc[v["customer_id"].isin(list(empty)), "value_at_risk"] = np.nan
    v = v[~v["customer_id"].isin(list(missing))]
    stray = pd.DataFrame({"customer_id": ["not-a-customer"], "value_at_risk": [1e6], "p_alive": [0.1]})
    return pd.concat([v, stray], ignore_index=True)


def expected_order(a, v):
    """The list by hand: customers with a figure, percentile among them (ties averaged)."""
    d = a.assign(customer_id=a["customer_id"].astype(str)).merge(v, on="customer_id", how="inner")
    d = d[d["value_at_risk"].notna()].copy()
    raw = d["segment"].astype(str).map(WEIGHTS) * d["value_at_risk"].rank(method="average") / len(d)
    d["call_priority"] = [round(x, 4) for x in raw]  # 4 decimals of the exact binary value, as the engine
    d = d[d["call_priority"] > 0]
    return d.sort_values(["call_priority", "value_at_risk", "monetary", "recency_days", "customer_id"],
                         ascending=[False, False, False, True, True], kind="mergesort")


@pytest.mark.parametrize("language", ["en", "ru"])
def test_value_ranked_list_matches_pandas_ids_bytes_and_cents(tmp_path, language):
    a = assigned(language, n=400, seed=5, ids=NASTY_IDS)
    ids = a["customer_id"].astype(str)
    call_ids = ids[a["segment"].astype(str).map(WEIGHTS) > 0]
    missing, empty = list(call_ids.iloc[:3]), list(call_ids.iloc[3:5])
    v = value_table(a, missing=missing, empty=empty)
    ex = writer(tmp_path, language)
    info = act.write_call_list(ex, a, max_rows=60, test_recipients=[{"customer_id": "QA-1"}], value=v,
                               rank_by="value_at_risk")
    assert (info["csv_file"], info["xlsx_file"]) == ("call_list_value_at_risk.csv", "call_list_value_at_risk.xlsx")
    want = expected_order(a, v).head(60)
    got = read_recipe(tmp_path / info["csv_file"], language)
    real = got[got["is_test"] == 0]
    assert real["customer_id"].tolist() == want["customer_id"].tolist()
    assert real["priority_rank"].tolist() == list(range(1, 61))
    assert real["call_priority"].tolist() == pytest.approx(want["call_priority"].tolist())
    assert real["value_at_risk"].tolist() == pytest.approx(want["value_at_risk"].round(2).tolist())
    assert real["p_alive"].tolist() == pytest.approx(want["p_alive"].tolist(), rel=1e-9)
    assert got["customer_id"].iloc[-1] == "QA-1" and info["test_rows"] == 1
    assert info["without_value"] == 5 and info["rows"] == 60 and info["candidates"] == len(expected_order(a, v))
    # the bytes: every listed id exactly as given, money written in exact cents
    dialect = ex.dialect
    text, rows = raw_rows(tmp_path / info["csv_file"], dialect)
    header = rows[0]
    assert header[:5] == ["customer_id", "priority_rank", "call_priority", "value_at_risk", "p_alive"]
    listed = [r[0] for r in rows[1:] if r[header.index("is_test")] == "0"]
    assert listed == want["customer_id"].tolist() and set(listed) <= set(ids)
    cents = [r[3] for r in rows[1:] if r[header.index("is_test")] == "0"]
    assert all(len(c.split(dialect.decimal)[1]) == 2 for c in cents), cents[:5]
    if "100.50000000000001" in v["value_at_risk"].astype(str).tolist():
        assert "100.50000000000001" not in text
    # the data dictionary gives this file's own meanings; the note counts who has no figure
    dic = (tmp_path / "data_dictionary.csv").read_text(encoding="utf-8-sig")
    assert "call_list_value_at_risk.csv" in dic
    notes = export_notes(ex.warnings, language)
    if language == "en":
        assert "value-at-risk percentile" in dic
        assert "call_list_value_at_risk: 5 customers of segments worth a call have no value-at-risk figure and are not listed." in notes
    else:
        assert any("call_list_value_at_risk: у 5 клиентов" in n for n in notes), notes
    everyone = act.write_call_list(ex, a, value=v, rank_by="value_at_risk", name="all", formats=("csv",))
    assert everyone["rows"] == len(expected_order(a, v))


def test_value_ranked_list_respects_consent_and_keeps_the_order(tmp_path):
    a = _assigned(200)
    c = _contacts(a)
    v = value_table(a, seed=2)
    ex = act.ExportWriter(tmp_path, "en", export_words("en"))
    rel = duckdb.connect().from_df(v)  # the value stage's table may come as a DuckDB relation
    out = act.write_call_list(ex, a, contacts=c, channel="call", formats=("csv",), value=rel, rank_by="value_at_risk")
    calls = read_recipe(tmp_path / out["csv_file"], "en")
    want = _expected(a, c, "phone", "call_consent")
    full = expected_order(a, v)
    reachable = full[full["customer_id"].map(want).isna()]
    assert calls["customer_id"].tolist() == reachable["customer_id"].tolist()  # priorities ranked among everyone
    assert calls["call_priority"].tolist() == pytest.approx(reachable["call_priority"].tolist())
    assert out["excluded"] == {r: sum(want[k] == r for k in full["customer_id"])
                               for r in ("no_contact", "unsubscribed", "no_consent")}
    assert out["excluded"]["no_consent"] > 0 and out["without_value"] == 0


def test_value_ranking_refuses_what_it_cannot_rank(tmp_path):
    a = _assigned(50)
    v = value_table(a)
    with pytest.raises(ValueError, match="needs the value table"):
        act.write_call_list(writer(tmp_path), a, rank_by="value_at_risk")
    with pytest.raises(ValueError, match="only used with"):
        act.write_call_list(writer(tmp_path), a, value=v)
    with pytest.raises(KeyError, match="value_at_risk"):
        act.write_call_list(writer(tmp_path), a, value=v.drop(columns="value_at_risk"), rank_by="value_at_risk")
    with pytest.raises(ValueError, match="more than once"):
        act.write_call_list(writer(tmp_path), a, value=pd.concat([v, v.head(1)]), rank_by="value_at_risk")
    with pytest.raises(ValueError, match="negative or infinite"):
        act.write_call_list(writer(tmp_path), a, value=v.assign(value_at_risk=-1.0), rank_by="value_at_risk")


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_notebook_sentence_says_how_many_and_how_ranked(language):
    from rfm_helpers.report.i18n import translator
    from rfm_helpers.report.texts import value as texts

    t = translator(language)
    calls = {"rows": 500, "candidates": 1234, "csv_file": "call_list_value_at_risk.csv",
             "xlsx_file": "call_list_value_at_risk.xlsx"}
    capped = texts.call_list_sentence(t, calls, "exports")
    whole = texts.call_list_sentence(t, dict(calls, rows=21, candidates=21))
    none = texts.call_list_sentence(t, None)
    said = [tpl.format(**v) for tpl, v in (capped, whole, none)]
    if language == "en":
        assert said[0].startswith("The call list ranked by value at risk (exports/call_list_value_at_risk.csv, "
                                  "exports/call_list_value_at_risk.xlsx) holds 500 customers of the 1,234 worth a call")
        assert "holds 21 customers, most urgent first" in said[1] and "value-at-risk percentile" in said[1]
        assert "without a spend model" in said[2]
    else:
        assert "500 клиентов из 1\u00a0234" in said[0] and "21 клиент," in said[1], said
        assert "перцентиль" in said[1] and "без модели" in said[2]
