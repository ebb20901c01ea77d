"""Segmentation at scale (issue 12): segments, clusters, comparison tables and lists computed in
the engine must equal the pandas path.

References are independent of the engine code: the pandas segmenters (``ThresholdSegmenter``,
``assign_segments``, ``ClusterSegmenter.predict_codes``), ``compare_methods`` on the pandas
table, scikit-learn's ``adjusted_rand_score`` on the labels, and the files written from the
pandas frame.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from rfm_helpers import act
from rfm_helpers.clustering import (ClusterSegmenter, ari_from_counts, cluster_code_sql, compare_methods,
                                    compare_methods_engine, findings, method_crosstab, pareto_curve, pareto_points,
                                    sample_customers, top_share)
from rfm_helpers.engine import DuckDBEngine, recording_fetches
from rfm_helpers.load.bundled import read_cdnow_raw
from rfm_helpers.report.texts.act import export_words
from rfm_helpers.rfm import compute_scored_rfm, scored_rfm_relation
from rfm_helpers.segments import (QuantileSegmenter, ThresholdSegmenter, assign_segments, segment_case_sql,
                                  threshold_score_sql)


def cdnow_tx():
    raw = read_cdnow_raw()
    return pd.DataFrame({"customer_id": raw["customer_id"].astype("string"),
                         "order_date": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
                         "amount": raw["dollar_value"].astype("float64")})


def tied_tx(n=6000, customers=1500, seed=3):
    """Generated transactions full of ties: few distinct dates, round amounts, repeat buyers."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": pd.array([f"{i:05d}" for i in rng.integers(0, customers, n)], dtype="string"),
        "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 40, n) * 17, unit="D"),
        "amount": rng.choice([5.0, 10.0, 10.0, 19.99, 25.5, 100.0, 0.0, -5.0], n),
    })


def engine_table(tx, as_of, window_days=None):
    eng = DuckDBEngine()
    rel = scored_rfm_relation(tx, as_of, window_days, engine=eng, order=True)
    return eng, eng.materialize(rel, "rfm_scored"), compute_scored_rfm(tx, as_of, window_days)


@pytest.fixture(scope="module")
def cdnow():
    eng, table, rfm = engine_table(cdnow_tx(), "1998-06-30")
    yield eng, table, rfm
    eng.close()


@pytest.fixture(scope="module")
def tied():
    eng, table, rfm = engine_table(tied_tx(), "2024-12-31", 365)
    yield eng, table, rfm
    eng.close()


def methods(window_days=None, **cluster):
    ca = dict(k_range=(3, 5), random_state=7, **cluster)
    return {"quantile": QuantileSegmenter(),
            "thresholds": ThresholdSegmenter("30,90,180,365", "1,2,4,8", "10,19.99,100,250.5", window_days=window_days),
            "kmeans": ClusterSegmenter("kmeans", **ca), "gmm": ClusterSegmenter("gmm", **ca)}


@pytest.mark.parametrize("data", ["cdnow", "tied"])
@pytest.mark.parametrize("window_days", [None, 200])
def test_threshold_scores_in_sql_equal_pandas(request, data, window_days):
    eng, table, rfm = request.getfixturevalue(data)
    seg = ThresholdSegmenter("0,90,180.5,365", "1,2,4,8.25", "10,19.99,100,250.5", window_days=window_days,
                             min_exposure_days=100)
    sc = threshold_score_sql(seg, "r.")
    got = eng.fetch(f"SELECT r.customer_id, {', '.join(f'{e} AS {k}' for k, e in sc.items())}, "
                    f"{segment_case_sql(output='code', r=sc['r_score'], f=sc['f_score'], m=sc['m_score'])} AS code "
                    f"FROM {table} AS r ORDER BY r.customer_id", label="test", kind="per_customer")
    want = seg.fit(rfm).assign(rfm)
    for c in ("r_score", "f_score", "m_score", "frequency_per_year", "monetary_per_year"):
        np.testing.assert_array_equal(got[c].to_numpy(), want[c].to_numpy(), err_msg=c)  # exactly, floats too
    np.testing.assert_array_equal(got["code"].to_numpy(), want["segment"].cat.codes.to_numpy())


@pytest.mark.parametrize("data", ["cdnow", "tied"])
def test_score_segments_tables_crosstab_and_ari_equal_the_pandas_comparison(request, data):
    eng, table, rfm = request.getfixturevalue(data)
    wd = 365 if data == "tied" else None
    got = compare_methods_engine(eng, table, methods(wd), n_boot=0, random_state=1)
    want = compare_methods(rfm, methods(wd), n_boot=0, random_state=1)
    for m in ("quantile", "thresholds"):
        pd.testing.assert_frame_equal(got["tables"][m], want["tables"][m], check_exact=False, rtol=1e-12)
        # the engine views hold the same segments per customer as the pandas assignment
        view = eng.fetch(f"SELECT customer_id, segment, segment_label, r_score, f_score, m_score FROM "
                         f"{got['assigned'][m]} ORDER BY customer_id", label="test", kind="per_customer")
        ref = want["assigned"][m]
        for c in ("segment", "segment_label"):
            assert view[c].tolist() == ref[c].astype(str).tolist()
        for c in ("r_score", "f_score", "m_score"):
            np.testing.assert_array_equal(view[c].to_numpy(), ref[c].to_numpy())
    pd.testing.assert_frame_equal(method_crosstab(got, "quantile", "thresholds"),
                                  method_crosstab(want, "quantile", "thresholds"), check_names=True)
    assert got["ari"].loc["quantile", "thresholds"] == want["ari"].loc["quantile", "thresholds"]
    # ARI of every pair from the joint counts = scikit-learn on the engine's own labels
    codes = eng.fetch(f"SELECT * FROM {got['codes']} ORDER BY customer_id", label="test", kind="per_customer")
    for a in got["ari"].index:
        for b in got["ari"].columns:
            assert got["ari"].loc[a, b] == pytest.approx(adjusted_rand_score(codes[a], codes[b]), abs=1e-12)
    assert got["customers"] == len(rfm)
    top = findings(got)[0]
    assert top[0] == "pareto" and top[1]["top"] == pytest.approx(top_share(rfm["monetary"], 0.2), rel=1e-12)


def test_small_base_is_its_own_sample_so_clusters_equal_the_pandas_comparison(cdnow):
    eng, table, rfm = cdnow
    got = compare_methods_engine(eng, table, methods(), n_boot=2, bootstrap_size=300, random_state=3)
    want = compare_methods(rfm, methods(), n_boot=2, bootstrap_size=300, random_state=3)
    assert len(got["sample"]) == len(rfm)
    for m in ("kmeans", "gmm"):
        assert got["fitted"][m].labels_ == want["fitted"][m].labels_
        pd.testing.assert_frame_equal(got["tables"][m], want["tables"][m], check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(got["ari"], want["ari"], check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(got["quality"], want["quality"], check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(method_crosstab(got, "quantile", "kmeans"), method_crosstab(want, "quantile", "kmeans"))


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_cluster_assignment_in_sql_equals_predict_on_every_customer(tied, algorithm):
    eng, table, rfm = tied
    sample = sample_customers(eng, table, 400, random_state=5)
    assert len(sample) == 400 and sample["customer_id"].is_monotonic_increasing
    pd.testing.assert_frame_equal(sample, sample_customers(eng, table, 400, random_state=5))  # seeded
    seg = ClusterSegmenter(algorithm, k_range=(3, 6), random_state=2).fit(sample)
    got = eng.fetch(f"SELECT * FROM ({cluster_code_sql(seg, table)}) AS c ORDER BY customer_id", label="test",
                    kind="per_customer")
    ordered = rfm.sort_values("customer_id", ignore_index=True)
    assert got["customer_id"].tolist() == ordered["customer_id"].tolist()
    np.testing.assert_array_equal(got["cluster"].to_numpy(), seg.predict_codes(ordered))
    assert got["cluster"].nunique() > 1


def test_comparison_on_a_sample_names_clusters_from_every_customer_and_fetches_no_customer_rows(tied):
    eng, table, rfm = tied
    with recording_fetches() as fetches:
        got = compare_methods_engine(eng, table, methods(365), n_boot=2, bootstrap_size=200, sample_size=500,
                                     random_state=4)
    assert {f.kind for f in fetches} <= {"aggregate", "sample"}
    assert max(f.rows for f in fetches) <= 2001  # the sample (500) and aggregates (Pareto points at most)
    assert len(got["sample"]) == 500 and got["customers"] == len(rfm)
    for m in ("kmeans", "gmm"):
        seg = got["fitted"][m]
        assert seg.fit_rows_used_ == 500 and seg.n_customers_ == len(rfm)
        # the names' medians and sizes are those of every customer, as the pandas fit names them
        labels = pd.Series(seg.predict_codes(rfm)).map(dict(enumerate(seg.keys_)))
        med = rfm.assign(segment=labels.to_numpy()).groupby("segment")["monetary"].median()
        table_ = got["tables"][m].set_index("segment")
        np.testing.assert_allclose(table_["median_monetary"], med.loc[table_.index], rtol=1e-12)
        assert table_["customers"].sum() == len(rfm)
        assert dict(zip(seg.centres_["segment"], seg.centres_["customers"])) == \
            labels.value_counts().reindex(seg.keys_, fill_value=0).to_dict()
        q = QuantileSegmenter().fit(rfm).transform(seg.centres_.rename(columns={
            "median_recency_days": "recency_days", "median_frequency": "frequency", "median_monetary": "monetary"}))
        np.testing.assert_array_equal(q.to_numpy(), seg.centres_[["r_score", "f_score", "m_score"]].to_numpy())
    assert set(got["quality"]["method"]) == set(methods())


@pytest.mark.parametrize("seed", range(6))
def test_ari_from_counts_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 3000))
    a = rng.integers(0, int(rng.integers(1, 9)), n)
    b = np.where(rng.random(n) < 0.6, a, rng.integers(0, int(rng.integers(1, 7)), n))
    counts = pd.crosstab(a, b).to_numpy()
    assert ari_from_counts(counts) == adjusted_rand_score(a, b)
    assert ari_from_counts(np.array([[5]])) == adjusted_rand_score([0] * 5, [1] * 5) == 1.0


def test_pareto_points_equal_the_pandas_curve(tied):
    eng, table, rfm = tied
    full = pareto_curve(rfm["monetary"])
    pts = pareto_points(eng, table, points=50)
    idx = np.round(pts["customer_share"].to_numpy() * len(rfm)).astype(int)
    np.testing.assert_allclose(pts["revenue_share"], full["revenue_share"].to_numpy()[idx], rtol=1e-9, atol=1e-12)
    assert pts.attrs["top_share"] == pytest.approx(top_share(rfm["monetary"], 0.2), rel=1e-9)
    every = pareto_points(eng, table, points=10 ** 6)
    assert len(every) == len(full)


def _writer(path, language="en"):
    return act.ExportWriter(path, language, export_words(language), source_name="shop.csv",
                            as_of=pd.Timestamp("2024-12-31").date())


@pytest.mark.parametrize("language", ["en", "ru"])
def test_lists_from_an_engine_view_equal_the_lists_from_pandas(tied, tmp_path, language):
    from openpyxl import load_workbook

    eng, table, rfm = tied
    frame = assign_segments(rfm, "classic", language)
    view = eng.unique_name("assigned_q")
    eng.con.execute(f"CREATE TEMP VIEW {view} AS SELECT *, {segment_case_sql()} AS segment FROM {table}")
    ids = rfm["customer_id"].tolist()
    contacts = pd.DataFrame({"customer_id": ids[::2], "email": [f"c{i}@example.com" for i in range(len(ids[::2]))],
                             "email_consent": [1, 0] * (len(ids[::2]) // 2) + [1] * (len(ids[::2]) % 2)})
    tests = [{"customer_id": "TEST-1", "email": "qa@example.com"}]
    out = {}
    for how, assigned, kw in (("pandas", frame, {}), ("engine", view, {"engine": eng}),
                              ("relation", eng.sql(f"SELECT * FROM {view}"), {})):
        ex = _writer(tmp_path / how, language)
        man = act.write_mailing_lists(ex, assigned, "classic", test_recipients=tests, contacts=contacts,
                                      channel="email", **kw)
        calls = act.write_call_list(ex, assigned, "classic", max_rows=50, test_recipients=tests, **kw)
        out[how] = (man, calls, ex)
    man0, calls0, ex0 = out["pandas"]
    assert len(man0) > 3
    for how in ("engine", "relation"):
        man, calls, ex = out[how]
        pd.testing.assert_frame_equal(man, man0)
        assert {k: v for k, v in calls.items() if k != "warnings"} == {k: v for k, v in calls0.items() if k != "warnings"}
        for rec in ex0.records:
            name = rec.file.split("#", 1)[0]
            if name.endswith(".csv"):
                assert (tmp_path / how / name).read_bytes() == (tmp_path / "pandas" / name).read_bytes(), name
        for book in ("mailing_lists.xlsx", "call_list.xlsx"):
            a, b = load_workbook(tmp_path / "pandas" / book), load_workbook(tmp_path / how / book)
            assert a.sheetnames == b.sheetnames
            for s in a.sheetnames[1:]:
                assert [[c.value for c in r] for r in a[s].iter_rows()] == [[c.value for c in r] for r in b[s].iter_rows()]
    # the engine keeps none of the lists' scratch names afterwards; a clash is refused, not shadowed
    left = {r[0] for r in eng.con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                                          "UNION ALL SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not left & set(act.mailing.SCRATCH_NAMES)
    assert eng.fetch("SELECT 1 AS x", label="after the lists", kind="aggregate")["x"].tolist() == [1]  # no result left open
    eng.con.execute("CREATE TEMP VIEW customers AS SELECT 1 AS x")
    try:
        with pytest.raises(ValueError, match="customers"):
            act.write_mailing_lists(_writer(tmp_path / "clash", language), view, "classic", engine=eng)
    finally:
        eng.con.execute("DROP VIEW customers")
    with pytest.raises(ValueError, match="engine"):
        act.write_mailing_lists(_writer(tmp_path / "noengine", language), view, "classic")


# ---------------------------------------------------------------- notebook 02 from aggregates

def channel_tx(n=4000, seed=8):
    tx = tied_tx(n, 900, seed)
    tx["channel"] = np.random.default_rng(seed).choice(["web", "store", "app"], n)
    return tx


@pytest.mark.parametrize("data", ["cdnow", "tied"])
def test_rfm_page_figures_from_the_engine_equal_pandas(request, data):
    from rfm_helpers import insights

    eng, table, rfm = request.getfixturevalue(data)
    got, want = insights.headline_sql(eng, table), insights.headline(rfm)
    for k, v in want.as_dict().items():
        assert got.as_dict()[k] == pytest.approx(v, rel=1e-12, nan_ok=True), k
    assert (got.customers, got.orders, got.median_recency_days, got.one_order_share, got.active_90d_share) == \
        (want.customers, want.orders, want.median_recency_days, want.one_order_share, want.active_90d_share)
    scores = insights.score_table_sql(eng, table)
    pd.testing.assert_frame_equal(scores, insights.score_table(rfm), check_dtype=False)
    assert insights.unused_from_score_table(scores, "F") == insights.unused_scores(rfm, "f_score")
    cells = insights.score_cells_sql(eng, table).set_index(["r_score", "f_score"])
    ref = rfm.groupby(["r_score", "f_score"]).agg(customers=("customer_id", "count"), mean_monetary=("monetary", "mean"))
    assert cells["customers"].to_dict() == ref["customers"].to_dict()
    np.testing.assert_allclose(cells["mean_monetary"].to_numpy(), ref["mean_monetary"].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("data", ["cdnow", "tied"])
@pytest.mark.parametrize("map_name,language", [("classic", "en"), ("three_groups", "ru")])
def test_segment_summary_in_sql_equals_pandas(request, data, map_name, language):
    from rfm_helpers.segments import segment_summary, segment_summary_sql

    eng, table, rfm = request.getfixturevalue(data)
    got = segment_summary_sql(eng, table, map_name, language)
    want = segment_summary(assign_segments(rfm, map_name, language), language)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    assert got["customers"].tolist() == want["customers"].tolist()


@pytest.mark.parametrize("data", ["cdnow", "tied"])
def test_distribution_counts_draw_the_same_histograms(request, data):
    import matplotlib.pyplot as plt

    from rfm_helpers import insights
    from rfm_helpers.report.charts import rfm as charts
    from rfm_helpers.report.i18n import translator

    eng, table, rfm = request.getfixturevalue(data)
    dist = insights.distributions_sql(eng, table)
    assert dict(zip(dist["recency"]["value"], dist["recency"]["customers"])) == rfm["recency_days"].value_counts().to_dict()
    assert dict(zip(dist["frequency"]["value"], dist["frequency"]["customers"])) == rfm["frequency"].value_counts().to_dict()
    pos = np.log10(rfm.loc[rfm["monetary"] > 0, "monetary"].to_numpy())
    counts, edges = np.histogram(pos, bins=40)
    np.testing.assert_array_equal(dist["spend"]["customers"].to_numpy(), counts)
    np.testing.assert_allclose(dist["spend"]["lo"].to_numpy(), edges[:-1], rtol=0, atol=0)
    cap = charts._weighted_quantile(dist["frequency"]["value"].to_numpy(), dist["frequency"]["customers"].to_numpy(), 0.99)
    assert cap == rfm["frequency"].quantile(0.99)
    t = translator("en", "USD")
    a, b = charts.plot_distributions(rfm, t), charts.plot_distributions(dist, t)
    for ax_a, ax_b in zip(a.axes, b.axes):  # the same bars: positions, widths and heights
        bars = [[(round(p.get_x(), 9), round(p.get_width(), 9), p.get_height()) for p in ax.patches] for ax in (ax_a, ax_b)]
        assert bars[0] == bars[1]
    h1, h2 = charts.plot_rfm_heatmap(rfm, t), charts.plot_rfm_heatmap(insights.score_cells_sql(eng, table), t)
    assert [x.get_text() for x in h1.axes[0].texts] == [x.get_text() for x in h2.axes[0].texts]
    s1, s2 = charts.plot_score_counts(rfm, t), charts.plot_score_counts(insights.score_table_sql(eng, table), t)
    assert [p.get_height() for ax in s1.axes for p in ax.patches] == [p.get_height() for ax in s2.axes for p in ax.patches]
    plt.close("all")


def test_channel_table_in_the_engine_equals_pandas():
    from rfm_helpers import insights
    from rfm_helpers.rfm import compute_rfm, rfm_relation

    tx = channel_tx()
    with DuckDBEngine() as eng:
        rel = rfm_relation(tx, "2024-12-31", 365, by_channel=True, engine=eng)
        got = insights.channel_table_sql(eng, f"({rel.sql})")
    want = insights.channel_table(compute_rfm(tx, "2024-12-31", 365, by_channel=True))
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, check_dtype=False)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_scores_file_from_the_engine_equals_the_file_from_pandas(tied, tmp_path, language):
    from rfm_helpers.act.engine_tables import write_scores_from_engine

    eng, table, rfm = tied
    a = act.write_scores(_writer(tmp_path / "pandas", language), rfm)
    b = write_scores_from_engine(_writer(tmp_path / "engine", language), eng, table)
    assert (a.rows, a.warnings) == (b.rows, b.warnings) == (len(rfm), [])
    assert (tmp_path / "engine" / b.file).read_bytes() == (tmp_path / "pandas" / a.file).read_bytes()
    assert eng.fetch("SELECT 1 AS x", label="after the file", kind="aggregate")["x"].tolist() == [1]  # engine usable
    with pytest.raises(KeyError, match="r_score"):
        write_scores_from_engine(_writer(tmp_path / "bad", language), eng,
                                 f"(SELECT * EXCLUDE (r_score) FROM {table})")


@pytest.mark.parametrize("gzip_rows", [0, 3])
def test_scores_file_from_the_engine_warns_of_formula_like_ids_as_pandas(tmp_path, gzip_rows):
    """Ids a spreadsheet would run as formulas: the engine path's warnings, rows, compressed
    name and bytes are the pandas writer's."""
    import gzip

    from rfm_helpers.act.engine_tables import write_scores_from_engine
    from rfm_helpers.engine import DuckDBEngine
    from rfm_helpers.rfm import compute_scored_rfm, scored_rfm_relation

    ids = ["=cmd", "+1", "-5", "@x", "-1.5", "+abc", "ok", "\tt", "7"]
    tx = pd.DataFrame({"customer_id": pd.Series(ids * 2, dtype="string"),
                       "order_date": pd.to_datetime(["2024-11-01"] * 9 + ["2024-12-01"] * 9),
                       "amount": [float(i + 1) for i in range(18)]})
    rfm = compute_scored_rfm(tx, "2024-12-31")

    def writer(path):
        w = _writer(path)
        w.gzip_rows = gzip_rows
        return w

    with DuckDBEngine() as eng:
        table = eng.materialize(scored_rfm_relation(tx, "2024-12-31", engine=eng, order=True), "scored")
        a = act.write_scores(writer(tmp_path / "pandas"), rfm)
        b = write_scores_from_engine(writer(tmp_path / "engine"), eng, table)
        assert eng.fetch("SELECT 1 AS x", label="after the file", kind="aggregate")["x"].tolist() == [1]
    assert (a.file, a.rows, a.warnings) == (b.file, b.rows, b.warnings)
    assert b.file == ("rfm_scores.csv.gz" if gzip_rows else "rfm_scores.csv") and b.rows == 9
    assert [(w["code"], w.get("count")) for w in b.warnings if w["code"] == "formula_like_keys"] == [("formula_like_keys", 4)]  # =cmd @x +abc \tt
    read = gzip.decompress if gzip_rows else (lambda x: x)
    assert read((tmp_path / "engine" / b.file).read_bytes()) == read((tmp_path / "pandas" / a.file).read_bytes())
