"""Clustering segmentation (k-means, Gaussian mixture) and method comparison.

:class:`ClusterSegmenter` has the same interface as the score-based segmenters in
:mod:`rfm_helpers.segments` (``fit``, ``predict``, ``fit_predict``, ``assign``, ``labels``),
so notebook 03 compares quantile scores, business thresholds and clusters uniformly.

Features are ``log1p`` of recency (days), frequency (orders) and monetary (spend, negatives
clipped to 0), standardised (mean 0, sd 1): RFM values are heavily right-skewed and without
the log a few big spenders would form clusters of their own.

Choosing k (``n_clusters=0``): k-means takes the k with the highest silhouette (computed on a
random sample of ``silhouette_sample`` customers, because the exact silhouette is O(n^2));
the Gaussian mixture takes the k with the lowest BIC. With many customers the candidate
models are fitted on a random subsample of ``selection_rows`` rows; the final model uses all
rows. Everything is seeded by ``random_state``, so runs are reproducible.

Naming: each cluster's centre is the median recency / frequency / monetary of its members.
The centre is scored 1..5 against all customers (the quantile rule of
:func:`rfm_helpers.rfm.score_quantiles`) and named after the segment of that cell in the
chosen segment map, e.g. "Champions (R5 F5 M5)". Two clusters landing in the same segment
keep distinct keys (``champions``, ``champions_2``).
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import (adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score,
                             silhouette_score)
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .segments import (QuantileSegmenter, _check_fitted, _get_map, _need, load_segment_maps,
                       segment_of_cell)

__all__ = [
    "FEATURES",
    "rfm_features",
    "ClusterSegmenter",
    "cluster_quality",
    "agreement",
    "bootstrap_stability",
    "segment_table",
    "pareto_curve",
    "top_share",
    "compare_methods",
    "findings",
    "method_crosstab",
]

#: The columns clustered, in order.
FEATURES = ("recency_days", "frequency", "monetary")


def rfm_features(rfm: pd.DataFrame) -> np.ndarray:
    """``log1p`` of recency, frequency and monetary (negatives clipped to 0), as a 2-D array."""
    _need(rfm, list(FEATURES))
    return np.log1p(rfm[list(FEATURES)].to_numpy(dtype="float64").clip(min=0))


class ClusterSegmenter:
    """k-means or Gaussian-mixture segments of log-scaled RFM with human-readable names.

    Parameters
    ----------
    algorithm
        ``"kmeans"`` or ``"gmm"``.
    n_clusters
        Number of clusters; 0 = choose automatically from ``k_range``.
    k_range
        Candidate k values for the automatic choice (inclusive ``(low, high)``). The default
        starts at 3: on typical retail data the silhouette favours k = 2 (one-time buyers
        versus repeat buyers), a split too coarse to act on; pass ``(2, 8)`` to allow it.
    random_state
        Seed for sampling and the model (results are reproducible for a given seed).
    silhouette_sample
        Customers sampled for each silhouette computation.
    selection_rows
        Largest number of rows used to fit the candidate models when choosing k.
    fit_rows
        Largest number of rows used to fit the final model (all rows are labelled).
    reg_covar
        Gaussian mixture only: variance added to each component's covariance (features are
        standardised, so 0.05 is a floor of about 0.22 standard deviations). Without it the
        mixture collapses components onto the few distinct order counts and BIC keeps asking
        for more clusters.
    threads
        Native (OpenMP/BLAS) threads used while fitting and predicting; ``None`` = library
        default. One thread is the default because on a few thousand rows thread start-up
        and contention cost far more than they save (10x slower measured on 2 busy cores).
    segment_map, language
        The segment map and language used to name clusters.

    Attributes set by ``fit`` that say how much data was used (for the report's narrative):
    ``n_customers_`` (all customers, all are labelled), ``selection_rows_used_`` (the seeded
    random sample on which k was chosen; 0 when k was given) and ``fit_rows_used_`` (the seeded
    random sample the final model was fitted on). With the defaults, on 478,120 customers k is
    chosen on 3,000 of them and the model fitted on 50,000, which keeps the whole comparison
    of notebook 03 to a few seconds.
    """

    def __init__(self, algorithm: str = "kmeans", n_clusters: int = 0, k_range: tuple[int, int] = (3, 8),
                 random_state: int = 0, silhouette_sample: int = 2000, selection_rows: int = 3000,
                 fit_rows: int = 50000, reg_covar: float = 0.05, threads: int | None = 1,
                 segment_map: str = "classic", language: str = "en", maps: dict | None = None):
        if algorithm not in ("kmeans", "gmm"):
            raise ValueError(f"algorithm must be 'kmeans' or 'gmm', got {algorithm!r}")
        n_clusters = int(n_clusters)
        if n_clusters < 0 or n_clusters == 1:
            raise ValueError("n_clusters must be 0 (automatic) or at least 2")
        lo, hi = (int(k_range[0]), int(k_range[1]))
        if not (2 <= lo <= hi):
            raise ValueError(f"k_range must satisfy 2 <= low <= high, got {k_range!r}")
        self.algorithm = algorithm
        self.n_clusters = n_clusters
        self.k_range = (lo, hi)
        self.random_state = int(random_state)
        self.silhouette_sample = int(silhouette_sample)
        self.selection_rows = int(selection_rows)
        self.fit_rows = int(fit_rows)
        self.reg_covar = float(reg_covar)
        self.threads = threads
        self.segment_map = segment_map
        self.language = language
        self.maps = maps

    @property
    def method(self) -> str:
        """The method's key: ``"kmeans"`` or ``"gmm"`` (its name on a page comes from
        :func:`rfm_helpers.report.texts.segment.method_name`)."""
        return self.algorithm

    def _model(self, k: int, n_init: int = 3):
        if self.algorithm == "kmeans":
            return KMeans(n_clusters=k, n_init=n_init, random_state=self.random_state)
        return GaussianMixture(n_components=k, covariance_type="full", n_init=1,
                               reg_covar=self.reg_covar, random_state=self.random_state)

    def _select_k(self, X: np.ndarray) -> tuple[int, pd.DataFrame]:
        rng = np.random.default_rng(self.random_state)
        Xs = X if len(X) <= self.selection_rows else X[rng.choice(len(X), self.selection_rows, replace=False)]
        self.selection_rows_used_ = len(Xs)
        rows = []
        for k in range(self.k_range[0], min(self.k_range[1], len(Xs) - 1) + 1):
            model = self._model(k, n_init=2).fit(Xs)
            if self.algorithm == "kmeans":
                labels = model.labels_
                if len(np.unique(labels)) < 2:
                    continue
                value = silhouette_score(Xs, labels, sample_size=min(self.silhouette_sample, len(Xs)),
                                         random_state=self.random_state)
                rows.append({"k": k, "criterion": "silhouette", "value": float(value)})
            else:
                rows.append({"k": k, "criterion": "BIC", "value": float(model.bic(Xs))})
        if not rows:
            raise ValueError("too few distinct customers to choose a number of clusters")
        scores = pd.DataFrame(rows)
        best = scores["value"].idxmax() if self.algorithm == "kmeans" else scores["value"].idxmin()
        return int(scores.loc[best, "k"]), scores

    def fit(self, rfm: pd.DataFrame) -> "ClusterSegmenter":
        """Choose k (if automatic), fit the model and name the clusters."""
        with threadpool_limits(self.threads):
            return self._fit(rfm)

    def _fit(self, rfm: pd.DataFrame) -> "ClusterSegmenter":
        X = rfm_features(rfm)
        if len(X) < 3:
            raise ValueError("need at least 3 customers to cluster")
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        if self.n_clusters:
            if self.n_clusters >= len(Z):
                raise ValueError(f"n_clusters={self.n_clusters} needs more than {len(Z)} customers")
            self.k_, self.k_scores_ = self.n_clusters, pd.DataFrame(columns=["k", "criterion", "value"])
            self.selection_rows_used_ = 0
        else:
            self.k_, self.k_scores_ = self._select_k(Z)
        rng = np.random.default_rng(self.random_state + 1)
        Zfit = Z if len(Z) <= self.fit_rows else Z[rng.choice(len(Z), self.fit_rows, replace=False)]
        self.n_customers_ = len(Z)
        self.fit_rows_used_ = len(Zfit)
        self.model_ = self._model(self.k_).fit(Zfit)
        raw = self.model_.predict(Z)
        self._name_clusters(rfm, raw)
        self.fit_quality_ = cluster_quality(Z, self._relabel(raw), self.silhouette_sample, self.random_state)
        return self

    def _name_clusters(self, rfm: pd.DataFrame, raw: np.ndarray) -> None:
        maps = self.maps if self.maps is not None else load_segment_maps()
        maps, mp = _get_map(self.segment_map, maps)
        seg_by_key = {s["key"]: s for s in mp["segments"]}
        q = QuantileSegmenter(maps=maps).fit(rfm)
        frame = rfm[list(FEATURES)].astype("float64").assign(_c=raw)
        centres = frame.groupby("_c").median()
        sizes = frame.groupby("_c").size()
        # A component can end up with no customers (possible for a mixture); name it from
        # the model's own centre so that predictions on new data still have a name.
        model_centres = getattr(self.model_, "cluster_centers_", None)
        if model_centres is None:
            model_centres = self.model_.means_
        for c in range(self.k_):
            if c not in centres.index:
                centre = np.expm1(self.scaler_.inverse_transform(model_centres[c:c + 1]))[0]
                centres.loc[c] = centre
                sizes.loc[c] = 0
        centres = centres.sort_index()
        sizes = sizes.sort_index()
        scores = q.transform(centres)
        centres = centres.join(scores).assign(customers=sizes)
        # Stable order: best cells first (score sum, then spend), so keys do not depend on
        # the model's arbitrary cluster numbering.
        centres["_sum"] = centres[["r_score", "f_score", "m_score"]].sum(axis=1)
        centres = centres.sort_values(["_sum", "monetary", "frequency", "recency_days"],
                                      ascending=[False, False, False, True])
        keys, labels, groups, used = [], [], [], {}
        for _, row in centres.iterrows():
            r, f, m = int(row["r_score"]), int(row["f_score"]), int(row["m_score"])
            base = segment_of_cell(r, f, m, self.segment_map, maps)
            used[base] = used.get(base, 0) + 1
            keys.append(base if used[base] == 1 else f"{base}_{used[base]}")
            seg = seg_by_key[base]
            lab = f"{seg['label'][self.language]} (R{r} F{f} M{m})"
            n_same, candidate = 1, lab
            while candidate in labels:
                n_same += 1
                candidate = f"{lab} #{n_same}"
            labels.append(candidate)
            groups.append(maps["groups"][seg["group"]][self.language])
        self.order_ = centres.index.to_numpy()
        self._code_of_raw = {int(c): i for i, c in enumerate(self.order_)}
        self.keys_ = keys
        self.labels_ = labels
        self.groups_ = groups
        self.centres_ = pd.DataFrame({
            "segment": keys, "label": labels, "group": groups,
            "customers": centres["customers"].to_numpy(),
            "median_recency_days": centres["recency_days"].to_numpy(),
            "median_frequency": centres["frequency"].to_numpy(),
            "median_monetary": centres["monetary"].to_numpy(),
            "r_score": centres["r_score"].to_numpy(), "f_score": centres["f_score"].to_numpy(),
            "m_score": centres["m_score"].to_numpy(),
        })

    def _relabel(self, raw: np.ndarray) -> np.ndarray:
        lut = np.zeros(int(max(self._code_of_raw)) + 1, dtype=np.int64)
        for c, i in self._code_of_raw.items():
            lut[c] = i
        return lut[raw]

    def predict_codes(self, rfm: pd.DataFrame) -> np.ndarray:
        """Cluster number 0..k-1 per customer, in the named (best-first) order."""
        _check_fitted(self, "model_")
        with threadpool_limits(self.threads):
            return self._relabel(self.model_.predict(self.scaler_.transform(rfm_features(rfm))))

    def predict(self, rfm: pd.DataFrame) -> pd.Series:
        """Cluster key per customer (ordered categorical, same index as ``rfm``)."""
        codes = self.predict_codes(rfm)
        return pd.Series(pd.Categorical.from_codes(codes, categories=self.keys_, ordered=True),
                         index=rfm.index, name="segment")

    def fit_predict(self, rfm: pd.DataFrame) -> pd.Series:
        """``fit(rfm).predict(rfm)``."""
        return self.fit(rfm).predict(rfm)

    def assign(self, rfm: pd.DataFrame) -> pd.DataFrame:
        """``rfm`` with ``segment``, ``segment_label`` and ``segment_group`` from the clusters
        (replacing existing ones); ``attrs["segment_map"]`` is not set (clusters are not a map)."""
        codes = self.predict_codes(rfm)
        out = rfm.drop(columns=[c for c in ("segment", "segment_label", "segment_group") if c in rfm.columns])
        out["segment"] = pd.Categorical.from_codes(codes, categories=self.keys_, ordered=True)
        out["segment_label"] = pd.Categorical.from_codes(codes, categories=self.labels_, ordered=True)
        gcats = list(dict.fromkeys(self.groups_))
        gcodes = np.array([gcats.index(g) for g in self.groups_])[codes]
        out["segment_group"] = pd.Categorical.from_codes(gcodes, categories=gcats, ordered=True)
        out.attrs.pop("segment_map", None)
        return out

    def labels(self) -> dict[str, str]:
        """Cluster key -> display label."""
        _check_fitted(self, "model_")
        return dict(zip(self.keys_, self.labels_))


def _is_fitted(obj: Any) -> bool:
    return any(k.endswith("_") and not k.startswith("_") for k in vars(obj))


def cluster_quality(Z: np.ndarray, labels: np.ndarray, silhouette_sample: int = 4000,
                    random_state: int = 0) -> dict[str, float]:
    """Silhouette (on a sample; -1..1, higher = better separated), Calinski-Harabasz
    (higher = better) and Davies-Bouldin (lower = better) of ``labels`` on features ``Z``.
    NaN when there are fewer than two clusters."""
    labels = np.asarray(labels)
    k = len(np.unique(labels))
    if k < 2 or k >= len(labels):
        return {"clusters": k, "silhouette": float("nan"), "calinski_harabasz": float("nan"),
                "davies_bouldin": float("nan")}
    n = min(int(silhouette_sample), len(labels))
    sil = silhouette_score(Z, labels, sample_size=n if n < len(labels) else None, random_state=random_state)
    return {"clusters": k, "silhouette": float(sil),
            "calinski_harabasz": float(calinski_harabasz_score(Z, labels)),
            "davies_bouldin": float(davies_bouldin_score(Z, labels))}


def agreement(labelings: Mapping[str, Any]) -> pd.DataFrame:
    """Pairwise adjusted Rand index (scikit-learn) between labelings of the same customers.

    1 = identical partitions (up to renaming), about 0 = no more agreement than chance."""
    names = list(labelings)
    # Integer codes instead of label strings: the ARI only needs which customers share a
    # label, and sorting 500k strings (what scikit-learn does with text labels) is ~100x
    # slower than sorting integers. Missing labels form one group of their own (code -1).
    arrays = {n: pd.factorize(pd.Series(labelings[n]).astype(object))[0] for n in names}
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) > 1:
        raise ValueError("all labelings must cover the same customers")
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names, dtype="float64")
    for i, a in enumerate(names):
        for b in names[i + 1:]:  # the ARI is symmetric
            out.loc[a, b] = out.loc[b, a] = adjusted_rand_score(arrays[a], arrays[b])
    return out


def bootstrap_stability(segmenter: Any, rfm: pd.DataFrame, n_boot: int = 3, sample_size: int = 2000,
                        eval_size: int = 2000, random_state: int = 0) -> pd.DataFrame:
    """How stable a method is under resampling.

    The method is fitted once on all of ``rfm`` (reference). Then ``n_boot`` times: draw a
    bootstrap sample (with replacement) of ``sample_size`` customers, fit a fresh copy of
    the method on it, label a fixed random evaluation set of ``eval_size`` customers, and
    compare with the reference labels of that set by adjusted Rand index. Returns one row
    per repetition (``rep``, ``ari``). Methods with fixed thresholds always give 1. An
    already fitted ``segmenter`` is used as the reference as is; for clustering with
    automatic k the repetitions keep the reference's k (stability of the partition, not of
    the choice of k).
    """
    rng = np.random.default_rng(random_state)
    n = len(rfm)
    if n < 3:
        raise ValueError("need at least 3 customers")
    ref = segmenter if _is_fitted(segmenter) else copy.deepcopy(segmenter).fit(rfm)
    template = copy.deepcopy(segmenter)
    if isinstance(template, ClusterSegmenter) and hasattr(ref, "k_"):
        template.n_clusters = ref.k_  # stability of the partition for the chosen k
    eval_idx = rng.choice(n, min(eval_size, n), replace=False)
    eval_rows = rfm.iloc[eval_idx]
    ref_labels = np.asarray(ref.predict(eval_rows).astype(str))
    rows = []
    for b in range(int(n_boot)):
        sample = rfm.iloc[rng.choice(n, min(sample_size, n), replace=True)].reset_index(drop=True)
        fitted = copy.deepcopy(template).fit(sample)
        lab = np.asarray(fitted.predict(eval_rows).astype(str))
        rows.append({"rep": b + 1, "ari": float(adjusted_rand_score(ref_labels, lab))})
    return pd.DataFrame(rows)


def segment_table(assigned: pd.DataFrame) -> pd.DataFrame:
    """Customers and revenue per segment of an assigned table (any method), in category order:
    ``segment``, ``label``, ``customers``, ``customer_share``, ``revenue_share``,
    median recency / frequency / monetary. Empty segments are dropped."""
    _need(assigned, ["segment", "segment_label", *FEATURES])
    g = assigned.groupby("segment", observed=True, sort=True)
    out = g.agg(label=("segment_label", "first"), customers=("segment", "size"),
                revenue=("monetary", "sum"), median_recency_days=("recency_days", "median"),
                median_frequency=("frequency", "median"), median_monetary=("monetary", "median"))
    out["label"] = out["label"].astype(str)
    out["customer_share"] = out["customers"] / out["customers"].sum()
    total = out["revenue"].sum()
    out["revenue_share"] = out["revenue"] / total if total else 0.0
    out = out.reset_index()
    out["segment"] = out["segment"].astype(str)
    return out[["segment", "label", "customers", "customer_share", "revenue", "revenue_share",
                "median_recency_days", "median_frequency", "median_monetary"]]


def pareto_curve(monetary: Any) -> pd.DataFrame:
    """Cumulative share of revenue against the share of customers, best customers first.

    Columns ``customer_share`` (0..1) and ``revenue_share`` (0..1), starting at (0, 0)."""
    v = np.sort(np.asarray(monetary, dtype="float64").clip(min=0))[::-1]
    total = v.sum()
    cum = np.concatenate([[0.0], np.cumsum(v) / total if total else np.zeros(len(v))])
    share = np.arange(len(v) + 1) / max(len(v), 1)
    return pd.DataFrame({"customer_share": share, "revenue_share": cum})


def top_share(monetary: Any, top: float = 0.2) -> float:
    """Share of total revenue from the top ``top`` fraction of customers by spend
    (the Pareto "80/20" figure; the count of top customers is rounded up)."""
    if not 0 < top <= 1:
        raise ValueError("top must be in (0, 1]")
    v = np.sort(np.asarray(monetary, dtype="float64").clip(min=0))[::-1]
    if len(v) == 0 or v.sum() == 0:
        return float("nan")
    k = int(np.ceil(top * len(v) - 1e-9))
    return float(v[:k].sum() / v.sum())


def compare_methods(rfm: pd.DataFrame, segmenters: Mapping[str, Any], *, n_boot: int = 3,
                    bootstrap_size: int = 2000, silhouette_sample: int = 2000,
                    random_state: int = 0) -> dict[str, Any]:
    """Fit every segmenter on ``rfm`` and compare them on the same customers.

    Returns a dict with

    ``assigned``  method -> ``rfm`` with that method's segment columns,
    ``tables``    method -> :func:`segment_table` (sizes, revenue shares, median profile),
    ``ari``       pairwise adjusted Rand index (:func:`agreement`),
    ``quality``   one row per method: ``data_driven`` (False for fixed thresholds), segments used, silhouette / Calinski-Harabasz /
                  Davies-Bouldin of its grouping on the same standardised log-RFM features,
                  mean and minimum bootstrap ARI,
    ``stability`` method -> :func:`bootstrap_stability` table,
    ``fitted``    method -> fitted segmenter.
    """
    if rfm.empty:
        raise ValueError("no customers to segment")
    with threadpool_limits(1):
        return _compare(rfm, segmenters, n_boot, bootstrap_size, silhouette_sample, random_state)


def _compare(rfm, segmenters, n_boot, bootstrap_size, silhouette_sample, random_state):
    Z = StandardScaler().fit_transform(rfm_features(rfm))
    out: dict[str, Any] = {"assigned": {}, "tables": {}, "stability": {}, "fitted": {}}
    rows = []
    for name, seg in segmenters.items():
        fitted = seg.fit(rfm)
        assigned = fitted.assign(rfm)
        out["fitted"][name] = fitted
        out["assigned"][name] = assigned
        out["tables"][name] = segment_table(assigned)
        codes = assigned["segment"].cat.codes.to_numpy()
        q = cluster_quality(Z, codes, silhouette_sample, random_state)
        stab = (bootstrap_stability(fitted, rfm, n_boot=n_boot, sample_size=bootstrap_size,
                                    eval_size=bootstrap_size, random_state=random_state)
                if n_boot > 0 else pd.DataFrame({"rep": [], "ari": []}))
        out["stability"][name] = stab
        rows.append({"method": name, "data_driven": not hasattr(fitted, "recency_days_cuts"),
                     "segments_used": q["clusters"], "silhouette": q["silhouette"],
                     "calinski_harabasz": q["calinski_harabasz"], "davies_bouldin": q["davies_bouldin"],
                     "bootstrap_ari_mean": float(stab["ari"].mean()) if len(stab) else float("nan"),
                     "bootstrap_ari_min": float(stab["ari"].min()) if len(stab) else float("nan")})
    out["quality"] = pd.DataFrame(rows)
    out["ari"] = agreement({n: a["segment"] for n, a in out["assigned"].items()})
    return out


#: Adjusted Rand index from which two methods "agree closely" (``high``), "partly" (``partial``).
AGREEMENT_LEVELS = (("high", 0.8), ("partial", 0.5))
#: Mean bootstrap ARI below which a data-driven method is called unstable.
STABLE_ARI = 0.8


def findings(comparison: Mapping[str, Any], monetary: Any) -> list[tuple[str, dict[str, Any]]]:
    """What a :func:`compare_methods` result says, as ``(code, values)`` pairs (the report
    layer, :mod:`rfm_helpers.report.texts.segment`, turns them into sentences). Methods are
    named by their keys in ``comparison``.

    ``("pareto", {top})``: share of revenue of the top 20% of customers by spend;
    ``("biggest", {method, label, customer_share, revenue_share})``: each method's largest
    segment by revenue; ``("agreement", {a, b, ari, level})`` for every pair of methods, level
    ``high`` (ARI >= 0.8), ``partial`` (>= 0.5) or ``low``; ``("best_separation", {method,
    silhouette})``; ``("unstable", {method, ari})`` for a data-driven method whose mean
    bootstrap ARI is below :data:`STABLE_ARI`, else ``("stable", {ari})`` with the lowest mean.
    """
    out: list[tuple[str, dict[str, Any]]] = []
    top = top_share(monetary, 0.2)
    if top == top:
        out.append(("pareto", {"top": top}))
    for name, table in comparison["tables"].items():
        if len(table):
            best = table.loc[table["revenue_share"].idxmax()]
            out.append(("biggest", {"method": name, "label": str(best["label"]),
                                    "customer_share": float(best["customer_share"]),
                                    "revenue_share": float(best["revenue_share"])}))
    ari = comparison["ari"]
    names = list(ari.index)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            v = float(ari.loc[a, b])
            level = next((lvl for lvl, low in AGREEMENT_LEVELS if v >= low), "low")
            out.append(("agreement", {"a": a, "b": b, "ari": v, "level": level}))
    q = comparison["quality"].dropna(subset=["silhouette"])
    if len(q):
        best = q.loc[q["silhouette"].idxmax()]
        out.append(("best_separation", {"method": best["method"], "silhouette": float(best["silhouette"])}))
    qual = comparison["quality"]
    stab = qual[qual["data_driven"]].dropna(subset=["bootstrap_ari_mean"])
    shaky = stab[stab["bootstrap_ari_mean"] < STABLE_ARI]
    for _, row in shaky.iterrows():
        out.append(("unstable", {"method": row["method"], "ari": float(row["bootstrap_ari_mean"])}))
    if len(stab) and shaky.empty:
        out.append(("stable", {"ari": float(stab["bootstrap_ari_mean"].min())}))
    return out


def method_crosstab(comparison: Mapping[str, Any], rows: str, cols: str) -> pd.DataFrame:
    """Number of customers in each pair (segment under ``rows``, segment under ``cols``) of a
    :func:`compare_methods` result: an aggregate table with segment labels as row and column
    names; the axes are named by the two method keys."""
    a = comparison["assigned"][rows]["segment_label"]
    b = comparison["assigned"][cols]["segment_label"]
    return pd.crosstab(a.rename(rows), b.rename(cols))
