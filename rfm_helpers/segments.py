"""Named customer segments from RFM scores, and score-based segmentation methods.

Segment maps live in ``segment_maps.yaml`` (shipped with the package; users may pass their
own file). A map assigns every cell of the 5 x 5 x 5 grid of (``r_score``, ``f_score``,
``m_score``) to exactly one segment; this is checked when the file is loaded, so every
customer always lands in exactly one segment.

Public API
----------
load_segment_maps(path=None)                  parse and validate the maps
assign_segments(scored, map_name, language)   add segment / segment_label / segment_group
compute_segmented_rfm(transactions, as_of)    scores and segments computed in DuckDB/Spark
segment_case_sql(map_name)                    the map as one SQL CASE (for the engines)
segmented_rfm_relation(..., engine=)          scored segments kept in the engine (for files)
segment_summary(df, language)                 one row per segment: size, revenue, profile, texts
QuantileSegmenter, ThresholdSegmenter         fit/predict scorers (clustering: rfm_helpers.clustering)
"""
from __future__ import annotations

import copy
import functools
import math
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import yaml

__all__ = [
    "GRID_SIZE",
    "SegmentMapError",
    "load_segment_maps",
    "validate_map",
    "segment_of_cell",
    "assign_segments",
    "segment_case_sql",
    "segmented_rfm_relation",
    "compute_segmented_rfm",
    "segment_summary",
    "segment_summary_sql",
    "map_info",
    "QuantileSegmenter",
    "ThresholdSegmenter",
    "threshold_score_sql",
    "label_case_sql",
    "parse_cuts",
    "per_year",
]

#: Scores run 1..GRID_SIZE on each of R, F, M.
GRID_SIZE = 5
_DIMS = ("r", "f", "m", "fm")
_TEXT_FIELDS = ("label", "description", "strategy", "channel", "talking_points")


class SegmentMapError(ValueError):
    """A segment map file is malformed or does not cover the score grid exactly once."""


def _default_path() -> Path:
    return Path(str(resources.files("rfm_helpers") / "segment_maps.yaml"))


def _cell_value(dim: str, r: int, f: int, m: int) -> int:
    if dim == "r":
        return r
    if dim == "f":
        return f
    if dim == "m":
        return m
    return (f + m + 1) // 2  # "fm": mean of f and m, halves rounded up


def _parse_range(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise SegmentMapError(f"{where}: expected a score or [low, high], got {value!r}")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        lo, hi = value
    else:
        raise SegmentMapError(f"{where}: expected a score or [low, high], got {value!r}")
    if not (1 <= lo <= hi <= GRID_SIZE):
        raise SegmentMapError(f"{where}: range [{lo}, {hi}] must satisfy 1 <= low <= high <= {GRID_SIZE}")
    return lo, hi


def _matches(when: dict[str, tuple[int, int]], r: int, f: int, m: int) -> bool:
    return all(lo <= _cell_value(d, r, f, m) <= hi for d, (lo, hi) in when.items())


def _grid() -> Iterable[tuple[int, int, int]]:
    rng = range(1, GRID_SIZE + 1)
    return ((r, f, m) for r in rng for f in rng for m in rng)


def validate_map(name: str, spec: dict, languages: Sequence[str], groups: dict) -> dict:
    """Check one map and return it normalised (ranges as tuples, a cell lookup table).

    Raises :class:`SegmentMapError` naming every grid cell (as ``"RFM"`` digits) that no
    segment covers or that more than one segment covers, and any missing text.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("segments"), list) or not spec["segments"]:
        raise SegmentMapError(f"map {name!r}: needs a non-empty list 'segments'")
    segs = []
    seen: set[str] = set()
    for i, raw in enumerate(spec["segments"]):
        where = f"map {name!r}, segment #{i + 1}"
        if not isinstance(raw, dict) or not raw.get("key"):
            raise SegmentMapError(f"{where}: needs a 'key'")
        key = str(raw["key"])
        where = f"map {name!r}, segment {key!r}"
        if key in seen:
            raise SegmentMapError(f"{where}: duplicate key")
        seen.add(key)
        when_raw = raw.get("when") or {}
        if not isinstance(when_raw, dict):
            raise SegmentMapError(f"{where}: 'when' must map dimensions ({', '.join(_DIMS)}) to ranges")
        bad = [d for d in when_raw if d not in _DIMS]
        if bad:
            raise SegmentMapError(f"{where}: unknown dimension(s) {bad}; use {list(_DIMS)}")
        when = {d: _parse_range(v, f"{where}, {d}") for d, v in when_raw.items()}
        group = str(raw.get("group", ""))
        if group not in groups:
            raise SegmentMapError(f"{where}: group {group!r} is not one of {sorted(groups)}")
        texts = {}
        for field in _TEXT_FIELDS:
            val = raw.get(field)
            if not isinstance(val, dict):
                raise SegmentMapError(f"{where}: '{field}' must give a text per language {list(languages)}")
            missing = [lang for lang in languages if not str(val.get(lang) or "").strip()]
            if missing:
                raise SegmentMapError(f"{where}: '{field}' has no text for language(s) {missing}")
            texts[field] = {lang: str(val[lang]) for lang in languages}
        weight = float(raw.get("call_weight", 0))
        if not (0 <= weight <= 1):
            raise SegmentMapError(f"{where}: call_weight must be between 0 and 1, got {weight}")
        segs.append({"key": key, "group": group, "when": when, "call_weight": weight, **texts})

    lookup = np.full(GRID_SIZE ** 3, -1, dtype=np.int64)
    missing_cells, overlaps = [], []
    for r, f, m in _grid():
        hits = [j for j, s in enumerate(segs) if _matches(s["when"], r, f, m)]
        cell = f"{r}{f}{m}"
        if not hits:
            missing_cells.append(cell)
        elif len(hits) > 1:
            overlaps.append(f"{cell} ({' & '.join(segs[j]['key'] for j in hits)})")
        else:
            lookup[_cell_index(r, f, m)] = hits[0]
    if missing_cells or overlaps:
        parts = []
        if missing_cells:
            parts.append(f"{len(missing_cells)} cell(s) in no segment: {', '.join(missing_cells)}")
        if overlaps:
            parts.append(f"{len(overlaps)} cell(s) in several segments: {'; '.join(overlaps)}")
        raise SegmentMapError(
            f"map {name!r} must put every R,F,M score cell (digits r f m, 1..{GRID_SIZE}) in exactly "
            "one segment: " + " | ".join(parts))
    title = spec.get("title") or {}
    return {
        "name": name,
        "title": {lang: str(title.get(lang, name)) if isinstance(title, dict) else str(title)
                  for lang in languages},
        "segments": segs,
        "lookup": lookup,
    }


def _cell_index(r, f, m):
    return (r - 1) * GRID_SIZE * GRID_SIZE + (f - 1) * GRID_SIZE + (m - 1)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SegmentMapError(f"{path}: not valid YAML: {exc}") from exc
    return parse_segment_maps(raw, source=path)


def parse_segment_maps(raw: Any, source: str = "<dict>") -> dict:
    """Validate an already-parsed maps document (same structure as the YAML file)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("maps"), dict) or not raw["maps"]:
        raise SegmentMapError(f"{source}: expected a top-level 'maps' mapping with at least one map")
    languages = raw.get("languages") or ["en"]
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        raise SegmentMapError(f"{source}: 'languages' must be a list like [en, ru]")
    groups_raw = raw.get("groups") or {}
    if not isinstance(groups_raw, dict) or not groups_raw:
        raise SegmentMapError(f"{source}: 'groups' must map group keys to labels per language")
    groups = {}
    for g, labels in groups_raw.items():
        if not isinstance(labels, dict) or any(not labels.get(lang) for lang in languages):
            raise SegmentMapError(f"{source}: group {g!r} needs a label for each of {languages}")
        groups[str(g)] = {lang: str(labels[lang]) for lang in languages}
    maps = {}
    for name, spec in raw["maps"].items():
        try:
            maps[str(name)] = validate_map(str(name), spec, languages, groups)
        except SegmentMapError as exc:
            raise SegmentMapError(f"{source}: {exc}") from None
    return {"languages": list(languages), "groups": groups, "maps": maps, "source": source}


def load_segment_maps(path: str | Path | None = None) -> dict:
    """Load and validate segment maps (default: the package's ``segment_maps.yaml``).

    Returns ``{"languages": [...], "groups": {key: {lang: label}}, "maps": {name: map},
    "source": path}`` where each map has ``name``, ``title``, ``segments`` (list of dicts with
    ``key``, ``group``, ``when``, ``call_weight`` and per-language ``label``, ``description``,
    ``strategy``, ``channel``, ``talking_points``) and ``lookup`` (segment index for each of
    the 125 cells). Raises :class:`SegmentMapError` with the offending cells if a map does
    not cover the grid exactly once. The result is cached per file and modification time;
    treat it as read-only (a deep copy is returned).
    """
    p = Path(path) if path else _default_path()
    if not p.exists():
        raise FileNotFoundError(f"segment maps file {p} not found")
    return copy.deepcopy(_load_cached(str(p.resolve()), p.stat().st_mtime))


def _get_map(map_name: str, maps: dict | None) -> tuple[dict, dict]:
    maps = maps if maps is not None else load_segment_maps()
    if map_name not in maps["maps"]:
        raise KeyError(f"unknown segment map {map_name!r}; available: {sorted(maps['maps'])}")
    return maps, maps["maps"][map_name]


def _check_language(language: str, maps: dict) -> str:
    if language not in maps["languages"]:
        raise ValueError(f"language {language!r} not available; use one of {maps['languages']}")
    return language


def map_info(map_name: str = "classic", language: str = "en", maps: dict | None = None) -> pd.DataFrame:
    """The map's segments in order with their texts in ``language`` (one row per segment)."""
    maps, m = _get_map(map_name, maps)
    _check_language(language, maps)
    rows = []
    for s in m["segments"]:
        rows.append({
            "segment": s["key"], "label": s["label"][language],
            "group": maps["groups"][s["group"]][language], "group_key": s["group"],
            "rule": ", ".join(f"{d.upper()} {lo}" + (f"-{hi}" if hi != lo else "")
                              for d, (lo, hi) in s["when"].items()) or "any",
            "description": s["description"][language], "strategy": s["strategy"][language],
            "channel": s["channel"][language], "talking_points": s["talking_points"][language],
            "call_weight": s["call_weight"],
        })
    return pd.DataFrame(rows)


def segment_of_cell(r: int, f: int, m: int, map_name: str = "classic", maps: dict | None = None) -> str:
    """The segment key of one score cell (scores 1..5)."""
    _, mp = _get_map(map_name, maps)
    return mp["segments"][int(mp["lookup"][_cell_index(r, f, m)])]["key"]


def assign_segments(scored: pd.DataFrame, map_name: str = "classic", language: str = "en",
                    maps: dict | None = None) -> pd.DataFrame:
    """Add ``segment`` (stable key, e.g. ``"champions"``), ``segment_label`` (in ``language``)
    and ``segment_group`` (group label in ``language``) to a table with ``r_score``,
    ``f_score``, ``m_score`` (integers 1..5, as from :func:`rfm_helpers.rfm.score_quantiles`).

    The three new columns are ordered categoricals whose categories follow the map's order
    (so ``groupby``/plots list segments in map order; compare with plain strings as usual).
    The map name is stored in ``result.attrs["segment_map"]``. The input is not modified.
    """
    maps, mp = _get_map(map_name, maps)
    _check_language(language, maps)
    cols = ["r_score", "f_score", "m_score"]
    missing = [c for c in cols if c not in scored.columns]
    if missing:
        raise KeyError(f"assign_segments needs score columns {missing}; score first with "
                       "rfm_helpers.rfm.score_quantiles or a segmenter")
    out = scored.copy()
    if out.empty:
        idx = np.array([], dtype=np.int64)
    else:
        vals = out[cols].to_numpy()
        try:
            vals = vals.astype("int64")
        except (TypeError, ValueError) as exc:
            raise ValueError("r_score, f_score, m_score must be whole numbers 1..5 without gaps") from exc
        if vals.min() < 1 or vals.max() > GRID_SIZE:
            raise ValueError(f"segment maps are defined on scores 1..{GRID_SIZE}; found scores "
                             f"{int(vals.min())}..{int(vals.max())} (score with n=5)")
        idx = mp["lookup"][_cell_index(vals[:, 0], vals[:, 1], vals[:, 2])]
    return _add_segment_columns(out, idx, maps, mp, language, map_name)


def _add_segment_columns(out: pd.DataFrame, idx: np.ndarray, maps: dict, mp: dict, language: str,
                         map_name: str) -> pd.DataFrame:
    """``segment`` / ``segment_label`` / ``segment_group`` categoricals from segment indices."""
    segs = mp["segments"]
    keys = [s["key"] for s in segs]
    labels = [s["label"][language] for s in segs]
    group_keys = list(dict.fromkeys(s["group"] for s in segs))
    group_labels = [maps["groups"][g][language] for g in group_keys]
    out["segment"] = pd.Categorical.from_codes(idx, categories=keys, ordered=True)
    out["segment_label"] = pd.Categorical.from_codes(idx, categories=_unique_labels(labels), ordered=True)
    gcode = np.array([group_keys.index(s["group"]) for s in segs], dtype=np.int64)
    out["segment_group"] = pd.Categorical.from_codes(gcode[idx] if len(idx) else idx,
                                                     categories=group_labels, ordered=True)
    out.attrs["segment_map"] = map_name
    return out


# ----------------------------------------------------------------------------------------
# Segment assignment in the engine (DuckDB / Spark): the map compiled to one SQL CASE
# ----------------------------------------------------------------------------------------

def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def segment_case_sql(map_name: str = "classic", maps: dict | None = None, *, output: str = "key",
                     r: str = "r_score", f: str = "f_score", m: str = "m_score") -> str:
    """The segment map as one SQL ``CASE`` over the score columns ``r``, ``f``, ``m``.

    One ``WHEN`` per segment, written from the segment's rules (``fm`` is
    ``FLOOR((f + m + 1) / 2)``, the mean of f and m with halves rounded up, as in the YAML);
    the map's validation guarantees that exactly one rule matches each of the 125 cells,
    so the order of the ``WHEN``s does not matter. Scores outside 1..5 give NULL.
    ``output="key"`` yields the segment key (text), ``"code"`` its position in the map
    (0-based, the categorical code :func:`assign_segments` uses). DuckDB dialect; sqlglot
    translates it for Spark like every other query.
    """
    if output not in ("key", "code"):
        raise ValueError("output must be 'key' or 'code'")
    _, mp = _get_map(map_name, maps)
    exprs = {"r": r, "f": f, "m": m, "fm": f"FLOOR(({f} + {m} + 1) / 2)"}
    out_of_grid = " OR ".join(f"{c} IS NULL OR {c} NOT BETWEEN 1 AND {GRID_SIZE}" for c in (r, f, m))
    whens = [f"WHEN {out_of_grid} THEN NULL"]
    for i, seg in enumerate(mp["segments"]):
        conds = [f"{exprs[d]} = {lo}" if lo == hi else f"{exprs[d]} BETWEEN {lo} AND {hi}"
                 for d, (lo, hi) in seg["when"].items()]
        value = _sql_text(seg["key"]) if output == "key" else str(i)
        whens.append(f"WHEN {' AND '.join(conds) or 'TRUE'} THEN {value}")
    return "CASE " + "\n     ".join(whens) + " END"


def segmented_rfm_relation(transactions: Any, as_of: Any, window_days: int | None = None, *,
                           map_name: str = "classic", maps: dict | None = None, n: int = GRID_SIZE,
                           by_channel: bool = False, include_lapsed: bool = True, engine: Any,
                           time_zone: str | None = None, scale: int = 2, order: bool = False,
                           output: str = "key"):
    """Scored RFM plus the segment of every customer, kept in ``engine`` (an open
    :class:`rfm_helpers.engine.Engine`): a Relation with the columns of
    :func:`rfm_helpers.rfm.compute_scored_rfm` and ``segment`` (the key, or with
    ``output="code"`` ``segment_code``). Write it with ``.write_parquet`` for exports."""
    from .rfm import scored_rfm_relation

    if n != GRID_SIZE:
        raise ValueError(f"segment maps are defined on {GRID_SIZE} scores; n must be {GRID_SIZE}")
    column = "segment" if output == "key" else "segment_code"
    case = segment_case_sql(map_name, maps, output=output)
    return scored_rfm_relation(transactions, as_of, window_days, n=n, by_channel=by_channel,
                               include_lapsed=include_lapsed, engine=engine, time_zone=time_zone,
                               scale=scale, order=order, extra=[f"{case} AS {column}"])


def compute_segmented_rfm(transactions: Any, as_of: Any, window_days: int | None = None, *,
                          map_name: str = "classic", language: str = "en", maps: dict | None = None,
                          n: int = GRID_SIZE, by_channel: bool = False, include_lapsed: bool = True,
                          engine: Any = "auto", spark: Any = None, time_zone: str | None = None,
                          scale: int = 2) -> pd.DataFrame:
    """``assign_segments(compute_scored_rfm(...), map_name, language)`` with scores and
    segments computed in the engine (DuckDB or Spark) in one statement; only the segment's
    position in the map crosses into pandas, where the categorical columns are built.
    Same columns, dtypes and values as the two-step pandas path (tested)."""
    from .engine import open_engine
    from .rfm import tidy_rfm

    maps, mp = _get_map(map_name, maps)
    _check_language(language, maps)
    with open_engine(engine, data=transactions, spark=spark) as eng:
        rel = segmented_rfm_relation(transactions, as_of, window_days, map_name=map_name, maps=maps,
                                     n=n, by_channel=by_channel, include_lapsed=include_lapsed,
                                     engine=eng, time_zone=time_zone, scale=scale, order=True,
                                     output="code")
        out = rel.to_pandas(label="compute_segmented_rfm", kind="per_customer")
    out = tidy_rfm(out, ["channel"] if by_channel else [], scale)
    idx = out.pop("segment_code").to_numpy(dtype="int64")
    return _add_segment_columns(out, idx, maps, mp, language, map_name)


def _unique_labels(labels: list[str]) -> list[str]:
    # Labels may coincide across segments in a user's file; categories must be unique.
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        n = seen.get(lab, 0)
        seen[lab] = n + 1
        out.append(lab if n == 0 else f"{lab} ({n + 1})")
    return out


def _infer_map(df: pd.DataFrame, maps: dict) -> str:
    name = df.attrs.get("segment_map")
    if name in maps["maps"]:
        return name
    present = set(df["segment"].dropna().astype(str))
    for name, mp in maps["maps"].items():
        if present <= {s["key"] for s in mp["segments"]}:
            return name
    raise ValueError("cannot tell which segment map the 'segment' column comes from; pass map_name=")


def segment_summary(df: pd.DataFrame, language: str = "en", map_name: str | None = None,
                    maps: dict | None = None) -> pd.DataFrame:
    """One row per segment of the map, in map order (empty segments included with 0).

    Columns: ``segment`` (key), ``label``, ``group``, ``customers``, ``customer_share``,
    ``revenue`` (sum of ``monetary``), ``revenue_share``, ``mean_recency_days``,
    ``mean_frequency``, ``mean_monetary``, ``description``, ``strategy``, ``channel``.
    Shares are fractions (0..1) of all customers / all revenue in ``df``. The map is
    ``map_name`` or, by default, the one recorded by :func:`assign_segments`.
    """
    maps = maps if maps is not None else load_segment_maps()
    _check_language(language, maps)
    if "segment" not in df.columns:
        raise KeyError("segment_summary needs a 'segment' column; call assign_segments first")
    name = map_name or _infer_map(df, maps)
    info = map_info(name, language, maps)
    seg = df["segment"].astype("string")
    grouped = df.assign(_seg=seg).groupby("_seg", observed=True)
    agg = grouped.agg(customers=("_seg", "size"), revenue=("monetary", "sum"),
                      mean_recency_days=("recency_days", "mean"), mean_frequency=("frequency", "mean"),
                      mean_monetary=("monetary", "mean"))
    unknown = sorted(set(agg.index) - set(info["segment"]))
    if unknown:
        raise ValueError(f"segments {unknown} are not in map {name!r}")
    return _summary_from(agg, info)


def segment_summary_sql(engine: Any, table: str, map_name: str = "classic", language: str = "en",
                        maps: dict | None = None) -> pd.DataFrame:
    """:func:`segment_summary` of the scored per-customer table ``table`` in ``engine`` (quantile
    scores ``r_score``/``f_score``/``m_score``, as ``Prepared.rfm_table``), the segments assigned
    by the map's SQL CASE and summed in one GROUP BY: only one row per segment reaches pandas.
    Counts and means of days and orders are exactly pandas'; money sums may differ in the
    last bits of the double (another order of additions)."""
    maps = maps if maps is not None else load_segment_maps()
    _check_language(language, maps)
    _, mp = _get_map(map_name, maps)
    info = map_info(map_name, language, maps)
    got = engine.fetch(f"""
        SELECT code, count(*) AS customers, sum(CAST(monetary AS DOUBLE)) AS revenue,
               avg(recency_days) AS mean_recency_days, avg(frequency) AS mean_frequency,
               avg(CAST(monetary AS DOUBLE)) AS mean_monetary
        FROM (SELECT *, {segment_case_sql(map_name, maps, output="code")} AS code FROM {table}) AS s
        GROUP BY code ORDER BY code""", label="customers per segment", kind="aggregate")
    if got["code"].isna().any():
        raise ValueError(f"{table}: scores outside 1..{GRID_SIZE}; segment maps need quantile scores 1..{GRID_SIZE}")
    keys = [seg["key"] for seg in mp["segments"]]
    agg = got.drop(columns="code").set_axis(pd.Index([keys[int(c)] for c in got["code"]], dtype="string"))
    agg["customers"] = agg["customers"].astype("int64")
    return _summary_from(agg, info)


def _summary_from(agg: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """:func:`segment_summary`'s table from per-segment aggregates indexed by segment key."""
    out = info[["segment", "label", "group"]].merge(agg, left_on="segment", right_index=True, how="left")
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0.0).astype("float64")
    total_c = out["customers"].sum()
    total_r = out["revenue"].sum()
    out.insert(4, "customer_share", out["customers"] / total_c if total_c else 0.0)
    out.insert(6, "revenue_share", out["revenue"] / total_r if total_r else 0.0)
    for c in ("description", "strategy", "channel"):
        out[c] = info[c].to_numpy()
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------------------
# Score-based segmentation methods with a fit / predict interface
# ----------------------------------------------------------------------------------------

class _ScoreSegmenter:
    """Shared part: ``transform`` gives scores, ``predict`` the segment keys via a map."""

    method = "scores"

    def __init__(self, segment_map: str = "classic", language: str = "en", maps: dict | None = None):
        self.segment_map = segment_map
        self.language = language
        self.maps = maps

    def _maps(self) -> dict:
        return self.maps if self.maps is not None else load_segment_maps()

    def fit(self, rfm: pd.DataFrame) -> "_ScoreSegmenter":  # pragma: no cover - overridden
        raise NotImplementedError

    def transform(self, rfm: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - overridden
        raise NotImplementedError

    def assign(self, rfm: pd.DataFrame) -> pd.DataFrame:
        """``rfm`` with this method's ``r_score``/``f_score``/``m_score`` (replacing any
        existing ones), ``rfm_cell`` and the segment columns of :func:`assign_segments`."""
        scores = self.transform(rfm)
        out = rfm.drop(columns=[c for c in ("r_score", "f_score", "m_score", "rfm_cell", "rfm_score",
                                            "segment", "segment_label", "segment_group")
                                if c in rfm.columns])
        for c in scores.columns:
            out[c] = scores[c].to_numpy()
        out["rfm_cell"] = (out["r_score"].astype(str) + out["f_score"].astype(str)
                           + out["m_score"].astype(str)).astype("string")
        return assign_segments(out, self.segment_map, self.language, self._maps())

    def predict(self, rfm: pd.DataFrame) -> pd.Series:
        """Segment key per customer (categorical, same index as ``rfm``)."""
        return self.assign(rfm)["segment"].set_axis(rfm.index)

    def fit_predict(self, rfm: pd.DataFrame) -> pd.Series:
        """``fit(rfm).predict(rfm)``."""
        return self.fit(rfm).predict(rfm)

    def labels(self) -> dict[str, str]:
        """Segment key -> display label in the segmenter's language."""
        info = map_info(self.segment_map, self.language, self._maps())
        return dict(zip(info["segment"], info["label"]))


class QuantileSegmenter(_ScoreSegmenter):
    """Quantile scores 1..n learned on a reference set of customers, then a named map.

    ``fit`` stores each dimension's sorted reference values. A customer's score is
    ``1 + floor(n * share of reference customers with a strictly worse value)`` capped at
    ``n`` - the rule of :func:`rfm_helpers.rfm.score_quantiles`, so on the reference data
    the scores are identical to it (tested), and ``predict`` on new customers places them
    against the reference distribution. ``cuts_`` lists, per dimension, the boundary value of
    each score 2..n.
    """

    method = "quantile"

    def __init__(self, n: int = 5, segment_map: str = "classic", language: str = "en",
                 maps: dict | None = None):
        super().__init__(segment_map, language, maps)
        if n != GRID_SIZE:
            raise ValueError(f"segment maps are defined on {GRID_SIZE} scores; n must be {GRID_SIZE}")
        self.n = n

    def fit(self, rfm: pd.DataFrame) -> "QuantileSegmenter":
        """Learn the reference distribution of ``recency_days``, ``frequency``, ``monetary``."""
        _need(rfm, ["recency_days", "frequency", "monetary"])
        if rfm.empty:
            raise ValueError("cannot fit quantile scores on an empty table")
        self.sorted_ = {c: np.sort(rfm[c].to_numpy(dtype="float64"))
                        for c in ("recency_days", "frequency", "monetary")}
        self.n_fit_ = len(rfm)
        return self

    def _score(self, col: str, values: np.ndarray) -> np.ndarray:
        ref = self.sorted_[col]
        if col == "recency_days":  # smaller is better: worse = strictly larger
            worse = len(ref) - np.searchsorted(ref, values, side="right")
        else:
            worse = np.searchsorted(ref, values, side="left")
        return np.minimum(self.n, 1 + np.floor(self.n * worse / len(ref))).astype("int64")

    def transform(self, rfm: pd.DataFrame) -> pd.DataFrame:
        """Scores ``r_score``, ``f_score``, ``m_score`` for ``rfm`` against the fitted data."""
        _check_fitted(self, "sorted_")
        _need(rfm, ["recency_days", "frequency", "monetary"])
        return pd.DataFrame({
            "r_score": self._score("recency_days", rfm["recency_days"].to_numpy(dtype="float64")),
            "f_score": self._score("frequency", rfm["frequency"].to_numpy(dtype="float64")),
            "m_score": self._score("monetary", rfm["monetary"].to_numpy(dtype="float64")),
        }, index=rfm.index)

    @property
    def cuts_(self) -> dict[str, list[float]]:
        """Per dimension and score s = 2..n, the least good reference value scoring at least
        s: the smallest frequency/monetary, the largest recency (NaN if no value reaches s)."""
        _check_fitted(self, "sorted_")
        out = {}
        for col, ref in self.sorted_.items():
            uniq = np.unique(ref)
            sc = self._score(col, uniq)
            bounds = []
            for s in range(2, self.n + 1):
                hit = uniq[sc >= s]
                if col == "recency_days":
                    bounds.append(float(hit.max()) if len(hit) else math.nan)
                else:
                    bounds.append(float(hit.min()) if len(hit) else math.nan)
            out[col] = bounds
        return out


def parse_cuts(value: Any, name: str, n: int = GRID_SIZE) -> tuple[float, ...]:
    """Parse and validate ``n - 1`` cut points: ``"30,90,180,365"`` or a sequence.

    Cuts must be finite, non-negative and strictly increasing (so the n bands are ordered and
    together cover every value from 0 up). Raises ``ValueError`` saying what is wrong.
    """
    if isinstance(value, str):
        parts = [x.strip() for x in value.replace(";", ",").split(",") if x.strip()]
        try:
            cuts = [float(x) for x in parts]
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a comma-separated list of numbers") from None
    else:
        try:
            cuts = [float(x) for x in value]
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected {n - 1} numbers, got {value!r}") from None
    if len(cuts) != n - 1:
        raise ValueError(f"{name}: expected {n - 1} cut points for {n} scores, got {len(cuts)} ({value!r})")
    if not all(math.isfinite(c) for c in cuts):
        raise ValueError(f"{name}: cut points must be finite numbers, got {cuts}")
    if cuts[0] < 0:
        raise ValueError(f"{name}: cut points cannot be negative, got {cuts}")
    bad = [f"{a:g} >= {b:g}" for a, b in zip(cuts, cuts[1:]) if not a < b]
    if bad:
        raise ValueError(f"{name}: cut points must be strictly increasing; found {', '.join(bad)}")
    return tuple(cuts)


def per_year(rfm: pd.DataFrame, column: str, window_days: int | None = None,
             min_exposure_days: int = 365) -> pd.Series:
    """``column`` (``frequency`` or ``monetary``) per year of observation.

    ``exposure_days = tenure_days + 1`` (days from the first purchase to the analysis date,
    both included); with a window, ``min(exposure_days, window_days)`` because only the
    window is counted. To avoid extrapolating a single recent order into a huge yearly
    rate, exposure is at least ``min(min_exposure_days, window_days)`` (one year by default).
    Result: ``column * 365.25 / exposure_days``.
    """
    _need(rfm, [column, "tenure_days"])
    exposure = rfm["tenure_days"].astype("float64") + 1.0
    floor = float(min_exposure_days)
    if window_days:
        exposure = exposure.clip(upper=float(window_days))
        floor = min(floor, float(window_days))
    exposure = exposure.clip(lower=floor)
    return rfm[column].astype("float64") * 365.25 / exposure


class ThresholdSegmenter(_ScoreSegmenter):
    """Business-rule scores 1..5 from thresholds the user sets, then a named map.

    * **Recency** (days since the last order): ``recency_days_cuts`` ``c1 < c2 < c3 < c4``;
      score 5 if ``days <= c1``, 4 if ``<= c2``, 3 if ``<= c3``, 2 if ``<= c4``, else 1.
    * **Frequency** (orders per year) and **monetary** (spend per year), normalised by
      :func:`per_year`: score 1 below the first cut, +1 for each cut reached
      (``value >= cut``), so 5 from the last cut up.

    Thresholds do not depend on the data, so ``fit`` only checks columns; it exists so
    every method shares the same interface.
    """

    method = "thresholds"

    def __init__(self, recency_days_cuts: Any = "30,90,180,365",
                 frequency_per_year_cuts: Any = "1,2,4,8",
                 monetary_per_year_cuts: Any = "50,100,250,500",
                 window_days: int | None = None, min_exposure_days: int = 365,
                 segment_map: str = "classic", language: str = "en", maps: dict | None = None):
        super().__init__(segment_map, language, maps)
        self.recency_days_cuts = parse_cuts(recency_days_cuts, "recency_days_cuts")
        self.frequency_per_year_cuts = parse_cuts(frequency_per_year_cuts, "frequency_per_year_cuts")
        self.monetary_per_year_cuts = parse_cuts(monetary_per_year_cuts, "monetary_per_year_cuts")
        self.window_days = int(window_days) if window_days else None
        self.min_exposure_days = int(min_exposure_days)
        if self.min_exposure_days < 1:
            raise ValueError("min_exposure_days must be at least 1")

    def fit(self, rfm: pd.DataFrame) -> "ThresholdSegmenter":
        """Check that ``rfm`` has the needed columns (thresholds are fixed by the user)."""
        _need(rfm, ["recency_days", "frequency", "monetary", "tenure_days"])
        self.fitted_ = True
        return self

    def transform(self, rfm: pd.DataFrame) -> pd.DataFrame:
        """Scores plus the per-year values they came from."""
        _need(rfm, ["recency_days", "frequency", "monetary", "tenure_days"])
        rec = rfm["recency_days"].to_numpy(dtype="float64")
        fy = per_year(rfm, "frequency", self.window_days, self.min_exposure_days)
        my = per_year(rfm, "monetary", self.window_days, self.min_exposure_days)
        r = GRID_SIZE - np.searchsorted(np.asarray(self.recency_days_cuts), rec, side="left")
        f = 1 + np.searchsorted(np.asarray(self.frequency_per_year_cuts), fy.to_numpy(), side="right")
        m = 1 + np.searchsorted(np.asarray(self.monetary_per_year_cuts), my.to_numpy(), side="right")
        return pd.DataFrame({"r_score": r.astype("int64"), "f_score": f.astype("int64"),
                             "m_score": m.astype("int64"), "frequency_per_year": fy.to_numpy(),
                             "monetary_per_year": my.to_numpy()}, index=rfm.index)


def _double(value: float) -> str:
    """A float as a DuckDB/Spark DOUBLE literal with exactly its value (shortest repr)."""
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def threshold_score_sql(seg: "ThresholdSegmenter", source: str = "") -> dict[str, str]:
    """The scores of a :class:`ThresholdSegmenter` as SQL expressions over a per-customer table
    with ``recency_days``, ``frequency``, ``monetary``, ``tenure_days`` (``source``: an optional
    table alias, e.g. ``"r."``). Returns ``{"frequency_per_year", "monetary_per_year",
    "r_score", "f_score", "m_score"}`` -> expression; the same IEEE operations in the same
    order as :meth:`ThresholdSegmenter.transform`, so the scores are identical (tested)."""
    q = source
    exposure = f"(CAST({q}tenure_days AS DOUBLE) + 1.0)"
    floor = float(seg.min_exposure_days)
    if seg.window_days:
        exposure = f"LEAST({exposure}, {_double(float(seg.window_days))})"
        floor = min(floor, float(seg.window_days))
    exposure = f"GREATEST({exposure}, {_double(floor)})"
    fy = f"(CAST({q}frequency AS DOUBLE) * 365.25 / {exposure})"
    my = f"(CAST({q}monetary AS DOUBLE) * 365.25 / {exposure})"
    rec = f"CAST({q}recency_days AS DOUBLE)"
    # numpy.searchsorted: side="left" counts the cuts below the value, side="right" those not above it
    r = f"{GRID_SIZE} - (" + " + ".join(f"CASE WHEN {_double(c)} < {rec} THEN 1 ELSE 0 END"
                                         for c in seg.recency_days_cuts) + ")"
    f = "1 + " + " + ".join(f"CASE WHEN {_double(c)} <= {fy} THEN 1 ELSE 0 END" for c in seg.frequency_per_year_cuts)
    m = "1 + " + " + ".join(f"CASE WHEN {_double(c)} <= {my} THEN 1 ELSE 0 END" for c in seg.monetary_per_year_cuts)
    return {"frequency_per_year": fy, "monetary_per_year": my, "r_score": f"CAST({r} AS INTEGER)",
            "f_score": f"CAST({f} AS INTEGER)", "m_score": f"CAST({m} AS INTEGER)"}


def label_case_sql(code: str, values: Sequence[str]) -> str:
    """``CASE code WHEN 0 THEN values[0] ... END``: a categorical code turned into its text."""
    whens = " ".join(f"WHEN {i} THEN {_sql_text(str(v))}" for i, v in enumerate(values))
    return f"CASE {code} {whens} END"


def _need(df: pd.DataFrame, cols: list[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"missing column(s) {missing}; expected an RFM table from rfm_helpers.rfm.compute_rfm")


def _check_fitted(obj: Any, attr: str) -> None:
    if not hasattr(obj, attr):
        raise RuntimeError(f"{type(obj).__name__} is not fitted yet; call fit() first")
