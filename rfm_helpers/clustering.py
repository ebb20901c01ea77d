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
from typing import Any, Mapping, Sequence

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
    "compare_methods_engine",
    "cluster_code_sql",
    "feature_sql",
    "fit_on_sample",
    "sample_customers",
    "ari_from_counts",
    "pareto_points",
    "ENGINE_SAMPLE_SIZE",
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
        # the same rows of Xs for every k: their distances computed once (the same scores)
        sil = _Silhouette(Xs, min(self.silhouette_sample, len(Xs)), self.random_state)
        for k in range(self.k_range[0], min(self.k_range[1], len(Xs) - 1) + 1):
            model = self._model(k, n_init=2).fit(Xs)
            if self.algorithm == "kmeans":
                labels = model.labels_
                if len(np.unique(labels)) < 2:
                    continue
                value = sil.score(labels)
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
        # measured when first read (fit_quality_): the comparison and the bootstrap's refits never read it
        self._quality_rows = (Z, self._relabel(raw))
        self.__dict__.pop("_fit_quality", None)
        return self

    @property
    def fit_quality_(self) -> dict[str, float]:
        """:func:`cluster_quality` of the clusters on the rows ``fit`` was given (their
        standardised features and cluster numbers as named then), measured when first read."""
        quality = self.__dict__.get("_fit_quality")
        if quality is None:
            if "_quality_rows" not in self.__dict__:
                raise AttributeError("fit_quality_: the segmenter is not fitted")
            Z, labels = self._quality_rows
            with threadpool_limits(self.threads):
                quality = cluster_quality(Z, labels, self.silhouette_sample, self.random_state)
            self._fit_quality = quality
        return quality

    def _name_clusters(self, rfm: pd.DataFrame, raw: np.ndarray) -> None:
        maps = self.maps if self.maps is not None else load_segment_maps()
        q = QuantileSegmenter(maps=maps).fit(rfm)
        frame = rfm[list(FEATURES)].astype("float64").assign(_c=raw)
        centres = frame.groupby("_c").median()
        sizes = frame.groupby("_c").size()
        centres, sizes = self._all_centres(centres, sizes)
        self._set_names(centres.join(q.transform(centres)).assign(customers=sizes))

    def _all_centres(self, centres: pd.DataFrame, sizes: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
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
        return centres.sort_index(), sizes.sort_index()

    def _set_names(self, centres: pd.DataFrame) -> None:
        """Keys, labels and groups from the clusters' centres (indexed by the model's cluster
        number; columns the median features, their scores ``r_score``... and ``customers``)."""
        maps = self.maps if self.maps is not None else load_segment_maps()
        maps, mp = _get_map(self.segment_map, maps)
        seg_by_key = {s["key"]: s for s in mp["segments"]}
        centres = centres.copy()
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


class _Silhouette:
    """``silhouette_score(X, labels, sample_size=sample_size, random_state=random_state)`` of
    several labelings of the same points ``X`` (the k tried, the methods compared): scikit-learn
    draws the same rows for each (a new generator from the same seed) and computes their
    distances again each time; here they are drawn and their distances computed once, the very
    way ``silhouette_samples`` computes them, and each labeling's score is scikit-learn's on
    those distances (``metric="precomputed"``): the same number (tested). A seed that is not a
    whole number (a generator, None) draws other rows each call: then each call is scikit-learn's own."""

    def __init__(self, X: np.ndarray, sample_size: int | None = None, random_state: Any = None):
        self.X, self.sample_size, self.random_state = X, sample_size, random_state
        self.shared = isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
        self.indices = self.D = None

    def score(self, labels: Any) -> float:
        if not self.shared:
            return float(silhouette_score(self.X, labels, sample_size=self.sample_size, random_state=self.random_state))
        from sklearn.metrics import pairwise_distances_chunked, silhouette_samples
        from sklearn.utils import check_random_state
        from sklearn.utils.validation import check_X_y

        X, labels = check_X_y(self.X, labels, accept_sparse=["csc", "csr"])
        if self.D is None:
            if self.sample_size is not None:
                self.indices = check_random_state(self.random_state).permutation(X.shape[0])[:self.sample_size]
                X = X[self.indices]
            X = check_X_y(X, labels[self.indices] if self.indices is not None else labels)[0]
            chunks = list(pairwise_distances_chunked(X, metric="euclidean"))
            self.D = chunks[0] if len(chunks) == 1 else np.vstack(chunks)
        if self.indices is not None:
            labels = labels[self.indices]
        return float(np.mean(silhouette_samples(self.D, labels, metric="precomputed")))


def cluster_quality(Z: np.ndarray, labels: np.ndarray, silhouette_sample: int = 4000,
                    random_state: int = 0, silhouette: "_Silhouette | None" = None) -> dict[str, float]:
    """Silhouette (on a sample; -1..1, higher = better separated), Calinski-Harabasz
    (higher = better) and Davies-Bouldin (lower = better) of ``labels`` on features ``Z``.
    NaN when there are fewer than two clusters. ``silhouette``: the distances of the sample of
    ``Z`` shared by several labelings (:func:`silhouette_of`), the same number."""
    labels = np.asarray(labels)
    k = len(np.unique(labels))
    if k < 2 or k >= len(labels):
        return {"clusters": k, "silhouette": float("nan"), "calinski_harabasz": float("nan"),
                "davies_bouldin": float("nan")}
    sil = (silhouette or silhouette_of(Z, silhouette_sample, random_state)).score(labels)
    return {"clusters": k, "silhouette": float(sil),
            "calinski_harabasz": float(calinski_harabasz_score(Z, labels)),
            "davies_bouldin": float(davies_bouldin_score(Z, labels))}


def silhouette_of(Z: np.ndarray, silhouette_sample: int, random_state: Any) -> _Silhouette:
    """The silhouette of labelings of ``Z`` as :func:`cluster_quality` measures it (on a sample
    of ``silhouette_sample`` rows, or every row when there are no more)."""
    n = min(int(silhouette_sample), len(Z))
    return _Silhouette(Z, n if n < len(Z) else None, random_state)


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


def findings(comparison: Mapping[str, Any], monetary: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """What a :func:`compare_methods` result says, as ``(code, values)`` pairs (the report
    layer, :mod:`rfm_helpers.report.texts.segment`, turns them into sentences). Methods are
    named by their keys in ``comparison``.

    ``("pareto", {top})``: share of revenue of the top 20% of customers by spend;
    ``("biggest", {method, label, customer_share, revenue_share})``: each method's largest
    segment by revenue; ``("agreement", {a, b, ari, level})`` for every pair of methods, level
    ``high`` (ARI >= 0.8), ``partial`` (>= 0.5) or ``low``; ``("best_separation", {method,
    silhouette})``; ``("unstable", {method, ari})`` for a data-driven method whose mean
    bootstrap ARI is below :data:`STABLE_ARI`, else ``("stable", {ari})`` with the lowest mean.
    ``monetary`` may be left out for a :func:`compare_methods_engine` result (its ``pareto``
    holds the top share, computed in the engine).
    """
    out: list[tuple[str, dict[str, Any]]] = []
    if monetary is None:
        if "pareto" not in comparison:
            raise ValueError("findings needs the customers' monetary values (or an engine comparison)")
        top = float(comparison["pareto"].attrs["top_share"])
    else:
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
    names; the axes are named by the two method keys. For a :func:`compare_methods_engine`
    result the table comes from its ``joint`` counts (segments in the methods' order, empty
    ones left out, as ``pandas.crosstab`` does)."""
    if "joint" in comparison:
        cross = _contingency(comparison["joint"], rows, cols)
        for axis, key in ((0, rows), (1, cols)):
            labels = comparison["categories"][key][1]
            idx = cross.index if axis == 0 else cross.columns
            new = pd.CategoricalIndex([labels[int(c)] for c in idx], categories=labels, ordered=True, name=key)
            cross = cross.set_axis(new, axis=axis)
        return cross
    a = comparison["assigned"][rows]["segment_label"]
    b = comparison["assigned"][cols]["segment_label"]
    return pd.crosstab(a.rename(rows), b.rename(cols))


# ----------------------------------------------------------------------------------------
# The comparison at scale: per-customer work in the engine, fitting on a bounded sample
# ----------------------------------------------------------------------------------------
#
# ``compare_methods_engine`` is ``compare_methods`` for a per-customer table kept in an engine
# (``Prepared.rfm_table``): quantile and threshold segments are SQL over the table (the segment
# map compiled to one CASE), the clusterings are fitted on a seeded random sample of at most
# ``sample_size`` customers (k chosen on a sub-sample of it, as ``ClusterSegmenter`` does) and
# applied to every customer in SQL (k-means: the nearest centre on the same log/standardised
# features; Gaussian mixture: the largest weighted log density, the quadratic form expanded
# from the fitted precision matrices). Segment tables, the cross-table and the adjusted Rand
# indices come from GROUP BY counts; the quality metrics and the bootstrap stability are
# computed on the sample (their cost grows with the customers used, and a sample of tens of
# thousands measures them as well). pandas holds the sample and aggregates only.

#: Largest sample of customers fetched for fitting the clusterings and measuring quality.
ENGINE_SAMPLE_SIZE = 50_000


def _lit(value: float) -> str:
    """A float as a DOUBLE literal with exactly its value (shortest round-trip repr)."""
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return f"CAST('{value!r}' AS DOUBLE)"


def feature_sql(seg: "ClusterSegmenter", alias: str = "") -> list[str]:
    """The fitted segmenter's standardised ``log1p`` features as SQL expressions over a table
    with ``recency_days``, ``frequency``, ``monetary`` (``alias``: e.g. ``"r."``)."""
    _check_fitted(seg, "model_")
    out = []
    for j, col in enumerate(FEATURES):
        x = f"GREATEST(CAST({alias}{col} AS DOUBLE), {_lit(0.0)})"
        out.append(f"((LN({_lit(1.0)} + {x}) - {_lit(seg.scaler_.mean_[j])}) / {_lit(seg.scaler_.scale_[j])})")
    return out


def _square(expr: str) -> str:
    """``expr`` squared as a product (the same double as ``POWER(expr, 2)``, which DuckDB
    evaluates about eight times slower)."""
    return f"(({expr}) * ({expr}))"


def _first_best(n: int) -> str:
    """The position (0-based) of the first of the columns ``_s0`` .. ``_s{n-1}`` equal to
    ``_best`` (numpy's argmin / argmax rule), as portable SQL."""
    return "CASE " + " ".join(f"WHEN _s{i} = _best THEN {i}" for i in range(n)) + " END"


def cluster_code_sql(seg: "ClusterSegmenter", source: str, keep: Sequence[str] = ("customer_id",),
                     name: str = "cluster", raw: bool = False) -> str:
    """One row per customer of ``source`` (a table, or a parenthesised query, with the RFM
    columns): the columns ``keep`` and ``name``, the fitted segmenter's cluster number 0..k-1 in
    its named (best-first) order - :meth:`ClusterSegmenter.predict_codes` written as SQL.
    ``raw=True``: the model's own cluster number instead (``model_.predict``; see
    :func:`named_code_sql`)."""
    _check_fitted(seg, "model_")
    z = feature_sql(seg)
    model = seg.model_
    scores = []
    if seg.algorithm == "kmeans":  # squared distance to each centre; the nearest wins
        for c in model.cluster_centers_:
            scores.append(" + ".join(_square(f"_z{j} - {_lit(c[j])}") for j in range(len(z))))
        best = "LEAST"
    else:  # weighted log density of each component (sklearn's _estimate_log_gaussian_prob, full covariance)
        d = len(z)
        for k in range(model.n_components):
            P = model.precisions_cholesky_[k]
            b = model.means_[k] @ P
            log_det = float(np.sum(np.log(np.diag(P))))
            const = -0.5 * d * np.log(2 * np.pi) + log_det + float(np.log(model.weights_[k]))
            ys = [_square(f"({' + '.join(f'_z{i} * {_lit(P[i, j])}' for i in range(d))}) - {_lit(b[j])}")
                  for j in range(d)]
            scores.append(f"{_lit(const)} - {_lit(0.5)} * ({' + '.join(ys)})")
        best = "GREATEST"
    argbest = _first_best(len(scores))
    alias = [f"_s{i}" for i in range(len(scores))]
    named = "_raw" if raw else named_code_sql(seg, "_raw")
    kept = "".join(f"{k}, " for k in keep)
    zs = ", ".join(f"{e} AS _z{j}" for j, e in enumerate(z))
    ss = ", ".join(f"{e} AS _s{i}" for i, e in enumerate(scores))
    return (f"SELECT {kept}CAST({named} AS INTEGER) AS {name} FROM (\n"
            f"  SELECT {kept}{argbest} AS _raw FROM (\n"
            f"    SELECT *, {best}({', '.join(alias)}) AS _best FROM (\n"
            f"      SELECT {kept}{ss} FROM (SELECT {kept}{zs} FROM {source}) AS f) AS s) AS b) AS r")


def named_code_sql(seg: "ClusterSegmenter", raw: str) -> str:
    """The fitted segmenter's named cluster number (0 = best) of the model's number ``raw``."""
    _check_fitted(seg, "model_")
    return "CASE " + raw + " " + " ".join(f"WHEN {c} THEN {i}" for c, i in sorted(seg._code_of_raw.items())) + " END"


def sample_customers(engine: Any, table: str, size: int = ENGINE_SAMPLE_SIZE, random_state: int = 0,
                     columns: str = "*") -> pd.DataFrame:
    """A seeded random sample of at most ``size`` customers of ``table`` (every customer when
    there are fewer), in ``customer_id`` order, fetched as a bounded sample. The draw keeps the
    ``size`` customers with the smallest hash of (customer id, seed): the same seed and data
    give the same sample on every run."""
    size = int(size)
    if size < 3:
        raise ValueError("the sample needs at least 3 customers")
    seed = int(random_state)
    return engine.fetch(f"""
        SELECT * FROM (SELECT {columns} FROM {table}
                       ORDER BY hash(CAST(customer_id AS VARCHAR), {seed}), customer_id LIMIT {size}) AS s
        ORDER BY customer_id""", label=f"random sample of {size} customers", kind="sample")


def fit_on_sample(seg: "ClusterSegmenter", engine: Any, table: str, sample: pd.DataFrame) -> "ClusterSegmenter":
    """Fit ``seg`` on ``sample`` (customers of ``table``), then name its clusters as ``fit`` does
    on all customers: the median recency / frequency / spend of each cluster over every
    customer of ``table`` (assigned in SQL), scored against every customer. Sets
    ``n_customers_`` to the customers of ``table``; ``fit_rows_used_`` stays the sample's size
    and ``fit_quality_`` is measured on the sample."""
    with threadpool_limits(seg.threads):
        seg._fit(sample)
    _name_from_engine(seg, engine, table, f"({cluster_code_sql(seg, table, keep=FEATURES, name='_raw', raw=True)})",
                      "_raw")
    return seg


def _name_from_engine(seg: "ClusterSegmenter", engine: Any, table: str, source: str, column: str) -> None:
    """Name ``seg``'s clusters from every customer: ``source`` holds the RFM columns and the
    model's cluster number ``column`` of every customer of ``table``."""
    _name_all_from_engine(engine, table, source, {column: seg})


def _name_all_from_engine(engine: Any, table: str, source: str, segs: Mapping[str, "ClusterSegmenter"]
                          ) -> dict[str, pd.DataFrame]:
    """Name the clusters of several segmenters from every customer (``segs``: the column of
    ``source`` holding each one's model cluster number -> the segmenter): each one's medians in
    one pass over ``source``, and the quantile scores of every centre in one pass over ``table``.
    Returns, per column, the clusters' aggregates (model numbering; ``customers``, ``revenue``
    and the three medians of the non-empty clusters), which are also the segment tables' figures."""
    aggs, centres, sizes = {}, {}, {}
    for column, seg in segs.items():
        med = engine.fetch(f"""
            SELECT {column} AS cluster, count(*) AS customers, sum(monetary) AS revenue,
                   median(recency_days) AS recency_days, median(frequency) AS frequency, median(monetary) AS monetary
            FROM {source} AS c GROUP BY {column} ORDER BY {column}""", label="cluster medians", kind="aggregate")
        med.index = [int(c) for c in med["cluster"]]  # the model's numbering, which _set_names orders and names
        aggs[column] = med
        centres[column], sizes[column] = seg._all_centres(med[list(FEATURES)].astype("float64"),
                                                          med["customers"].astype("int64"))
    points = pd.concat([centres[c] for c in segs], keys=list(segs))
    scores = _quantile_scores_sql(engine, table, points)
    for column, seg in segs.items():
        seg._set_names(centres[column].join(scores.loc[column]).assign(customers=sizes[column]))
        seg.n_customers_ = int(sizes[column].sum())
        # fit_quality_ (measured by _fit on the sample) does not depend on how clusters are numbered
    return aggs


def _quantile_scores_sql(engine: Any, table: str, points: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The quantile scores (:class:`rfm_helpers.segments.QuantileSegmenter`'s rule against every
    customer of ``table``) of a few points with ``recency_days``, ``frequency``, ``monetary``:
    one pass counting, for each point, the customers with a strictly worse value."""
    counts = ["count(*) AS n"]
    for i, (_, row) in enumerate(points.iterrows()):
        counts += [f"count(*) FILTER (WHERE CAST(recency_days AS DOUBLE) > {_lit(row['recency_days'])}) AS r{i}",
                   f"count(*) FILTER (WHERE CAST(frequency AS DOUBLE) < {_lit(row['frequency'])}) AS f{i}",
                   f"count(*) FILTER (WHERE CAST(monetary AS DOUBLE) < {_lit(row['monetary'])}) AS m{i}"]
    got = engine.fetch(f"SELECT {', '.join(counts)} FROM {table}", label="cluster centre scores", kind="aggregate")
    total = int(got["n"].iloc[0])
    out = {}
    for d in "rfm":
        worse = np.array([int(got[f"{d}{i}"].iloc[0]) for i in range(len(points))])
        out[f"{d}_score"] = np.minimum(n, 1 + np.floor(n * worse / total)).astype("int64")
    return pd.DataFrame(out, index=points.index)


def ari_from_counts(counts: Any) -> float:
    """The adjusted Rand index of two labelings from their contingency table (a 2-D array of
    counts: customers per pair of labels). The arithmetic of scikit-learn's
    ``adjusted_rand_score`` (pair confusion matrix, exact integers), so it gives the same value
    as that function on the labels themselves (tested)."""
    c = np.asarray(counts, dtype=np.int64)
    c = c[c.sum(axis=1) > 0][:, c.sum(axis=0) > 0]
    n = int(c.sum())
    n_c = [int(v) for v in c.sum(axis=1)]
    n_k = [int(v) for v in c.sum(axis=0)]
    sum_sq = sum(int(v) ** 2 for v in c.ravel())
    tp = sum_sq - n
    fp = sum(int(v) for v in (c @ np.asarray(n_k, dtype=object))) - sum_sq
    fn = sum(int(v) for v in (c.T @ np.asarray(n_c, dtype=object))) - sum_sq
    tn = n ** 2 - fp - fn - sum_sq
    if fn == 0 and fp == 0:
        return 1.0
    return float(2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)))


def _score_method_sql(seg: Any, maps: dict, name: str) -> tuple[str, dict[str, str]]:
    """(segment code SQL over ``r``, the score columns it needs computed first over ``t``) of a
    score-based segmenter. Threshold scores are computed once, in a subquery: the map's CASE
    repeats each score many times."""
    from .segments import ThresholdSegmenter, segment_case_sql, threshold_score_sql

    if isinstance(seg, ThresholdSegmenter):
        sc = threshold_score_sql(seg, "t.")
        cols = {f"_{name}_{d}": sc[f"{d}_score"] for d in "rfm"}
        return segment_case_sql(seg.segment_map, maps, output="code", r=f"r._{name}_r", f=f"r._{name}_f",
                                m=f"r._{name}_m"), cols
    return segment_case_sql(seg.segment_map, maps, output="code", r="r.r_score", f="r.f_score", m="r.m_score"), {}


def _categories(seg: Any, maps: dict) -> tuple[list[str], list[str], list[str]]:
    """Keys, labels and group labels of a method's segment codes (in code order)."""
    if isinstance(seg, ClusterSegmenter):
        return list(seg.keys_), list(seg.labels_), list(seg.groups_)
    from .segments import _unique_labels

    _, mp = _get_map(seg.segment_map, maps)
    keys = [s["key"] for s in mp["segments"]]
    labels = _unique_labels([s["label"][seg.language] for s in mp["segments"]])
    groups = [maps["groups"][s["group"]][seg.language] for s in mp["segments"]]
    return keys, labels, groups


def compare_methods_engine(engine: Any, table: str, segmenters: Mapping[str, Any], *, n_boot: int = 3,
                           bootstrap_size: int = 2000, silhouette_sample: int = 2000, random_state: int = 0,
                           sample_size: int = ENGINE_SAMPLE_SIZE, maps: dict | None = None) -> dict[str, Any]:
    """:func:`compare_methods` for the per-customer table ``table`` kept in ``engine`` (a
    :class:`rfm_helpers.engine.DuckDBEngine`; the table as ``Prepared.rfm_table``: RFM columns,
    ``tenure_days`` and the quantile scores ``r_score``/``f_score``/``m_score`` of these
    customers). Same keys, same meaning, except:

    ``assigned``  method -> name of an engine view: the table's columns with that method's
                  ``segment``, ``segment_label``, ``segment_group`` (and scores for thresholds),
    ``codes``     name of the engine table with ``customer_id`` and one segment code per method,
    ``joint``     customers per combination of the methods' codes (an aggregate),
    ``sample``    the customers sample (at most ``sample_size``) the clusterings were fitted on
                  and quality and stability were measured on; ``customers``: all customers,
    ``pareto``    :func:`pareto_points` of ``monetary``.

    Segment sizes, revenue, medians, the cross-tables and the adjusted Rand indices cover every
    customer and equal :func:`compare_methods`'s for the score-based methods (tested)."""
    from .segments import QuantileSegmenter, ThresholdSegmenter, assign_segments

    maps = maps if maps is not None else load_segment_maps()
    for name in segmenters:
        if not name.isidentifier() or name in ("customer_id", *FEATURES):
            raise ValueError(f"method key {name!r} must be a plain identifier other than customer_id and the "
                             "RFM columns (it names an engine column)")
    with threadpool_limits(1):
        sample = sample_customers(engine, table, sample_size, random_state)
        if len(sample) < 3:
            raise ValueError("no customers to segment" if sample.empty else "need at least 3 customers to segment")
        exprs, sample_codes, fitted, inner = {}, {}, {}, {}
        for name, seg in segmenters.items():
            if isinstance(seg, ClusterSegmenter):
                with threadpool_limits(seg.threads):
                    fitted[name] = seg._fit(sample)  # named from every customer below
            elif isinstance(seg, (QuantileSegmenter, ThresholdSegmenter)):
                code, cols = _score_method_sql(seg, maps, name)
                exprs[name] = code
                inner.update(cols)
                fitted[name] = seg
                assigned = (assign_segments(sample, seg.segment_map, seg.language, maps) if isinstance(seg, QuantileSegmenter)
                            else seg.fit(sample).assign(sample))
                sample_codes[name] = assigned["segment"].cat.codes.to_numpy()
            else:
                raise TypeError(f"method {name!r}: unsupported segmenter {type(seg).__name__}")
        # one pass, no joins: the score methods' codes, then each clustering's code on top
        keep = ["customer_id", *FEATURES, *exprs]
        src = "(SELECT r.customer_id, " + ", ".join(f"r.{c}" for c in FEATURES) + "".join(
            f", CAST({e} AS INTEGER) AS {n}" for n, e in exprs.items()) + " FROM (SELECT t.*" + "".join(
            f", {e} AS {n}" for n, e in inner.items()) + f" FROM {table} AS t) AS r)"
        clusterers = {n: seg for n, seg in segmenters.items() if isinstance(seg, ClusterSegmenter)}
        for name, seg in clusterers.items():
            src = f"({cluster_code_sql(seg, src, keep, f'{name}_raw', raw=True)})"
            keep.append(f"{name}_raw")
        raw_codes = engine.materialize(f"SELECT {', '.join(keep)} FROM {src} AS a", "segment_codes")
        # named (best first) from every customer's medians, which are also their segment tables' figures
        cluster_aggs = _name_all_from_engine(engine, table, raw_codes, {f"{n}_raw": seg for n, seg in clusterers.items()})
        known = {n: _named_aggregates(seg, cluster_aggs[f"{n}_raw"]) for n, seg in clusterers.items()}
        for name, seg in clusterers.items():
            sample_codes[name] = seg.predict_codes(sample)
        named = ", ".join(f"CAST({named_code_sql(seg, f'{n}_raw')} AS INTEGER) AS {n}" for n, seg in clusterers.items())
        codes = engine.unique_name("segment_codes")
        engine.con.execute(f"CREATE TEMP VIEW {codes} AS SELECT customer_id, {', '.join(FEATURES)}, "
                           f"{', '.join([n for n in exprs] + ([named] if named else []))} FROM {raw_codes}")
        out = _engine_tables(engine, table, codes, segmenters, fitted, maps, known)
        out.update(_sample_measures(sample, segmenters, sample_codes, out, n_boot, bootstrap_size,
                                    silhouette_sample, random_state))
    out["sample"] = sample
    out["pareto"] = pareto_points(engine, table)
    return out


def _named_aggregates(seg: "ClusterSegmenter", agg: pd.DataFrame) -> pd.DataFrame:
    """A clustering's per-cluster aggregates (:func:`_name_all_from_engine`, model numbering) as
    the segment table's per-code aggregates: the named code (best first), in code order."""
    out = pd.DataFrame({"code": [seg._code_of_raw[int(c)] for c in agg["cluster"]],
                        "customers": agg["customers"].to_numpy(), "revenue": agg["revenue"].to_numpy(),
                        "median_recency_days": agg["recency_days"].to_numpy(),
                        "median_frequency": agg["frequency"].to_numpy(), "median_monetary": agg["monetary"].to_numpy()})
    return out.sort_values("code", kind="stable").reset_index(drop=True)


def _engine_tables(engine, table, codes, segmenters, fitted, maps, known=None) -> dict[str, Any]:
    """Segment tables, assigned views, joint counts and ARI of the methods over ``codes``;
    ``known``: per-code aggregates already computed for some methods (the clusterings': the
    same customers, counts and medians), which are not grouped again."""
    from .segments import ThresholdSegmenter, label_case_sql

    known = known or {}

    out: dict[str, Any] = {"assigned": {}, "tables": {}, "fitted": fitted, "codes": codes, "engine": engine,
                           "categories": {}}
    base_cols = engine.sql(f"SELECT * FROM {table} LIMIT 0").columns
    for name, seg in segmenters.items():
        keys, labels, groups = _categories(seg, maps)
        out["categories"][name] = (keys, labels, groups)
        agg = known.get(name)
        if agg is None:
            agg = engine.fetch(f"""
                SELECT {name} AS code, count(*) AS customers, sum(monetary) AS revenue,
                       median(recency_days) AS median_recency_days, median(frequency) AS median_frequency,
                       median(monetary) AS median_monetary
                FROM {codes} GROUP BY {name} ORDER BY {name}""",
                               label=f"segment table {name}", kind="aggregate")
        out["tables"][name] = _segment_table_from(agg, keys, labels)
        seg_cols = (f"{label_case_sql(f'c.{name}', keys)} AS segment, {label_case_sql(f'c.{name}', labels)} AS segment_label, "
                    f"{label_case_sql(f'c.{name}', groups)} AS segment_group")
        if isinstance(seg, ThresholdSegmenter):
            from .segments import threshold_score_sql

            sc = threshold_score_sql(seg, "r.")
            keep = [f"r.{c}" for c in base_cols if c not in ("r_score", "f_score", "m_score", "rfm_cell", "rfm_score",
                                                           "segment", "segment_label", "segment_group")]
            scores = ", ".join(f"{e} AS {k}" for k, e in sc.items())
            cell = (f"CAST({sc['r_score']} AS VARCHAR) || CAST({sc['f_score']} AS VARCHAR) || "
                    f"CAST({sc['m_score']} AS VARCHAR) AS rfm_cell")
            sql = f"SELECT {', '.join(keep)}, {scores}, {cell}, {seg_cols}"
        else:
            keep = [f"r.{c}" for c in base_cols if c not in ("segment", "segment_label", "segment_group")]
            sql = f"SELECT {', '.join(keep)}, {seg_cols}"
        view = engine.unique_name(f"assigned_{name}")
        engine.con.execute(f"CREATE TEMP VIEW {view} AS {sql} FROM {table} AS r JOIN {codes} AS c USING (customer_id)")
        out["assigned"][name] = view
    names = list(segmenters)
    out["joint"] = engine.fetch(f"SELECT {', '.join(names)}, count(*) AS customers FROM {codes} GROUP BY ALL",
                                label="customers per combination of segments", kind="aggregate")
    out["customers"] = int(out["joint"]["customers"].sum())
    ari = pd.DataFrame(np.eye(len(names)), index=names, columns=names, dtype="float64")
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ari.loc[a, b] = ari.loc[b, a] = ari_from_counts(_contingency(out["joint"], a, b).to_numpy())
    out["ari"] = ari
    return out


def _contingency(joint: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    return joint.pivot_table(index=a, columns=b, values="customers", aggfunc="sum", fill_value=0).astype("int64")


def _segment_table_from(agg: pd.DataFrame, keys: list[str], labels: list[str]) -> pd.DataFrame:
    """:func:`segment_table`'s columns from per-code aggregates (codes in order, none empty)."""
    codes = agg["code"].astype("int64").to_numpy()
    out = pd.DataFrame({"segment": [keys[c] for c in codes], "label": [labels[c] for c in codes],
                        "customers": agg["customers"].astype("int64").to_numpy(),
                        "revenue": agg["revenue"].astype("float64").to_numpy()})
    out["customer_share"] = out["customers"] / out["customers"].sum()
    total = out["revenue"].sum()
    out["revenue_share"] = out["revenue"] / total if total else 0.0
    for c in ("median_recency_days", "median_frequency", "median_monetary"):
        out[c] = agg[c].astype("float64").to_numpy()
    return out[["segment", "label", "customers", "customer_share", "revenue", "revenue_share",
                "median_recency_days", "median_frequency", "median_monetary"]]


def _sample_measures(sample, segmenters, sample_codes, out, n_boot, bootstrap_size, silhouette_sample,
                     random_state) -> dict[str, Any]:
    """Quality (silhouette, Calinski-Harabasz, Davies-Bouldin) and bootstrap stability of every
    method, on the sample."""
    from .segments import QuantileSegmenter

    Z = StandardScaler().fit_transform(rfm_features(sample))
    sil = silhouette_of(Z, silhouette_sample, random_state)  # the same rows' distances for every method
    rows, stability = [], {}
    for name, seg in segmenters.items():
        q = cluster_quality(Z, sample_codes[name], silhouette_sample, random_state, silhouette=sil)
        ref = copy.deepcopy(seg) if isinstance(seg, QuantileSegmenter) else seg  # quantiles: refitted on the sample
        stab = (bootstrap_stability(ref, sample, n_boot=n_boot, sample_size=bootstrap_size, eval_size=bootstrap_size,
                                    random_state=random_state)
                if n_boot > 0 else pd.DataFrame({"rep": [], "ari": []}))
        stability[name] = stab
        rows.append({"method": name, "data_driven": not hasattr(seg, "recency_days_cuts"),
                     "segments_used": int(len(out["tables"][name])), "silhouette": q["silhouette"],
                     "calinski_harabasz": q["calinski_harabasz"], "davies_bouldin": q["davies_bouldin"],
                     "bootstrap_ari_mean": float(stab["ari"].mean()) if len(stab) else float("nan"),
                     "bootstrap_ari_min": float(stab["ari"].min()) if len(stab) else float("nan")})
    return {"quality": pd.DataFrame(rows), "stability": stability}


#: Points of the Pareto curve computed in the engine (both ends included).
PARETO_POINTS = 2001


def pareto_points(engine: Any, table: str, column: str = "monetary", points: int = PARETO_POINTS,
                  top: float = 0.2) -> pd.DataFrame:
    """:func:`pareto_curve` of ``column`` of every customer of ``table`` at (at most) ``points``
    evenly spaced customer counts (both ends included), computed in the engine; the frame's
    ``attrs["top_share"]`` is :func:`top_share` of the column (``top``). An aggregate."""
    n = int(engine.scalar_rows(f"SELECT count(*) FROM {table}", label="customers")[0][0])
    if n == 0:
        out = pd.DataFrame({"customer_share": [0.0], "revenue_share": [0.0]})
        out.attrs["top_share"] = float("nan")
        return out
    idx = np.unique(np.linspace(0, n, min(points, n + 1)).round().astype(np.int64))
    k = int(np.ceil(top * n - 1e-9))
    marks = ", ".join(str(int(i)) for i in sorted(set(idx.tolist()) | {k}) if i > 0)
    # customers per distinct value (a hash aggregate), running counts and sums over the distinct
    # values only, best first; the i-th best customer falls in the first value whose running
    # count reaches i (an ASOF join), and the top i spend cum - (count - i) * value.
    got = engine.fetch(f"""
        WITH d AS (SELECT GREATEST(CAST({column} AS DOUBLE), 0.0) AS v, count(*) AS c FROM {table} GROUP BY 1),
        w AS (SELECT v, sum(c) OVER (ORDER BY v DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cc,
                     sum(v * c) OVER (ORDER BY v DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cs FROM d),
        m AS (SELECT unnest([{marks}]) AS i)
        SELECT m.i, w.cs - (w.cc - m.i) * w.v AS cum, (SELECT sum(v * c) FROM d) AS total
        FROM m ASOF JOIN w ON m.i <= w.cc ORDER BY m.i""", label="Pareto curve points", kind="aggregate")
    total = float(got["total"].iloc[0]) if len(got) else 0.0
    cum = dict(zip(got["i"].astype("int64"), got["cum"].astype("float64")))
    rev = np.array([0.0 if i == 0 else (cum[int(i)] / total if total else 0.0) for i in idx])
    out = pd.DataFrame({"customer_share": idx / n, "revenue_share": rev})
    out.attrs["top_share"] = float(cum[k] / total) if total and k in cum else float("nan")
    return out
