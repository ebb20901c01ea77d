"""Clustering segmenters, agreement (ARI) and stability, Pareto helpers.

ARI is cross-checked against a hand implementation of the Hubert-Arabie formula from the
contingency table (scipy.special.comb), not against our own output.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import comb
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from rfm_helpers.clustering import (ClusterSegmenter, agreement, bootstrap_stability, cluster_quality,
                                    compare_methods, findings, pareto_curve, rfm_features, segment_table,
                                    top_share)
from rfm_helpers.segments import QuantileSegmenter, ThresholdSegmenter


def three_groups(n_per=150, seed=0):
    """Three well separated customer types (in log space) with known membership: a small
    best group (0.4 * n_per, so its centre is in the top fifth on every dimension), a
    middle group (n_per) and a large lapsed group (1.6 * n_per)."""
    rng = np.random.default_rng(seed)
    specs = [  # recency days, orders, spend (medians), relative size; best first
        (5, 20, 2000.0, 0.4),
        (120, 4, 150.0, 1.0),
        (600, 1, 15.0, 1.6),
    ]
    rows, truth = [], []
    for g, (rec, freq, mon, rel) in enumerate(specs):
        size = int(round(rel * n_per))
        rows.append(pd.DataFrame({
            "recency_days": np.round(rec * np.exp(rng.normal(0, 0.15, size))).astype("int64"),
            "frequency": np.maximum(1, np.round(freq * np.exp(rng.normal(0, 0.1, size)))).astype("int64"),
            "monetary": np.round(mon * np.exp(rng.normal(0, 0.15, size)), 2),
        }))
        truth += [g] * size
    df = pd.concat(rows, ignore_index=True)
    df["tenure_days"] = df["recency_days"] + 200
    df["customer_id"] = pd.array([f"{i:05d}" for i in range(len(df))], dtype="string")
    return df, np.array(truth)


def ari_by_hand(a, b):
    """Adjusted Rand index from the contingency table (Hubert & Arabie, 1985)."""
    a, b = np.asarray(a), np.asarray(b)
    table = pd.crosstab(a, b).to_numpy()
    n = table.sum()
    sum_ij = comb(table, 2).sum()
    sum_a = comb(table.sum(axis=1), 2).sum()
    sum_b = comb(table.sum(axis=0), 2).sum()
    expected = sum_a * sum_b / comb(n, 2)
    max_index = (sum_a + sum_b) / 2
    return (sum_ij - expected) / (max_index - expected)


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_finds_known_groups_and_names_them_by_centre(algorithm):
    df, truth = three_groups()
    seg = ClusterSegmenter(algorithm, k_range=(2, 5), random_state=1).fit(df)
    assert seg.k_ == 3
    pred = seg.predict(df)
    assert ari_by_hand(truth, pred.astype(str)) == pytest.approx(1.0)
    # clusters are ordered best first; the best group's centre is R5 F5 M5 -> Champions
    assert seg.keys_[0] == "champions"
    assert seg.labels_[0].startswith("Champions (R5 F5 M5)")
    assert (pred[truth == 0].astype(str) == "champions").all()
    assert seg.centres_["median_monetary"].is_monotonic_decreasing
    assert len(set(seg.keys_)) == 3 and len(set(seg.labels_)) == 3
    assert not seg.k_scores_.empty and set(seg.k_scores_["k"]) == set(range(2, 6))


def test_kmeans_choice_is_the_best_silhouette_and_gmm_the_lowest_bic():
    df, _ = three_groups(seed=3)
    km = ClusterSegmenter("kmeans", k_range=(2, 5)).fit(df)
    assert km.k_ == int(km.k_scores_.loc[km.k_scores_["value"].idxmax(), "k"])
    gm = ClusterSegmenter("gmm", k_range=(2, 5)).fit(df)
    assert gm.k_ == int(gm.k_scores_.loc[gm.k_scores_["value"].idxmin(), "k"])
    assert set(gm.k_scores_["criterion"]) == {"BIC"}


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_seeded_runs_are_reproducible(algorithm):
    df, _ = three_groups(seed=5)
    a = ClusterSegmenter(algorithm, n_clusters=4, random_state=7).fit(df)
    b = ClusterSegmenter(algorithm, n_clusters=4, random_state=7).fit(df)
    assert a.k_ == b.k_ == 4
    assert a.keys_ == b.keys_ and a.labels_ == b.labels_
    assert (a.predict(df).astype(str) == b.predict(df).astype(str)).all()
    # duplicate segment names get distinct keys and labels
    assert len(set(a.keys_)) == 4 and len(set(a.labels_)) == 4


def test_assign_adds_segment_columns_and_predicts_new_customers():
    df, truth = three_groups(seed=2)
    seg = ClusterSegmenter("kmeans", n_clusters=3).fit(df)
    out = seg.assign(df)
    assert {"segment", "segment_label", "segment_group"} <= set(out.columns)
    assert out["segment"].notna().all()
    new = pd.DataFrame({"recency_days": [3, 700], "frequency": [25, 1], "monetary": [3000.0, 10.0]})
    p = seg.predict(new).astype(str).tolist()
    assert p[0] == "champions" and p[1] != "champions"
    ru = ClusterSegmenter("kmeans", n_clusters=3, language="ru").fit(df)
    assert ru.labels_[0].startswith("Чемпионы")


def test_invalid_parameters():
    with pytest.raises(ValueError, match="algorithm"):
        ClusterSegmenter("dbscan")
    with pytest.raises(ValueError, match="n_clusters"):
        ClusterSegmenter(n_clusters=1)
    with pytest.raises(ValueError, match="k_range"):
        ClusterSegmenter(k_range=(1, 4))
    with pytest.raises(RuntimeError, match="not fitted"):
        ClusterSegmenter().predict(three_groups()[0])


def test_features_are_log1p_and_clip_negative_spend():
    df = pd.DataFrame({"recency_days": [0, 9], "frequency": [1, 99], "monetary": [-5.0, np.e - 1]})
    X = rfm_features(df)
    assert X[0].tolist() == [0.0, np.log(2), 0.0]
    assert X[1].tolist() == pytest.approx([np.log(10), np.log(100), 1.0])


def test_agreement_matches_hand_computed_ari():
    a = ["x", "x", "x", "y", "y", "z", "z", "z", "z"]
    b = ["p", "p", "q", "q", "q", "r", "r", "r", "p"]
    ari = agreement({"A": a, "B": b, "A renamed": [{"x": 1, "y": 2, "z": 3}[v] for v in a]})
    assert ari.loc["A", "B"] == pytest.approx(ari_by_hand(a, b))
    assert ari.loc["A", "B"] == pytest.approx(ari.loc["B", "A"])
    assert ari.loc["A", "A renamed"] == pytest.approx(1.0)
    assert np.allclose(np.diag(ari.to_numpy()), 1.0)
    with pytest.raises(ValueError, match="same customers"):
        agreement({"A": a, "B": b[:-1]})


def test_cluster_quality_equals_full_silhouette_when_not_sampled():
    df, truth = three_groups(n_per=40)
    Z = StandardScaler().fit_transform(rfm_features(df))
    q = cluster_quality(Z, truth, silhouette_sample=10_000)
    assert q["silhouette"] == pytest.approx(silhouette_score(Z, truth))
    assert q["clusters"] == 3 and q["davies_bouldin"] > 0
    assert np.isnan(cluster_quality(Z, np.zeros(len(Z)))["silhouette"])


def test_bootstrap_stability():
    df, _ = three_groups(n_per=100, seed=4)
    fixed = bootstrap_stability(ThresholdSegmenter(), df, n_boot=3, sample_size=200, eval_size=200)
    assert len(fixed) == 3 and (fixed["ari"] == 1.0).all()
    km = bootstrap_stability(ClusterSegmenter("kmeans", n_clusters=3), df, n_boot=3, sample_size=200, eval_size=200)
    assert (km["ari"] > 0.95).all()  # well separated groups are found every time
    q = bootstrap_stability(QuantileSegmenter(), df, n_boot=2, sample_size=300, eval_size=300)
    assert q["ari"].between(-1, 1).all()


def test_pareto_by_hand():
    assert top_share([10, 0, 0, 0, 0]) == pytest.approx(1.0)
    assert top_share([1, 1, 1, 1, 1]) == pytest.approx(0.2)
    assert top_share([5, 1, 1, 1, 1, 1, 1, 1, 1, 1], 0.2) == pytest.approx(6 / 14)  # top 2 of 10
    assert np.isnan(top_share([0, 0]))
    c = pareto_curve([3, 1, 0, 6])
    assert c.iloc[0].tolist() == [0.0, 0.0] and c.iloc[-1].tolist() == pytest.approx([1.0, 1.0])
    assert c["revenue_share"].is_monotonic_increasing
    assert c["revenue_share"].iloc[1] == pytest.approx(0.6)


def test_compare_methods_and_conclusion():
    df, _ = three_groups(n_per=80, seed=6)
    segs = {"quantile": QuantileSegmenter(), "thresholds": ThresholdSegmenter(),
            "k-means": ClusterSegmenter("kmeans", n_clusters=3)}
    res = compare_methods(df, segs, n_boot=2, bootstrap_size=150)
    for name, table in res["tables"].items():
        assert table["customers"].sum() == len(df)
        assert table["revenue_share"].sum() == pytest.approx(1.0)
    assert list(res["ari"].index) == list(segs)
    manual = ari_by_hand(res["assigned"]["quantile"]["segment"].astype(str),
                         res["assigned"]["k-means"]["segment"].astype(str))
    assert res["ari"].loc["quantile", "k-means"] == pytest.approx(manual)
    q = res["quality"].set_index("method")
    assert not q.loc["thresholds", "data_driven"] and q.loc["k-means", "data_driven"]
    found = findings(res, df["monetary"])
    codes = [code for code, _ in found]
    assert codes[0] == "pareto" and found[0][1]["top"] == pytest.approx(top_share(df["monetary"], 0.2))
    assert [v["method"] for c, v in found if c == "biggest"] == list(segs)
    pairs = {(v["a"], v["b"]): v for c, v in found if c == "agreement"}
    assert set(pairs) == {("quantile", "thresholds"), ("quantile", "k-means"), ("thresholds", "k-means")}
    v = pairs[("quantile", "k-means")]
    assert v["ari"] == pytest.approx(manual)
    assert v["level"] == ("high" if manual >= 0.8 else "partial" if manual >= 0.5 else "low")
    assert ("stable" in codes) != ("unstable" in codes)  # one verdict on the data-driven methods
    # the report layer says every finding, in both languages, with the methods' names
    from rfm_helpers.report.i18n import translator
    from rfm_helpers.report.texts.segment import conclusion_sentences

    en = [tpl.format(**v) for tpl, v in conclusion_sentences(translator("en"), found)]
    ru = [tpl.format(**v) for tpl, v in conclusion_sentences(translator("ru"), found)]
    assert len(en) == len(ru) == len(found)
    assert "top 20%" in en[0] and "выручки" in ru[0]
    assert any("k-means" in line for line in en)


def test_segment_table_drops_empty_and_keeps_order():
    df, _ = three_groups(n_per=30)
    a = QuantileSegmenter().fit(df).assign(df)
    t = segment_table(a)
    cats = [c for c in a["segment"].cat.categories if (a["segment"] == c).any()]
    assert list(t["segment"]) == cats
    assert (t["customers"] > 0).all()


@pytest.mark.parametrize("language, word, kmeans", [("en", "Pareto", "K-means"), ("ru", "Парето", "K-средних")])
def test_plots_return_labelled_figures(language, word, kmeans):
    import matplotlib.pyplot as plt

    from rfm_helpers.report.charts import segment as ps
    from rfm_helpers.report.i18n import translator

    t = translator(language)
    df, _ = three_groups(n_per=40, seed=8)
    res = compare_methods(df, {"quantile": QuantileSegmenter(), "kmeans": ClusterSegmenter(k_range=(2, 3))},
                          n_boot=1, bootstrap_size=60)
    km = res["fitted"]["kmeans"]
    ksel = ps.plot_k_selection({"kmeans": km.k_scores_}, {"kmeans": km.k_}, t)
    assert ksel.axes[0].get_title().startswith(kmeans)  # methods named in the report's language
    figs = [ksel, ps.plot_segment_shares(res["tables"], t), ps.plot_segment_profiles(res["tables"], t),
            ps.plot_agreement(res["ari"], t), ps.plot_stability(res["stability"], t)]
    pareto = ps.plot_pareto(df["monetary"], t)
    assert word in pareto.axes[0].get_title()
    for fig in figs + [pareto]:
        assert all(ax.get_title() or ax.get_xlabel() or ax.get_ylabel() for ax in fig.axes if ax.get_visible())
        plt.close(fig)


def test_agreement_accepts_categoricals_and_missing_labels():
    a = pd.Categorical(["x", "x", "y", "y", None, None])
    b = pd.Series(["p", "p", "q", "q", "r", "r"])
    ari = agreement({"A": a, "B": b, "C": ["q", "q", "p", "p", "p", "r"]})
    assert ari.loc["A", "B"] == pytest.approx(1.0)  # missing labels form one group
    assert ari.loc["A", "C"] == pytest.approx(ari_by_hand(list(b), ["q", "q", "p", "p", "p", "r"]))


def test_cluster_sample_sizes_are_recorded_and_seeded():
    df, _ = three_groups(n_per=400, seed=2)
    seg = ClusterSegmenter("kmeans", random_state=5, selection_rows=300, fit_rows=500).fit(df)
    assert seg.n_customers_ == len(df)
    assert seg.selection_rows_used_ == 300 and seg.fit_rows_used_ == 500
    again = ClusterSegmenter("kmeans", random_state=5, selection_rows=300, fit_rows=500).fit(df)
    assert (seg.predict_codes(df) == again.predict_codes(df)).all()
    fixed = ClusterSegmenter("gmm", n_clusters=3, fit_rows=10_000).fit(df)
    assert fixed.selection_rows_used_ == 0 and fixed.fit_rows_used_ == len(df)


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_fit_quality_is_measured_when_read_on_the_rows_fitted(algorithm):
    """fit_quality_ is measured when first read (the comparison and the bootstrap's refits never
    read it): the numbers are cluster_quality of the fitted rows and their clusters, as fit used
    to measure them, and stay so after the segmenter is copied or predicts other rows."""
    import copy

    df, _ = three_groups(n_per=300)
    seg = ClusterSegmenter(algorithm, n_clusters=3, random_state=3, silhouette_sample=400).fit(df)
    assert "_fit_quality" not in vars(seg)
    Z = seg.scaler_.transform(rfm_features(df))
    want = cluster_quality(Z, seg.predict_codes(df), 400, 3)
    seg.predict(df.iloc[:50])
    twin = copy.deepcopy(seg)
    assert seg.fit_quality_ == want and twin.fit_quality_ == want
    assert seg.fit_quality_ is seg.fit_quality_  # measured once
    with pytest.raises(AttributeError):
        ClusterSegmenter(algorithm).fit_quality_


def _profiles_as_main_drew_them(tables, t):
    """The segment-profiles chart as main drew it (one seaborn heatmap after another, each
    drawing the whole figure to check its tick labels): the reference of the one-drawing chart."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from rfm_helpers.report.texts.segment import method_title

    n = len(tables)
    heights = [max(len(tab), 1) for tab in tables.values()]
    fig, axes = plt.subplots(n, 1, figsize=(8, 0.38 * sum(heights) + 1.2 * n),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    cols = ["median_recency_days", "median_frequency", "median_monetary"]
    names = [t._("Days since last order"), t._("Orders"), t._("Spend")]
    for ax, (key, tab) in zip(axes[:, 0], tables.items()):
        vals = tab[cols].astype("float64")
        goodness = vals.copy()
        goodness["median_recency_days"] = -goodness["median_recency_days"]
        rng = (goodness.max() - goodness.min()).replace(0, 1)
        colour = (goodness - goodness.min()) / rng
        annot = np.array([[t.integer(r), t.integer(f) if f >= 10 or f == int(f) else t.number(f, 1),
                           t.money(m, cents=False)] for r, f, m in vals.to_numpy()], dtype=object)
        sns.heatmap(colour.to_numpy(), annot=annot, fmt="", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax,
                    yticklabels=tab["label"].astype(str).tolist(), xticklabels=names, linewidths=0.5)
        ax.set_title(method_title(t, key))
        ax.set_ylabel("")
        ax.tick_params(axis="y", rotation=0)
    fig.suptitle(t._("Segment profiles (medians)"))
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


class _LongWords:
    """A translator whose column names are long enough to overlap (seaborn then turns them)."""

    def __init__(self, t):
        self._t = t

    def __getattr__(self, name):
        return getattr(self._t, name)

    def _(self, msg):
        return self._t._(msg) * 6 if msg in ("Days since last order", "Orders", "Spend") else self._t._(msg)


@pytest.mark.filterwarnings("ignore:Tight layout not applied")  # the long words' vertical labels, in both charts
@pytest.mark.parametrize("language, long_words", [("en", False), ("ru", False), ("en", True)])
def test_segment_profiles_drawn_once_render_as_main_drew_them(language, long_words):
    """The profiles chart draws its figure once instead of once per heatmap: the rendered PNG
    and SVG are byte for byte those of main's chart (labels that overlap turned as seaborn does)."""
    import io

    import matplotlib.pyplot as plt

    from rfm_helpers.report.charts import segment as ps
    from rfm_helpers.report.i18n import translator

    t = translator(language, "USD")
    t = _LongWords(t) if long_words else t
    df, _ = three_groups(n_per=40, seed=8)
    res = compare_methods(df, {"quantile": QuantileSegmenter(), "thresholds": ThresholdSegmenter(),
                               "kmeans": ClusterSegmenter(n_clusters=3)}, n_boot=0)

    def render(fig):
        out = []
        for fmt in ("png", "svg"):
            buf = io.BytesIO()
            plt.rcParams["svg.hashsalt"] = "rfm"
            fig.savefig(buf, format=fmt, dpi=100, metadata={"Date": None} if fmt == "svg" else None)
            out.append(buf.getvalue())
        plt.close(fig)
        return out

    want = render(_profiles_as_main_drew_them(res["tables"], t))
    got_fig = ps.plot_segment_profiles(res["tables"], t)
    rotated = {lab.get_rotation() for ax in got_fig.axes for lab in ax.get_xticklabels()}
    assert rotated == ({90.0} if long_words else {0.0})
    assert render(got_fig) == want


@pytest.mark.parametrize("sample_size", [None, 300, 1000])
def test_shared_silhouette_is_scikit_learns_for_every_labeling(sample_size):
    """The silhouette of several labelings of the same points with their distances computed once
    (the k tried, the methods compared) is scikit-learn's silhouette_score of each, to the bit;
    the same for a seed that draws other rows every call (a generator: scikit-learn's own calls)."""
    from sklearn.metrics import silhouette_score

    from rfm_helpers.clustering import _Silhouette

    rng = np.random.default_rng(5)
    Z = np.log1p(rng.gamma(2.0, 3.0, size=(1000, 3)))
    labelings = [rng.integers(0, k, len(Z)) for k in (2, 3, 5, 8)] + [(Z[:, 0] > np.median(Z[:, 0])).astype(int)]
    shared = _Silhouette(Z, sample_size, 42)
    for labels in labelings:
        assert shared.score(labels) == silhouette_score(Z, labels, sample_size=sample_size, random_state=42)
    gen_a, gen_b = np.random.RandomState(3), np.random.RandomState(3)
    own = _Silhouette(Z, sample_size, gen_a)
    for labels in labelings:
        assert own.score(labels) == silhouette_score(Z, labels, sample_size=sample_size, random_state=gen_b)
