"""Words of the segmentation page (notebook 03): method names, sentences, captions, tables.

The methods compared are named by their keys (``quantile``, ``thresholds``, ``kmeans``,
``gmm``: the keys of the segmenters passed to :func:`rfm_helpers.clustering.compare_methods`);
:func:`method_name` says them in the report's language. Findings come from
:func:`rfm_helpers.clustering.findings` as codes with values and become sentences here.
Sentences are ``(template, values)`` pairs for :func:`rfm_helpers.report.display.say`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from ..i18n import N_, Translator
from .common import Column, frame, sentence

__all__ = ["METHODS", "method_name", "method_title", "caption", "segmented_sentence", "sample_sentence", "cluster_sentences", "conclusion_sentences",
           "segments_view", "ari_view", "crosstab_view", "quality_view", "summary_labels"]

#: The methods of notebook 03, in the order the page shows them.
METHODS = ("quantile", "thresholds", "kmeans", "gmm")
_METHOD_NAMES = {"quantile": N_("quantile scores"), "thresholds": N_("business thresholds"),
                 "kmeans": N_("k-means"), "gmm": N_("Gaussian mixture")}

_CAPTIONS = {
    "params": N_("Parameters of this run"),
    "segments": N_("Segments by {method}"),
    "ari": N_("Adjusted Rand index between methods"),
    "crosstab": N_("Customers by segment: {rows} (rows) against {cols} (columns)"),
    "quality": N_("Separation and stability by method"),
}

Sentence = tuple[str, dict[str, str]]


def method_name(t: Translator, key: str) -> str:
    """A method's name on the page (an unknown key is shown as it is)."""
    return t._(_METHOD_NAMES[key]) if key in _METHOD_NAMES else str(key)


def method_title(t: Translator, key: str) -> str:
    """A method's name as a title or at the start of a sentence (first letter capital)."""
    name = method_name(t, key)
    return name[:1].upper() + name[1:]


def caption(t: Translator, key: str, **methods: str) -> str:
    """A caption (``key`` as in ``_CAPTIONS``); ``methods``: placeholders filled with method
    names (``caption(t, "segments", method="kmeans")``)."""
    return t._(_CAPTIONS[key]).format(**{k: method_name(t, v) for k, v in methods.items()})


def segmented_sentence(t: Translator, customers: int, methods: int) -> Sentence:
    return (t._("{customers} were segmented with {methods}."),
            {"customers": t.plural(customers, "{n} customer", "{n} customers"),
             "methods": t.plural(methods, "{n} method", "{n} methods")})


def sample_sentence(t: Translator, sample: int, customers: int) -> Sentence:
    """On how many customers the quality measures and the stability check were computed."""
    if sample >= customers:
        return (t._("Quality and stability were measured on all {customers}."),
                {"customers": t.plural(customers, "{n} customer", "{n} customers")})
    return (t.ngettext("Quality and stability were measured on a seeded random sample of {sample} of the {n} customer.",
                       "Quality and stability were measured on a seeded random sample of {sample} of the {n} customers.",
                       customers),
            {"sample": t.integer(sample), "n": t.integer(customers)})


def cluster_sentences(t: Translator, key: str, fitted, user_k: bool) -> list[Sentence]:
    """How a clustering method's number of clusters was set and on how many customers it was
    chosen and fitted (``fitted``: a fitted :class:`rfm_helpers.clustering.ClusterSegmenter`)."""
    name = method_name(t, key)
    how = t._("set by the user") if user_k else t._("chosen automatically")
    out = [sentence(t._("{method}: {clusters} ({how})."),
                    {"method": name, "clusters": t.plural(fitted.k_, "{n} cluster", "{n} clusters"), "how": how})]
    if not user_k:
        out.append(sentence(t._("{method}: the number of clusters was chosen on {sample}."),
                            {"method": name, "sample": t.plural(fitted.selection_rows_used_,
                                                                "a random sample of {n} customer",
                                                                "a random sample of {n} customers")}))
    out.append(sentence(t.ngettext("{method}: the model was fitted on {fit} of the {n} customer (a seeded random "
                                   "sample if fewer); every customer was then assigned a cluster.",
                                   "{method}: the model was fitted on {fit} of the {n} customers (a seeded random "
                                   "sample if fewer); every customer was then assigned a cluster.", fitted.n_customers_),
                        {"method": name, "fit": t.integer(fitted.fit_rows_used_), "n": t.integer(fitted.n_customers_)}))
    return out


_FINDINGS = {
    "pareto": N_("The top 20% of customers by spend bring {top} of revenue."),
    "biggest": N_("Under {method}, the largest revenue segment is \u00ab{label}\u00bb: {customer_share} of customers "
                  "and {revenue_share} of revenue."),
    "high": N_("{a} and {b} agree closely (adjusted Rand index {ari}): either gives much the same groups."),
    "partial": N_("{a} and {b} partly agree (adjusted Rand index {ari}): the broad picture is similar, the borders "
                  "between groups differ."),
    "low": N_("{a} and {b} agree little (adjusted Rand index {ari}): they cut customers differently, so pick one "
              "method and use it consistently."),
    "best_separation": N_("{method} separates its groups best (silhouette {silhouette})."),
    "unstable": N_("{method} is not very stable under resampling (mean bootstrap adjusted Rand index {ari}): treat "
                   "its smaller groups with caution."),
    "stable": N_("All data-driven methods are stable under resampling (mean bootstrap adjusted Rand index at least "
                 "{ari})."),
}


def conclusion_sentences(t: Translator, found: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Sentence]:
    """The findings of :func:`rfm_helpers.clustering.findings` as sentences."""
    out = []
    for code, v in found:
        if code == "pareto":
            values = {"top": t.percent(v["top"], 0)}
        elif code == "biggest":
            values = {"method": method_name(t, v["method"]), "label": v["label"],
                      "customer_share": t.percent(v["customer_share"], 0), "revenue_share": t.percent(v["revenue_share"], 0)}
        elif code == "agreement":
            code = v["level"]
            values = {"a": method_name(t, v["a"]), "b": method_name(t, v["b"]), "ari": t.number(v["ari"], 2)}
        elif code == "best_separation":
            values = {"method": method_name(t, v["method"]), "silhouette": t.number(v["silhouette"], 2)}
        elif code == "unstable":
            values = {"method": method_name(t, v["method"]), "ari": t.number(v["ari"], 2)}
        elif code == "stable":
            values = {"ari": t.number(v["ari"], 2)}
        else:  # a finding this page does not know yet: say so rather than drop it
            raise ValueError(f"no sentence for the segmentation finding {code!r}")
        out.append(sentence(t._(_FINDINGS[code]), values))
    return out


_SEGMENT_COLUMNS: list[Column] = [
    ("label", N_("Segment"), "text"), ("customers", N_("Customers"), "int"),
    ("customer_share", N_("Share of customers"), "pct"), ("revenue", N_("Revenue"), "money"),
    ("revenue_share", N_("Share of revenue"), "pct"),
    ("median_recency_days", N_("Median days since last order"), "int"),
    ("median_frequency", N_("Median orders"), "int"), ("median_monetary", N_("Median spend"), "money"),
]


def segments_view(t: Translator, seg_table: pd.DataFrame) -> pd.DataFrame:
    """:func:`rfm_helpers.clustering.segment_table` as text."""
    return frame(t, seg_table, _SEGMENT_COLUMNS)


def ari_view(t: Translator, ari: pd.DataFrame) -> pd.DataFrame:
    """The pairwise adjusted Rand index table with method names."""
    shown = pd.DataFrame({t._("Method"): [method_name(t, m) for m in ari.index]})
    for m in ari.columns:
        shown[method_name(t, m)] = [t.number(float(v), 2) for v in ari[m]]
    return shown


def crosstab_view(t: Translator, cross: pd.DataFrame) -> pd.DataFrame:
    """:func:`rfm_helpers.clustering.method_crosstab` as text: the row method's segments in
    the first column, the column method's segments as headers."""
    rows = t._("Segment ({method})").format(method=method_name(t, cross.index.name))
    shown = pd.DataFrame({rows: [str(i) for i in cross.index]})
    for col in cross.columns:
        shown[str(col)] = [t.integer(v) for v in cross[col]]
    return shown


_QUALITY_COLUMNS: list[Column] = [
    ("method", N_("Method"), "text"), ("segments_used", N_("Segments"), "int"),
    ("silhouette", N_("Silhouette"), "num3"), ("calinski_harabasz", N_("Calinski-Harabasz"), "int"),
    ("davies_bouldin", N_("Davies-Bouldin"), "num2"),
    ("bootstrap_ari_mean", N_("Bootstrap adjusted Rand index, mean"), "num3"),
    ("bootstrap_ari_min", N_("Bootstrap adjusted Rand index, minimum"), "num3"),
]


def quality_view(t: Translator, quality: pd.DataFrame) -> pd.DataFrame:
    """The ``quality`` table of :func:`rfm_helpers.clustering.compare_methods` as text."""
    named = quality.assign(method=[method_name(t, m) for m in quality["method"]])
    return frame(t, named, _QUALITY_COLUMNS)


def summary_labels(t: Translator) -> dict[str, str]:
    """Labels of the figures notebook 03 records for the month page."""
    return {"segmentation_ari_quantile_kmeans": t._("Agreement of quantile scores and k-means (adjusted Rand "
                                                    "index)")}
