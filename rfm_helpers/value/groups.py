"""The customer groups of notebook 06 (RFM segment and cluster) computed in the run's engine.

:func:`engine_groups` segments every customer of the scored RFM table (``Prepared.rfm_table``)
with the segment map compiled to SQL, fits the k-means clusters of the segmentation report
(notebook 03) on the same seeded bounded sample of customers (:func:`rfm_helpers.clustering.
sample_customers`, :data:`~rfm_helpers.clustering.ENGINE_SAMPLE_SIZE`) and assigns them to every
customer in SQL, and lets the engine write one Parquet file ``customer_id, segment, cluster``
that :func:`~rfm_helpers.value.analyse_value` reads as its ``groups`` (no per-customer pandas
frame). The view ``assigned`` (the RFM table with ``segment``) is what the call list is written
from (:func:`rfm_helpers.act.write_call_list` with ``engine=``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clustering import (ENGINE_SAMPLE_SIZE, ClusterSegmenter, cluster_code_sql, fit_on_sample,
                          sample_customers)
from ..segments import label_case_sql, map_info, segment_case_sql

__all__ = ["CLUSTER_RANDOM_STATE", "EngineGroups", "engine_groups"]

#: Seed of the clusters: notebook 03's default ``random_state`` (same seed, same sample, same
#: clusters and names as the segmentation report on the same data).
CLUSTER_RANDOM_STATE = 42


@dataclass
class EngineGroups:
    """``assigned``: engine view (RFM table + ``segment``); ``clusters``: the fitted
    :class:`~rfm_helpers.clustering.ClusterSegmenter`; ``path``: the Parquet file with
    ``customer_id``, ``segment``, ``cluster`` (keys as text); ``groups``: the ``groups=``
    argument of :func:`~rfm_helpers.value.analyse_value` reading it."""
    assigned: str
    clusters: ClusterSegmenter
    path: Path
    sample_size: int
    segment_order: tuple = ()

    @property
    def groups(self) -> dict[str, tuple[Path, str]]:
        return {"segment": (self.path, "segment"), "cluster": (self.path, "cluster")}

    @property
    def group_order(self) -> dict[str, list]:
        """The ``group_order=`` of :func:`~rfm_helpers.value.analyse_value`: the segments in their
        map's order, the clusters in the clustering's order."""
        return {"segment": list(self.segment_order), "cluster": list(self.clusters.keys_)}


def engine_groups(engine: Any, table: str, folder: str | Path, *, segment_map: str = "classic",
                  language: str = "en", random_state: int = CLUSTER_RANDOM_STATE,
                  sample_size: int = ENGINE_SAMPLE_SIZE, maps: dict | None = None,
                  file_name: str = "value_groups.parquet") -> EngineGroups:
    """Segments and clusters of every customer of ``table`` (scored RFM, in ``engine``) into
    ``folder/file_name``; see the module docstring. Only the sample (at most ``sample_size``
    customers) and aggregates reach pandas."""
    seg = ClusterSegmenter(segment_map=segment_map, language=language, random_state=random_state, maps=maps)
    sample = sample_customers(engine, table, sample_size, random_state)
    if len(sample) < 3:
        raise ValueError("need at least 3 customers to cluster")
    fit_on_sample(seg, engine, table, sample)
    assigned = engine.unique_name("value_assigned")
    segment = segment_case_sql(segment_map, maps, output="key", r="r.r_score", f="r.f_score", m="r.m_score")
    engine.con.execute(f"CREATE TEMP VIEW {assigned} AS SELECT r.*, {segment} AS segment FROM {table} AS r")
    codes = cluster_code_sql(seg, assigned, keep=("customer_id", "segment"), name="_code")
    path = Path(folder) / file_name
    engine.write_parquet(f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(segment AS VARCHAR) AS segment, "
                         f"{label_case_sql('_code', list(seg.keys_))} AS cluster FROM ({codes}) AS c", path)
    order = tuple(map_info(segment_map, language, maps)["segment"])
    return EngineGroups(assigned=assigned, clusters=seg, path=path, sample_size=len(sample), segment_order=order)
