"""Holding out a control group when a list is sent: random, seeded, stratified by segment.

Within every segment the customers are sorted by id (so the same customers in any order get
the same draw for a seed), then a seeded random permutation picks the control group. The
number held out per segment is the segment's share rounded down or up so that the total is
``round(share x eligible)`` exactly and every segment is within one customer of its share
(which segments round up is drawn at random too). Each segment's control group is therefore
a random sample of that segment: comparisons within segments are as valid as the overall one.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["stratified_holdout"]


def stratified_holdout(customers: pd.DataFrame, share: float, seed: int, *, control: str = "control",
                       treatment: str = "treatment", by: str = "segment") -> pd.DataFrame:
    """``customers`` (``customer_id``, ``by``) with a ``group`` column: ``control`` for the
    held-out customers, ``treatment`` for the others. Ids must be unique."""
    if not 0 < share < 1:
        raise ValueError(f"the control share must be between 0 and 1 (e.g. 0.1), got {share!r}")
    if customers["customer_id"].duplicated().any():
        raise ValueError("each customer may appear once in the list a control group is drawn from")
    rng = np.random.default_rng(seed)
    df = customers[["customer_id", by]].copy()
    df["customer_id"] = df["customer_id"].astype("string")
    df[by] = df[by].astype(str)
    df = df.sort_values([by, "customer_id"], kind="stable").reset_index(drop=True)
    sizes = df.groupby(by, sort=True).size()
    exact = sizes * share
    base = np.floor(exact).astype(int)
    total = int(np.floor(share * len(df) + 0.5))
    extra = total - int(base.sum())
    remainders = (exact - base).to_numpy()
    # the strata that round up: drawn with probability proportional to their remainder
    up = np.zeros(len(sizes), dtype=int)
    if extra > 0:
        p = remainders / remainders.sum() if remainders.sum() > 0 else None
        up[rng.choice(len(sizes), size=min(extra, len(sizes)), replace=False, p=p)] = 1
    n_control = dict(zip(sizes.index, base.to_numpy() + up))
    group = np.full(len(df), treatment, dtype=object)
    start = 0
    for seg, n in sizes.items():
        pick = rng.permutation(n)[: n_control[seg]]
        group[start + pick] = control
        start += n
    df["group"] = pd.array(group, dtype="string")
    return df
