"""The executive summary of the month page (rfm_helpers.report.executive and its words, chart
and page): figures checked against independent pandas computations on the raw CDNOW file and
on small hand-made data; comparisons only where the data cover them; actions, files, warnings;
English and Russian pages from the same numbers."""
from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest

from rfm_helpers import tracking
from rfm_helpers.load import bundled as datasets
from rfm_helpers.pipeline import prepare
from rfm_helpers.report import executive, index, render
from rfm_helpers.report.i18n import translator
from rfm_helpers.report.texts import executive as texts
from rfm_helpers.rfm import compute_rfm, compute_scored_rfm
from rfm_helpers.segments import assign_segments

D = dt.date


# --------------------------------------------------------------------------- periods
@pytest.mark.parametrize("as_of, previous, year_ago", [
    (D(1998, 6, 30), (D(1998, 5, 1), D(1998, 5, 31)), (D(1997, 6, 1), D(1997, 6, 30))),
    (D(1998, 1, 31), (D(1997, 12, 1), D(1997, 12, 31)), (D(1997, 1, 1), D(1997, 1, 31))),
    (D(2024, 2, 29), (D(2024, 1, 1), D(2024, 1, 31)), (D(2023, 2, 1), D(2023, 2, 28))),  # leap month end
    (D(2024, 3, 31), (D(2024, 2, 1), D(2024, 2, 29)), (D(2023, 3, 1), D(2023, 3, 31))),
    (D(2024, 3, 15), (D(2024, 2, 1), D(2024, 2, 15)), (D(2023, 3, 1), D(2023, 3, 15))),  # month to date
    (D(2024, 3, 30), (D(2024, 2, 1), D(2024, 2, 29)), (D(2023, 3, 1), D(2023, 3, 30))),  # day 30 of a 29-day month
])
def test_comparison_periods(as_of, previous, year_ago):
    p = executive.periods_for(as_of)
    assert (p["current"].start, p["current"].end) == (as_of.replace(day=1), as_of)
    assert (p["previous"].start, p["previous"].end) == previous
    assert (p["year_ago"].start, p["year_ago"].end) == year_ago


# --------------------------------------------------------------------------- figures on CDNOW
@pytest.fixture(scope="module")
def cdnow():
    p = prepare(analysis_date="1998-06-30")
    raw = datasets.read_cdnow_raw()
    raw = raw[raw["dollar_value"] > 0].assign(day=pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"))
    return p.transactions, raw


def _by_hand(raw: pd.DataFrame, start: dt.date, end: dt.date) -> dict:
    """The same figures from the raw file with plain pandas (orders: one customer's purchases
    of one day, the RFM definition without an order id)."""
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    upto = raw[raw["day"] <= e]
    inside = upto[upto["day"] >= s]
    orders = inside.groupby(["customer_id", "day"]).ngroups
    first = upto.groupby("customer_id")["day"].min()
    last = upto.groupby("customer_id")["day"].max()
    revenue = float(inside["dollar_value"].sum())
    return {"customers": upto["customer_id"].nunique(), "active_customers": int((last >= e - pd.Timedelta(days=90)).sum()),
            "buyers": inside["customer_id"].nunique(), "new_customers": int(((first >= s) & (first <= e)).sum()),
            "orders": orders, "revenue": revenue, "average_order_value": revenue / orders if orders else None}


@pytest.mark.parametrize("as_of", ["1998-06-30", "1997-03-15", "1997-01-31"])
def test_month_figures_match_pandas_on_the_raw_file(cdnow, as_of):
    tx, raw = cdnow
    f = executive.month_figures(tx, D.fromisoformat(as_of))
    for name, period in f["periods"].items():
        want = _by_hand(raw, D.fromisoformat(period["start"]), D.fromisoformat(period["end"]))
        for key, value in want.items():
            got = period[key]
            if value is None:
                assert got is None, (name, key)
            else:
                assert got == pytest.approx(value, abs=0.006), (as_of, name, key)
    assert f["data_first_date"] == "1997-01-01" and f["data_last_date"] == min(as_of, "1998-06-30")


@pytest.mark.parametrize("as_of", ["1998-06-30", "1997-03-15"])
def test_month_figures_from_an_engine_table_equal_the_frame(cdnow, as_of):
    """Notebook 02 passes the run's engine table (nothing per transaction in pandas): the same
    figures, to the cent, as from the DataFrame."""
    from rfm_helpers.engine import DuckDBEngine
    from rfm_helpers.engine.fetch import recording_fetches

    tx, _ = cdnow
    with DuckDBEngine() as eng, recording_fetches() as fetched:
        name = eng.register("tx_month", tx).name
        got = executive.month_figures(name, D.fromisoformat(as_of), engine=eng)
    assert got == executive.month_figures(tx, D.fromisoformat(as_of))
    assert [f.kind for f in fetched] == ["aggregate"] and fetched[0].rows == 1
    with pytest.raises(TypeError, match="engine"):
        executive.month_figures(name, D.fromisoformat(as_of))


def test_active_customers_are_the_rfm_pages_recency_rule(cdnow):
    tx, _ = cdnow
    rfm = compute_rfm(tx, "1998-06-30")
    f = executive.month_figures(tx, D(1998, 6, 30))["periods"]["current"]
    assert f["active_customers"] == int((rfm["recency_days"] <= 90).sum())
    assert f["customers"] == len(rfm)


def test_comparisons_only_where_the_data_cover_them(cdnow):
    tx, _ = cdnow  # CDNOW starts on 1997-01-01
    first = executive.month_figures(tx, D(1997, 1, 31))["periods"]
    assert not first["previous"]["covered"] and not first["year_ago"]["covered"]
    march = executive.month_figures(tx, D(1998, 3, 31))["periods"]
    assert march["year_ago"]["covered"] and not march["year_ago"]["active_covered"]  # 90 days before 1997-03-31
    ex = executive.build({"executive": {"month": {"value": executive.month_figures(tx, D(1998, 3, 31))}}})
    active = next(k for k in ex.kpis if k.key == "active_customers")
    revenue = next(k for k in ex.kpis if k.key == "revenue")
    assert [(d.period, d.available, d.reason) for d in active.deltas] == [("previous", True, ""),
                                                                          ("year_ago", False, "active_window")]
    assert all(d.available for d in revenue.deltas)
    assert revenue.deltas[0].absolute == pytest.approx(march["current"]["revenue"] - march["previous"]["revenue"])


def test_order_ids_and_nasty_rows():
    """An order id groups rows across days; a null id, a row after the analysis date and a
    first purchase inside the month are handled; the data starting mid-month cover nothing
    before."""
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c", None, "d"],
        "order_date": pd.to_datetime(["2024-03-05", "2024-03-06", "2024-02-10", "2024-03-20", "2024-03-31",
                                      "2024-03-10", "2024-04-01"]),
        "amount": [10.0, 5.0, 7.0, 3.0, 1.0, 100.0, 50.0],
        "order_id": ["o1", "o1", "o2", "o3", "o4", "o5", "o6"],
    })
    f = executive.month_figures(tx, D(2024, 3, 31))
    cur, prev = f["periods"]["current"], f["periods"]["previous"]
    assert (cur["orders"], cur["revenue"], cur["buyers"], cur["new_customers"], cur["customers"]) == (3, 19.0, 3, 2, 3)
    assert cur["average_order_value"] == pytest.approx(19 / 3, abs=0.005)
    assert (prev["orders"], prev["revenue"], prev["customers"]) == (1, 7.0, 1)
    assert f["data_first_date"] == "2024-02-10" and not prev["covered"]  # data start after Feb 1
    empty = executive.month_figures(tx.iloc[:0], D(2024, 3, 31))
    assert empty["data_last_date"] is None and empty["periods"]["current"]["average_order_value"] is None


@pytest.mark.parametrize("as_of", [D(2024, 3, 31), D(2024, 3, 30), D(2024, 1, 15), D(2022, 12, 31)])
def test_month_figures_without_order_ids_equal_the_order_path(as_of):
    """Data without an order id take a shorter query (customers from the rows, orders only from
    the periods' rows); the same data with an order id that is the purchase day take the
    general one (rows grouped into orders first). Every figure equal: nulls, rows after the
    analysis date, several rows of one day, a shorter previous month, data starting later."""
    rng = np.random.default_rng(3)
    n = 4000
    tx = pd.DataFrame({
        "customer_id": pd.Series([f"c{i}" for i in rng.integers(0, 300, n)], dtype="string"),
        "order_date": pd.Timestamp("2023-01-10") + pd.to_timedelta(rng.integers(0, 480, n), unit="D")
                      + pd.to_timedelta(rng.integers(0, 86400, n), unit="s"),
        "amount": rng.choice([1.0, 2.5, 9.99, 40.0, 0.01], n),
    })
    tx.loc[rng.random(n) < 0.01, "customer_id"] = pd.NA
    by_day = tx.assign(order_id=tx["order_date"].dt.strftime("%Y-%m-%d"))
    got = executive.month_figures(tx, as_of)
    want = executive.month_figures(by_day, as_of)
    assert got.pop("has_order_id") is False and want.pop("has_order_id") is True
    assert got == want
    from rfm_helpers.engine import DuckDBEngine

    with DuckDBEngine() as eng:
        assert {**executive.month_figures(eng.register("tx_m", tx).name, as_of, engine=eng),
                "has_order_id": True} == {**want, "has_order_id": True}


# --------------------------------------------------------------------------- segments
def _snap(rows, month):
    df = pd.DataFrame(rows, columns=["customer_id", "segment", "monetary", "month_spend"])
    df["segment_label"] = df["segment"]
    for c in ("recency_days", "frequency", "r_score", "f_score", "m_score", "rfm_score"):
        df[c] = 1
    df["month"], df["as_of"] = month, pd.Timestamp(f"{month}-28")
    return df


def test_segment_figures_by_hand():
    prev = _snap([("1", "champions", 500.0, 50.0), ("2", "champions", 300.0, 0.0), ("3", "loyal", 100.0, 0.0),
                  ("4", "lost", 20.0, 0.0)], "2024-02")
    curr = _snap([("1", "champions", 520.0, 20.0), ("2", "at_risk", 300.0, 0.0), ("3", "lost", 100.0, 0.0),
                  ("4", "lost", 20.0, 0.0), ("5", "new", 15.0, 15.0)], "2024-03")
    order = ["champions", "loyal", "new", "at_risk", "lost"]
    f = executive.segment_figures({"2024-02": prev, "2024-03": curr}, order, "classic")
    rows = {r["segment"]: r for r in f["segments"]}
    assert [r["segment"] for r in f["segments"]] == ["champions", "loyal", "new", "at_risk", "lost"]
    assert rows["champions"] == {"segment": "champions", "customers": 1, "revenue": 20.0, "spend_to_date": 520.0,
                                 "previous_customers": 2, "previous_revenue": 50.0, "previous_spend_to_date": 800.0}
    assert rows["loyal"]["customers"] == 0 and rows["loyal"]["previous_customers"] == 1
    # valuable half = champions, loyal: customer 2 (champions -> at_risk, 300 spent) and 3 (loyal -> lost, 100)
    moved = f["moved_to_risk"]
    assert moved["customers"] == 2 and moved["spend_to_date"] == 400.0
    assert moved["by_segment"] == {"at_risk": {"customers": 1, "spend_to_date": 300.0},
                                   "lost": {"customers": 1, "spend_to_date": 100.0}}
    flows = tracking.key_flows(prev, curr, order)
    assert flows["value_at_stake"].sum() == moved["spend_to_date"]  # the migration page's definition
    only = executive.segment_figures({"2024-03": curr}, order, "classic")
    assert only["moved_to_risk"] is None and only["segments"][0]["previous_customers"] is None


# --------------------------------------------------------------------------- actions, files, warnings
def _summary(tmp_path=None, moved=True, **extra):
    month = {"as_of": "1998-06-30", "month": "1998-06", "active_days": 90, "data_first_date": "1997-01-01",
             "data_last_date": "1998-06-30", "periods": {}}
    for name, (m, start, end, rev) in {"current": ("1998-06", "1998-06-01", "1998-06-30", 76109.3),
                                       "previous": ("1998-05", "1998-05-01", "1998-05-31", 70989.66),
                                       "year_ago": ("1997-06", "1997-06-01", "1997-06-30", 108395.87)}.items():
        month["periods"][name] = {"month": m, "start": start, "end": end, "full_month": True, "covered": True,
                                  "active_covered": True, "customers": 23502, "active_customers": 3317,
                                  "buyers": 1506, "new_customers": 0, "orders": 1955, "revenue": rev,
                                  "average_order_value": round(rev / 1955, 2)}
    segs = [("champions", 4322, 75065.29, 1316263.83), ("loyal", 4330, 0.0, 676168.22), ("cant_lose", 35, 0.0, 8991.03),
            ("potential_loyalist", 1476, 1044.01, 54857.36), ("at_risk", 1616, 0.0, 138952.38),
            ("hibernating", 3947, 0.0, 93407.46), ("lost", 3977, 0.0, 93124.23)]
    segments = {"map": "classic", "month": "1998-06", "previous_month": "1998-05", "order": [s[0] for s in segs],
                "segments": [{"segment": k, "customers": n, "revenue": r, "spend_to_date": v,
                              "previous_customers": n - 10, "previous_revenue": r, "previous_spend_to_date": v - 100}
                             for k, n, r, v in segs],
                "moved_to_risk": {"customers": 46, "spend_to_date": 3442.63,
                                  "by_segment": {"at_risk": {"customers": 29, "spend_to_date": 2281.94},
                                                 "cant_lose": {"customers": 1, "spend_to_date": 252.09}}} if moved else None}
    s = {"run": {"month": "1998-06", "language": "en", "currency": "USD", "analysis_date": "1998-06-30",
                 "notebooks": []},
         "executive": {"month": {"value": month}, "segments": {"value": segments}},
         "exports": {"mailing_lists": {"value": {"at_risk": "mailing_at_risk.csv", "loyal": "mailing_loyal.csv",
                                                 "champions": "mailing_champions.csv"}},
                     "migration_list": {"value": "migration_at_risk_1998-06.csv"}},
         "headline": {"value_at_risk": {"value": 503879.41, "label": "Value at risk (12 months)", "fmt": "money"},
                      "customers": {"value": 23502, "label": "Customers", "fmt": "int"}}}
    s.update(extra)
    return s


def test_actions_name_segment_size_and_existing_files(tmp_path):
    (tmp_path / "exports").mkdir()
    for f in ("mailing_at_risk.csv", "migration_at_risk_1998-06.csv", "mailing_champions.csv"):
        (tmp_path / "exports" / f).write_text("x")
    ex = executive.build(_summary(), tmp_path)
    assert [(a.kind, a.segment, a.customers, a.reason) for a in ex.actions] == [
        ("win_back", "at_risk", 1616, "moved_in"), ("grow", "loyal", 4330, "largest_active"),
        ("reward", "champions", 4322, "most_valuable")]
    assert ex.actions[0].files == [("migration_at_risk_1998-06.csv", "exports/migration_at_risk_1998-06.csv"),
                                   ("mailing_at_risk.csv", "exports/mailing_at_risk.csv")]
    assert ex.actions[1].files == [("mailing_loyal.csv", None)]  # recorded but not in the folder: no link


def test_without_moves_win_back_weighs_spend_by_call_weight():
    ex = executive.build(_summary(moved=False))
    # at_risk 138,952 x 0.8 beats hibernating 93,407 x 0.1 and cant_lose 8,991 x 1.0; lost has weight 0
    assert (ex.actions[0].segment, ex.actions[0].reason) == ("at_risk", "value_at_stake")


def test_recorded_file_names_never_leave_the_exports_folder(tmp_path):
    (tmp_path / "secret.csv").write_text("x")
    s = _summary()
    s["exports"]["mailing_lists"]["value"]["at_risk"] = "../secret.csv"
    ex = executive.build(s, tmp_path / "exports")
    assert all(href is None for a in ex.actions for _, href in a.files)


def test_warnings_that_matter():
    s = _summary(warnings={"data_end_gap": {"value": 120, "label": "Days between the last transaction and the analysis date"},
                           "stale": {"value": True, "label": "The data end long before the analysis date"}},
                 accounting={"rows_in": {"value": 1000}, "rows_quarantined": {"value": 40},
                             "rows_after_analysis_date": {"value": 25}})
    s["executive"]["month"]["value"]["data_last_date"] = "1998-05-20"
    t = translator("en", "USD")
    words = [texts.warning_text(t, w) for w in executive.build(s).warnings]
    assert words[0] == "Days between the last transaction and the analysis date: 120"
    assert words[1] == "The data end long before the analysis date"
    assert words[2].startswith("The data end on May 20, 1998, before June 1998 begins")
    assert words[3].startswith("15 rows of the source (1.5%) were set aside")  # 40 set aside - 25 after the date
    as_list = _summary(warnings=[{"code": "data_end_early", "text": "Data end early"}, "Plain remark"])
    assert [texts.warning_text(t, w) for w in executive.build(as_list).warnings] == ["Data end early", "Plain remark"]


def test_no_executive_figures_means_no_summary():
    assert executive.build({"headline": {"customers": {"value": 1, "label": "Customers"}}}) is None


# --------------------------------------------------------------------------- words and pages
_LATIN_WORD = re.compile(r"(?<![\w./-])[A-Za-z][a-z]{2,}(?![\w./-])")


def test_english_page_says_what_changed(tmp_path):
    page = render.month_index_html(_summary(), tmp_path)
    text = re.sub(r"<[^>]+>", " ", page)
    for expected in ("June 1998 at a glance", "Customers", "Active customers", "bought in the 90 days up to June 30, 1998",
                     "Revenue, June 1998", "$76,109", "+7.2% (+$5,120) vs the previous month (May 1998)",
                     "-29.8% (-$32,287) vs the same month a year earlier (June 1997)", "Average order value, June 1998",
                     "$38.93", "Three actions for this month", "Win back: At risk", "1,616 customers",
                     "Personal win-back message", "Revenue at risk", "$3,443", "46 customers", "$503,879",
                     "Value at risk, next 12 months (model estimate)", "Data from January 1, 1997 to June 30, 1998"):
        assert expected in text, expected
    assert "Headline figures" not in text  # the tiles are replaced by the summary
    assert page.count("data:image/png;base64,") == 1


def test_russian_ruble_page_has_no_dollar_and_no_english(tmp_path):
    s = _summary()
    s["run"].update(language="ru", currency="RUB")
    page = render.month_index_html(s, tmp_path)
    summary_html = page.split('<section class="rfm-exec"', 1)[1].split(">", 1)[1].split("</section>", 1)[0]
    text = re.sub(r"<[^>]+>|data:image/png;base64,[^\"]+", " ", summary_html)
    assert "$" not in text and "76\u00a0109\u00a0₽" in text and "38,93\u00a0₽" in text
    for expected in ("Июнь 1998: главное", "Активных клиентов", "покупали за 90 дней по 30 июня 1998\u202fг.",
                     "к прошлому месяцу (май 1998)", "к тому же месяцу год назад (июнь 1997)",
                     "Вернуть: «В зоне риска»", "1\u00a0616 клиентов", "4\u00a0322 клиента", "Выручка под угрозой"):
        assert expected in text, expected
    words = {w for w in _LATIN_WORD.findall(text) if w not in {"Email", "RFM"}}
    assert not words, f"English on the Russian page: {sorted(words)}"


def test_first_month_says_no_comparison(tmp_path):
    s = _summary(moved=False)
    m = s["executive"]["month"]["value"]
    m["data_first_date"] = "1998-06-01"
    for name in ("previous", "year_ago"):
        m["periods"][name].update(covered=False, active_covered=False)
    s["executive"]["segments"]["value"].update(previous_month=None)
    text = re.sub(r"<[^>]+>", " ", render.month_index_html(s, tmp_path))
    assert text.count(": no comparison") == 8  # 4 figures x 2 comparisons
    assert "Data from June 1, 1998 to June 30, 1998" in text
    assert "+7.2%" not in text


def test_all_runs_page_shows_decision_figures():
    t = translator("en", "USD")
    figs = index.run_figures(_summary(), t)
    assert figs == [("Customers", "23,502 (+0.0% vs the previous month)"),
                    ("Active customers", "3,317 (+0.0% vs the previous month)"),
                    ("Revenue in the month", "$76,109 (+7.2% vs the previous month)"),
                    ("Moved into at-risk or churn segments", "46 customers, $3,443 spent so far")]
    old = {"headline": {"customers": {"value": 5, "label": "Customers"}}}
    assert index.run_figures(old, t) == [("Customers", "5")]  # runs without the summary keep their figures


def test_chart_is_an_image_of_aggregates():
    t = translator("ru", "RUB")
    rows = _summary()["executive"]["segments"]["value"]["segments"]
    uri = texts._segments_view(t, executive.build(_summary()), texts._segment_words(executive.build(_summary()), t),
                               "июнь 1998")["image"]
    assert uri.startswith("data:image/png;base64,") and len(uri) > 5000
    assert len(rows) == 7


def test_real_segments_of_cdnow_give_three_actions(cdnow):
    """From real snapshots of CDNOW (May and June 1998) to the three actions."""
    tx, _ = cdnow
    snaps = {}
    for m, as_of in (("1998-05", "1998-05-31"), ("1998-06", "1998-06-30")):
        seg = assign_segments(compute_scored_rfm(tx, as_of))
        snaps[m] = tracking.snapshot_from_segmented(seg, tx, m, as_of)
    order = tracking.value_order(snaps.values())
    figures = executive.segment_figures(snaps, order, "classic")
    assert sum(r["customers"] for r in figures["segments"]) == 23502
    assert sum(r["revenue"] for r in figures["segments"]) == pytest.approx(76109.3, abs=0.01)  # June revenue
    s = _summary()
    s["executive"]["segments"]["value"] = json.loads(json.dumps(figures))
    ex = executive.build(s)
    assert len(ex.actions) == 3 and len({a.segment for a in ex.actions}) == 3
