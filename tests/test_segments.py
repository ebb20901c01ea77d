"""Segment maps (whole-grid coverage, validation errors, texts) and score-based segmenters.

Coverage is checked with an independent re-reading of the YAML rules (not the loader's
lookup table); quantile scores are cross-checked against rfm.score_quantiles (SQL).
"""
from __future__ import annotations

import copy
import itertools
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rfm_helpers.rfm import score_quantiles
from rfm_helpers.segments import (SegmentMapError, QuantileSegmenter, ThresholdSegmenter, _default_path,
                                  assign_segments, compute_segmented_rfm, load_segment_maps, map_info,
                                  parse_cuts, parse_segment_maps, per_year, segment_case_sql,
                                  segment_of_cell, segment_summary)

GRID = list(itertools.product(range(1, 6), repeat=3))


def raw_maps():
    return yaml.safe_load(_default_path().read_text(encoding="utf-8"))


def rule_matches(when, r, f, m):
    """Second, independent reading of a YAML rule."""
    values = {"r": r, "f": f, "m": m, "fm": int(np.floor((f + m) / 2 + 0.5))}
    for dim, rng in (when or {}).items():
        lo, hi = (rng, rng) if isinstance(rng, int) else rng
        if not lo <= values[dim] <= hi:
            return False
    return True


def grid_frame():
    return pd.DataFrame(GRID, columns=["r_score", "f_score", "m_score"])


def synthetic_rfm(n=400, seed=0):
    rng = np.random.default_rng(seed)
    freq = rng.geometric(0.45, n)
    tenure = rng.integers(0, 800, n)
    rec = np.minimum(tenure, rng.integers(0, 800, n))
    df = pd.DataFrame({
        "customer_id": pd.array([f"{i:05d}" for i in range(n)], dtype="string"),
        "recency_days": rec.astype("int64"),
        "frequency": freq.astype("int64"),
        "monetary": np.round(freq * rng.gamma(2.0, 20.0, n), 2),
        "tenure_days": tenure.astype("int64"),
    })
    as_of = pd.Timestamp("2024-12-31")
    df["first_purchase"] = as_of - pd.to_timedelta(df["tenure_days"], unit="D")
    df["last_purchase"] = as_of - pd.to_timedelta(df["recency_days"], unit="D")
    return df


@pytest.mark.parametrize("map_name", ["classic", "three_groups"])
def test_every_grid_cell_in_exactly_one_segment_independent_reading(map_name):
    spec = raw_maps()["maps"][map_name]
    for r, f, m in GRID:
        hits = [s["key"] for s in spec["segments"] if rule_matches(s.get("when"), r, f, m)]
        assert len(hits) == 1, (r, f, m, hits)
        assert segment_of_cell(r, f, m, map_name) == hits[0]


@pytest.mark.parametrize("map_name", ["classic", "three_groups"])
def test_assign_on_whole_grid(map_name):
    out = assign_segments(grid_frame(), map_name)
    assert out["segment"].notna().all() and len(out) == 125
    keys = [s["key"] for s in load_segment_maps()["maps"][map_name]["segments"]]
    assert list(out["segment"].cat.categories) == keys
    # every segment of the shipped maps is reachable from some cell
    assert set(out["segment"].astype(str)) == set(keys)


def test_classic_and_three_group_cells_by_hand():
    classic = {(5, 5, 5): "champions", (1, 1, 1): "lost", (2, 1, 1): "hibernating",
               (1, 5, 5): "cant_lose", (5, 1, 1): "new", (4, 1, 1): "promising",
               (3, 3, 3): "need_attention", (3, 1, 1): "about_to_sleep", (2, 3, 4): "at_risk",
               (4, 5, 4): "loyal", (5, 2, 3): "potential_loyalist"}
    for cell, key in classic.items():
        assert segment_of_cell(*cell, "classic") == key
    three = {(5, 1, 1): "new_low", (5, 1, 5): "new_vip", (4, 3, 3): "promising_valuable",
             (5, 5, 5): "loyal_vip", (3, 5, 5): "at_risk", (3, 1, 1): "falling_asleep",
             (1, 1, 5): "sos", (2, 4, 3): "sleeping_valuable", (1, 5, 1): "sleeping_low"}
    for cell, key in three.items():
        assert segment_of_cell(*cell, "three_groups") == key


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=40),
       st.sampled_from(["classic", "three_groups"]), st.sampled_from(["en", "ru"]))
def test_every_customer_gets_exactly_the_cell_segment(cells, map_name, language):
    df = pd.DataFrame(cells, columns=["r_score", "f_score", "m_score"])
    out = assign_segments(df, map_name, language)
    assert out["segment"].notna().all() and out["segment_label"].notna().all()
    assert out["segment_group"].notna().all()
    expected = [segment_of_cell(r, f, m, map_name) for r, f, m in cells]
    assert list(out["segment"].astype(str)) == expected
    labels = dict(zip(map_info(map_name, language)["segment"], map_info(map_name, language)["label"]))
    assert list(out["segment_label"].astype(str)) == [labels[k] for k in expected]


def test_texts_in_both_languages_are_real_and_distinct():
    for name in ("classic", "three_groups"):
        en, ru = map_info(name, "en"), map_info(name, "ru")
        for col in ("label", "description", "strategy", "channel", "talking_points"):
            assert (en[col].str.len() > 0).all() and (ru[col].str.len() > 0).all()
        for col in ("description", "strategy", "talking_points"):
            assert ru[col].map(lambda s: bool(re.search("[а-яА-ЯёЁ]", s))).all(), (name, col)
            assert not (en[col] == ru[col]).any()
    ru = map_info("classic", "ru").set_index("segment")
    assert ru.loc["champions", "label"] == "Чемпионы"
    assert ru.loc["hibernating", "label"] == "Спящие"
    assert map_info("classic", "ru")["group"].iloc[0] == "Активные"


def _broken(mutator):
    raw = copy.deepcopy(raw_maps())
    mutator(raw)
    return raw


def test_missing_cells_are_named():
    def drop_lost(raw):
        raw["maps"]["classic"]["segments"] = [s for s in raw["maps"]["classic"]["segments"] if s["key"] != "lost"]
    with pytest.raises(SegmentMapError) as e:
        parse_segment_maps(_broken(drop_lost))
    msg = str(e.value)
    assert "'classic'" in msg and "no segment" in msg
    # lost = r 1, fm 1-2: e.g. 111, 112, 121 and 133 (fm 3? no: (3+3+1)//2 = 3) -> not lost
    for cell in ("111", "112", "121", "113"):
        assert cell in msg
    assert "133" not in msg.split("no segment:")[1].split("|")[0]


def test_overlapping_cells_are_named_with_both_segments():
    def widen(raw):
        for s in raw["maps"]["classic"]["segments"]:
            if s["key"] == "champions":
                s["when"] = {"r": [4, 5], "fm": [4, 5]}
    with pytest.raises(SegmentMapError) as e:
        parse_segment_maps(_broken(widen))
    msg = str(e.value)
    assert "several segments" in msg and "455 (champions & loyal)" in msg
    assert "no segment" not in msg


@pytest.mark.parametrize("mutate, needle", [
    (lambda raw: raw["maps"]["classic"]["segments"][0]["label"].pop("ru"), "no text for language(s) ['ru']"),
    (lambda raw: raw["maps"]["classic"]["segments"][0].__setitem__("when", {"r": [0, 5]}), "1 <= low <= high"),
    (lambda raw: raw["maps"]["classic"]["segments"][0].__setitem__("when", {"x": 1}), "unknown dimension"),
    (lambda raw: raw["maps"]["classic"]["segments"][1].__setitem__("key", "champions"), "duplicate key"),
    (lambda raw: raw["maps"]["classic"]["segments"][0].__setitem__("group", "vip"), "group 'vip'"),
    (lambda raw: raw["maps"]["classic"]["segments"][0].__setitem__("call_weight", 3), "call_weight"),
])
def test_malformed_maps_give_clear_errors(mutate, needle):
    with pytest.raises(SegmentMapError, match=re.escape(needle)):
        parse_segment_maps(_broken(mutate))


def test_user_file_is_loaded_and_validated(tmp_path):
    raw = raw_maps()
    raw["maps"] = {"tiny": {"segments": [
        {**raw["maps"]["classic"]["segments"][0], "key": "recent", "when": {"r": [3, 5]}},
        {**raw["maps"]["classic"]["segments"][1], "key": "old", "when": {"r": [1, 2]}},
    ]}}
    path = tmp_path / "maps.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    maps = load_segment_maps(path)
    out = assign_segments(grid_frame(), "tiny", "ru", maps=maps)
    assert (out["segment"].astype(str) == np.where(out["r_score"] >= 3, "recent", "old")).all()
    path.write_text("maps: [1, 2", encoding="utf-8")
    with pytest.raises(SegmentMapError, match="not valid YAML"):
        load_segment_maps(path)


def test_assign_rejects_bad_scores_and_unknown_names():
    df = grid_frame()
    with pytest.raises(ValueError, match="1..5"):
        assign_segments(df.assign(r_score=df["r_score"] + 1))
    with pytest.raises(KeyError, match="f_score"):
        assign_segments(df.drop(columns="f_score"))
    with pytest.raises(KeyError, match="unknown segment map"):
        assign_segments(df, "nope")
    with pytest.raises(ValueError, match="language"):
        assign_segments(df, "classic", "de")


@pytest.mark.parametrize("map_name", ["classic", "three_groups"])
def test_sql_case_matches_independent_reading_on_every_cell(map_name):
    """The map compiled to SQL, run by DuckDB on the whole grid (and off it), equals the
    independent reading of the YAML rules; keys and codes agree with assign_segments."""
    import duckdb

    spec = raw_maps()["maps"][map_name]
    grid = grid_frame()
    grid = pd.concat([grid, pd.DataFrame([(0, 1, 1), (1, 6, 1), (1, 1, None)], columns=grid.columns)],
                     ignore_index=True).astype("Int64")
    con = duckdb.connect()
    con.register("grid", grid)
    out = con.sql(f"SELECT {segment_case_sql(map_name)} AS k, {segment_case_sql(map_name, output='code')} AS c "
                  "FROM grid").df()
    keys = [s["key"] for s in spec["segments"]]
    for (r, f, m), k, c in zip(GRID, out["k"], out["c"]):
        hits = [s["key"] for s in spec["segments"] if rule_matches(s.get("when"), r, f, m)]
        assert k == hits[0] and keys[int(c)] == k, (r, f, m)
    assert out["k"].iloc[125:].isna().all() and out["c"].iloc[125:].isna().all()
    with pytest.raises(ValueError, match="output"):
        segment_case_sql(map_name, output="label")


def test_segments_in_the_engine_equal_pandas_assignment():
    from rfm_helpers.rfm import compute_scored_rfm

    rng = np.random.default_rng(4)
    n = 3000
    tx = pd.DataFrame({
        "customer_id": pd.array([f"{i:05d}" for i in rng.integers(0, 900, n)], dtype="string"),
        "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
        "amount": np.round(rng.gamma(2.0, 20.0, n), 2),
    })
    for map_name in ("classic", "three_groups"):
        for language in ("en", "ru"):
            got = compute_segmented_rfm(tx, "2024-12-31", 365, map_name=map_name, language=language)
            want = assign_segments(compute_scored_rfm(tx, "2024-12-31", 365), map_name, language)
            pd.testing.assert_frame_equal(got, want)
            assert got.attrs["segment_map"] == map_name
    with pytest.raises(ValueError, match="n must be 5"):
        compute_segmented_rfm(tx, "2024-12-31", n=4)


def test_assign_does_not_modify_input_and_handles_empty():
    df = grid_frame()
    before = df.copy()
    assign_segments(df)
    pd.testing.assert_frame_equal(df, before)
    empty = assign_segments(df.iloc[:0])
    assert empty.empty and "segment" in empty.columns


def test_segment_summary_matches_independent_groupby():
    rfm = score_quantiles(synthetic_rfm(500, 1))
    a = assign_segments(rfm, "classic", "en")
    s = segment_summary(a, "en")
    keys = [x["key"] for x in load_segment_maps()["maps"]["classic"]["segments"]]
    assert list(s["segment"]) == keys
    assert s["customers"].sum() == len(rfm)
    assert s["customer_share"].sum() == pytest.approx(1.0)
    assert s["revenue_share"].sum() == pytest.approx(1.0)
    seg = a["segment"].astype(str)
    for _, row in s.iterrows():
        members = a[seg == row["segment"]]
        assert row["customers"] == len(members)
        assert row["revenue"] == pytest.approx(members["monetary"].sum())
        if len(members):
            assert row["mean_recency_days"] == pytest.approx(members["recency_days"].mean())
            assert row["mean_frequency"] == pytest.approx(members["frequency"].mean())
    ru = segment_summary(assign_segments(rfm, "classic", "ru"), "ru")
    assert ru.loc[ru["segment"] == "champions", "label"].item() == "Чемпионы"
    assert {"description", "strategy", "channel"} <= set(ru.columns)


def test_quantile_segmenter_reproduces_score_quantiles_on_training_data():
    rfm = synthetic_rfm(600, 2)
    q = QuantileSegmenter().fit(rfm)
    mine = q.transform(rfm)
    sql = score_quantiles(rfm).set_index("customer_id").loc[rfm["customer_id"]]
    for c in ("r_score", "f_score", "m_score"):
        assert (mine[c].to_numpy() == sql[c].to_numpy()).all(), c
    pred = q.predict(rfm)
    ref = assign_segments(score_quantiles(rfm)).set_index("customer_id").loc[rfm["customer_id"], "segment"]
    assert (pred.astype(str).to_numpy() == ref.astype(str).to_numpy()).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 20), st.floats(0, 1e4)), min_size=5, max_size=60),
       st.tuples(st.integers(0, 900), st.integers(0, 40), st.floats(0, 2e4)),
       st.tuples(st.integers(0, 900), st.integers(0, 40), st.floats(0, 2e4)))
def test_quantile_predict_is_monotone_for_new_customers(train, a, b):
    ref = pd.DataFrame(train, columns=["recency_days", "frequency", "monetary"])
    q = QuantileSegmenter().fit(ref)
    new = pd.DataFrame([a, b], columns=["recency_days", "frequency", "monetary"])
    s = q.transform(new)
    assert s.isin(range(1, 6)).all().all()
    if a[0] <= b[0]:
        assert s["r_score"].iloc[0] >= s["r_score"].iloc[1]
    if a[1] <= b[1]:
        assert s["f_score"].iloc[0] <= s["f_score"].iloc[1]
    if a[2] <= b[2]:
        assert s["m_score"].iloc[0] <= s["m_score"].iloc[1]
    # better than everyone seen -> 5 on every dimension; worse than everyone -> 1
    best = q.transform(pd.DataFrame({"recency_days": [-1], "frequency": [10**6], "monetary": [1e9]}))
    worst = q.transform(pd.DataFrame({"recency_days": [10**6], "frequency": [-1], "monetary": [-1.0]}))
    assert (best.iloc[0] == 5).all() and (worst.iloc[0] == 1).all()


def test_quantile_cut_points_split_training_scores():
    rfm = synthetic_rfm(300, 3)
    q = QuantileSegmenter().fit(rfm)
    scores = q.transform(rfm)
    for col, sc in (("frequency", "f_score"), ("monetary", "m_score")):
        for s, cut in zip(range(2, 6), q.cuts_[col]):
            if cut == cut:
                assert scores.loc[rfm[col] >= cut, sc].min() >= s
                assert (scores.loc[rfm[col] < cut, sc] < s).all()


def test_parse_cuts_validation():
    assert parse_cuts("30, 90,180,365", "r") == (30.0, 90.0, 180.0, 365.0)
    assert parse_cuts([1, 2, 4, 8], "f") == (1.0, 2.0, 4.0, 8.0)
    with pytest.raises(ValueError, match=r"strictly increasing; found 90 >= 90"):
        parse_cuts("30,90,90,365", "recency_days_cuts")
    with pytest.raises(ValueError, match="strictly increasing; found 180 >= 90"):
        parse_cuts("30,180,90,365", "recency_days_cuts")
    with pytest.raises(ValueError, match="expected 4 cut points"):
        parse_cuts("30,90,180", "recency_days_cuts")
    with pytest.raises(ValueError, match="negative"):
        parse_cuts("-1,90,180,365", "recency_days_cuts")
    with pytest.raises(ValueError, match="not a comma-separated list"):
        parse_cuts("30,ninety,180,365", "recency_days_cuts")
    with pytest.raises(ValueError, match="finite"):
        parse_cuts([1, 2, 3, float("inf")], "x")
    with pytest.raises(ValueError, match="monetary_per_year_cuts"):
        ThresholdSegmenter(monetary_per_year_cuts="500,250,100,50")


def test_threshold_scores_at_the_boundaries():
    df = pd.DataFrame({
        "recency_days": [0, 30, 31, 90, 91, 365, 366],
        "frequency": [1] * 7, "monetary": [10.0] * 7, "tenure_days": [800] * 7,
    })
    seg = ThresholdSegmenter(recency_days_cuts="30,90,180,365").fit(df)
    assert list(seg.transform(df)["r_score"]) == [5, 5, 4, 4, 3, 2, 1]
    # per-year: tenure 729 -> 730 days observed; 4 orders -> 4 * 365.25 / 730 per year
    d = pd.DataFrame({"recency_days": [5, 5, 5], "frequency": [4, 2, 1], "monetary": [1000.0, 100.0, 49.0],
                      "tenure_days": [729, 729, 10]})
    fy = per_year(d, "frequency")
    assert fy.iloc[0] == pytest.approx(4 * 365.25 / 730)
    assert fy.iloc[2] == pytest.approx(1 * 365.25 / 365)  # short tenure: at least one year of exposure
    t = ThresholdSegmenter(frequency_per_year_cuts="1,2,4,8", monetary_per_year_cuts="50,100,250,500").transform(d)
    # per year: 2.0014, 1.0007, 1.0007 orders -> scores 3, 2, 2 (a value equal to a cut reaches it)
    assert list(t["f_score"]) == [3, 2, 2]
    # 500.3, 50.03, 49.03 per year -> 5, 2, 1
    assert list(t["m_score"]) == [5, 2, 1]
    exact = ThresholdSegmenter(frequency_per_year_cuts="1,2,4,8").transform(
        pd.DataFrame({"recency_days": [0], "frequency": [2], "monetary": [0.0], "tenure_days": [364]}))
    assert exact["frequency_per_year"].iloc[0] == pytest.approx(2 * 365.25 / 365)


def test_per_year_with_window():
    d = pd.DataFrame({"frequency": [3, 3], "tenure_days": [1000, 20]})
    # 180-day window: exposure = min(tenure + 1, 180), floored at min(365, 180) = 180
    assert list(per_year(d, "frequency", window_days=180)) == pytest.approx([3 * 365.25 / 180] * 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 200), st.floats(0, 1e5), st.integers(0, 3000)),
                min_size=1, max_size=30))
def test_threshold_scores_cover_every_value_and_are_monotone(rows):
    df = pd.DataFrame(rows, columns=["recency_days", "frequency", "monetary", "tenure_days"])
    s = ThresholdSegmenter().fit(df).transform(df)
    for c in ("r_score", "f_score", "m_score"):
        assert s[c].between(1, 5).all()
    # independent reading of the rules: count the cuts passed
    r_exp = 5 - sum((df["recency_days"] > c).astype(int) for c in (30, 90, 180, 365))
    assert (s["r_score"] == r_exp).all()
    f_exp = 1 + sum((s["frequency_per_year"] >= c).astype(int) for c in (1, 2, 4, 8))
    m_exp = 1 + sum((s["monetary_per_year"] >= c).astype(int) for c in (50, 100, 250, 500))
    assert (s["f_score"] == f_exp).all() and (s["m_score"] == m_exp).all()
    out = ThresholdSegmenter().assign(df)
    assert out["segment"].notna().all()
