"""Campaign input: read a campaign file, validate it against the transactions, build outcomes.

A *campaign file* has one row per contacted (or held-out) customer:

``customer_id``
    String id exactly as in the transactions (leading zeros are kept: ``"00042"``).
``group``
    ``"control"`` or the name of a treatment / variant (``"treatment"``, ``"A"``, ``"B"``...).
``send_date``
    The day the campaign was sent. One campaign = one send date.
``cost_per_contact`` (optional)
    Cost of contacting this customer (0 or empty for the control group).

:func:`prepare_campaign` validates the file against the clean transactions and returns a
:class:`CampaignData` with one row per customer holding

* outcomes from purchases in the **outcome window** (``send_date`` .. ``send_date +
  window_days - 1``, both inclusive): ``converted`` (0/1: bought at least once),
  ``revenue`` (spend) and ``orders`` (orders counted as in :mod:`rfm_helpers.rfm`: distinct
  ``order_id`` or, without order ids, distinct purchase days);
* pre-period covariates computed **before** the send date (as of ``send_date - 1 day``):
  the scored RFM columns (``recency_days``, ``frequency``, ``monetary``, ``r_score``...),
  the RFM segment, and ``pre_revenue`` / ``pre_orders`` over the ``window_days`` days
  before the send date (the CUPED covariate: same length as the outcome window).

Validation rules (each raises :class:`CampaignError` with a message saying what to fix):

* a customer listed in two different groups; missing columns; empty ids;
* several send dates in one file; a send date outside the transaction history;
* no control group (name configurable), or fewer than two groups;
* an empty group (a group of the planned split with nobody in it, or a group left with
  fewer than 2 customers after exclusions);
* an outcome window that runs past the last transaction date: outcomes would be cut
  short (not-yet-observed purchases counted as "no purchase"), so this is an error unless
  ``allow_truncated_window=True``, which only warns.

**Unknown customers** (decision): a customer with no purchase *before the send date*
(absent from the transactions, or first seen after sending) has no pre-period RFM. By
default they are **excluded with a warning** (``on_unknown="exclude"``); use
``on_unknown="error"`` to refuse the file instead. Exclusion uses pre-send information
only, so it removes customers from both groups alike and does not bias the comparison
(excluding customers with no purchase at all, including after sending, would: a treated
customer who then bought would stay in while an identical control customer would not).
Exact duplicate rows (same customer, same group) are dropped with a warning.

:func:`simulate_campaign` generates the demonstration campaign on real customers with a
known injected effect (see its docstring for the model).
"""
from __future__ import annotations

import datetime as dt
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .rfm import compute_rfm, parse_as_of, score_quantiles

__all__ = [
    "CampaignError",
    "CampaignWarning",
    "CampaignData",
    "read_campaign",
    "prepare_campaign",
    "outcome_window",
    "customer_outcomes",
    "simulate_campaign",
    "InjectedEffect",
    "true_effects",
    "parse_split",
    "demo_send_date",
]

REQUIRED_COLUMNS = ("customer_id", "group", "send_date")


class CampaignError(ValueError):
    """The campaign file cannot be analysed as it is (the message says what to fix)."""


class CampaignWarning(UserWarning):
    """Something in the campaign file was corrected or excluded (the message says what)."""


@dataclass
class CampaignData:
    """A validated campaign joined to outcomes and pre-period covariates.

    ``customers`` has one row per analysed customer: ``customer_id``, ``group``,
    ``cost_per_contact``, outcomes ``converted`` / ``revenue`` / ``orders``, the pre-period
    RFM columns, ``segment`` / ``segment_label`` and ``pre_revenue`` / ``pre_orders``.
    """

    customers: pd.DataFrame
    send_date: dt.date
    window_days: int
    control: str
    groups: list[str]
    planned_split: dict[str, float]
    last_data_date: dt.date
    excluded_unknown: int = 0
    dropped_duplicates: int = 0
    notes: list[str] = field(default_factory=list)
    #: ids of the excluded unknown customers (for an export file, never for the report)
    excluded_ids: pd.Series = field(default_factory=lambda: pd.Series([], dtype="string"))

    @property
    def window_end(self) -> dt.date:
        """Last day (inclusive) of the outcome window."""
        return self.send_date + dt.timedelta(days=self.window_days - 1)

    @property
    def variants(self) -> list[str]:
        """The non-control groups, in file order."""
        return [g for g in self.groups if g != self.control]

    @property
    def has_cost(self) -> bool:
        """Whether a cost per contact was given for at least one customer."""
        return bool(self.customers["cost_per_contact"].fillna(0).gt(0).any())

    def counts(self) -> pd.Series:
        """Customers per group (all groups, control first)."""
        return self.customers["group"].value_counts().reindex(self.groups, fill_value=0)


def read_campaign(path: str | os.PathLike, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a campaign file (CSV, Excel or Parquet) keeping customer ids as strings.

    ``columns`` maps canonical names (``customer_id``, ``group``, ``send_date``,
    ``cost_per_contact``) to the file's column names when they differ.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"campaign file {path}: not found")
    rename = {v: k for k, v in (columns or {}).items()}
    id_col = (columns or {}).get("customer_id", "customer_id")
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt", ".tsv"}:
        sep = "\t" if suffix == ".tsv" else ","
        df = pd.read_csv(path, sep=sep, dtype={id_col: "string", (columns or {}).get("group", "group"): "string"})
    elif suffix in {".xlsx", ".xls"}:
        df = pd.read_excel(path, dtype={id_col: str})
    elif suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        raise CampaignError(f"campaign file {path}: unsupported format {suffix!r} (use CSV, Excel or Parquet)")
    return df.rename(columns=rename)


def outcome_window(send_date: Any, window_days: int) -> tuple[dt.date, dt.date]:
    """First and last day (both inclusive) of the outcome window."""
    start = parse_as_of(send_date)
    if int(window_days) < 1:
        raise CampaignError(f"outcome window must be at least 1 day, got {window_days}")
    return start, start + dt.timedelta(days=int(window_days) - 1)


def _order_keys(tx: pd.DataFrame) -> pd.Series:
    if "order_id" in tx.columns:
        return tx["order_id"].astype("string")
    return tx["order_date"].dt.normalize().astype("int64").astype("string")


def customer_outcomes(transactions: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    """Per-customer ``converted``, ``revenue``, ``orders`` from purchases dated ``start`` ..
    ``end`` (inclusive); only customers with a purchase in the period appear."""
    start, end = pd.Timestamp(parse_as_of(start)), pd.Timestamp(parse_as_of(end))
    day = transactions["order_date"].dt.normalize()
    tx = transactions.loc[(day >= start) & (day <= end)]
    if tx.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype="string"), "revenue": pd.Series(dtype="float64"),
                             "orders": pd.Series(dtype="int64"), "converted": pd.Series(dtype="int64")})
    keyed = pd.DataFrame({"customer_id": tx["customer_id"].astype("string"), "key": _order_keys(tx),
                          "amount": tx["amount"].astype("float64")})
    out = keyed.groupby("customer_id").agg(revenue=("amount", "sum"), orders=("key", "nunique")).reset_index()
    out["orders"] = out["orders"].astype("int64")
    out["converted"] = 1
    return out


def _isin_ids(ids: Any, pool: Any) -> np.ndarray:
    """Boolean array: is each string id in ``pool``? (``pyarrow.compute.is_in``, a hash join).

    Not ``np.isin`` (on object arrays it compares every id with every pool id, O(n x m):
    minutes at 1e5 customers) nor ``Series.isin`` (on pyarrow-backed strings pandas builds a
    Python list of the pool first: seconds at 1e5)."""
    def arrow(x: Any) -> pa.Array:
        return pa.array(pd.array(np.asarray(x, dtype=object) if isinstance(x, np.ndarray) else x,
                                 dtype="string")).cast(pa.large_string())
    found = pc.is_in(arrow(ids), value_set=arrow(pool), skip_nulls=True)
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False).astype(bool)


def _normalise(campaign: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in campaign.columns]
    if missing:
        raise CampaignError(f"campaign file lacks column(s) {missing}; found {list(campaign.columns)}. "
                            "Expected customer_id, group, send_date and optionally cost_per_contact.")
    df = campaign.copy()
    if pd.api.types.is_numeric_dtype(df["customer_id"]):
        raise CampaignError("customer_id was read as numbers, which loses leading zeros ('00042' != '42'); "
                            "read the file with the id column as text (read_campaign does this).")
    df["customer_id"] = df["customer_id"].astype("string").str.strip()
    df["group"] = df["group"].astype("string").str.strip()
    if df["customer_id"].isna().any() or (df["customer_id"] == "").any():
        raise CampaignError(f"{int(df['customer_id'].isna().sum() + (df['customer_id'] == '').sum())} "
                            "campaign row(s) have an empty customer_id")
    if df["group"].isna().any() or (df["group"] == "").any():
        raise CampaignError("some campaign rows have an empty group")
    if "cost_per_contact" not in df.columns:
        df["cost_per_contact"] = np.nan
    cost = pd.to_numeric(df["cost_per_contact"], errors="coerce")
    bad_cost = df["cost_per_contact"].notna() & cost.isna()
    if bad_cost.any():
        raise CampaignError(f"cost_per_contact is not a number in {int(bad_cost.sum())} row(s)")
    if (cost < 0).any():
        raise CampaignError("cost_per_contact must not be negative")
    df["cost_per_contact"] = cost.astype("float64")
    return df


def prepare_campaign(
    campaign: pd.DataFrame | str | os.PathLike,
    transactions: pd.DataFrame,
    window_days: int = 60,
    *,
    control: str = "control",
    planned_split: Mapping[str, float] | None = None,
    on_unknown: str = "exclude",
    allow_truncated_window: bool = False,
    segment_map: str = "classic",
    language: str = "en",
) -> CampaignData:
    """Validate a campaign against clean transactions and attach outcomes and covariates.

    Parameters
    ----------
    campaign
        DataFrame or path of the campaign file (see the module docstring for columns).
    transactions
        Clean canonical transactions (``customer_id``, ``order_date``, ``amount``...).
    window_days
        Length of the outcome window in days, starting on the send date.
    control
        Name of the control group.
    planned_split
        Planned share of customers per group (e.g. ``{"control": 0.5, "treatment": 0.5}``),
        used by the sample-ratio-mismatch check; ``None`` = equal split between groups.
    on_unknown
        ``"exclude"`` (warn and drop customers without purchases before the send date) or
        ``"error"``.
    allow_truncated_window
        Warn instead of failing when the outcome window runs past the last transaction.
    """
    if on_unknown not in {"exclude", "error"}:
        raise ValueError("on_unknown must be 'exclude' or 'error'")
    if not isinstance(campaign, pd.DataFrame):
        campaign = read_campaign(campaign)
    df = _normalise(campaign)
    if df.empty:
        raise CampaignError("the campaign file has no rows")
    notes: list[str] = []

    # one send date
    sends = pd.to_datetime(df["send_date"], errors="coerce")
    if sends.isna().any():
        raise CampaignError(f"send_date is missing or not a date in {int(sends.isna().sum())} row(s)")
    days = sends.dt.normalize().unique()
    if len(days) > 1:
        shown = ", ".join(str(pd.Timestamp(d).date()) for d in sorted(days)[:5])
        raise CampaignError(f"the file holds {len(days)} send dates ({shown}...): analyse one campaign "
                            "(one send date) at a time, e.g. split the file by send_date")
    send_date = pd.Timestamp(days[0]).date()

    # duplicates and customers in two groups
    dup_rows = df.duplicated(["customer_id", "group"])
    dropped = int(dup_rows.sum())
    if dropped:
        df = df.loc[~dup_rows]
        msg = f"{dropped} duplicate campaign row(s) (same customer, same group) were dropped"
        warnings.warn(msg, CampaignWarning, stacklevel=2)
        notes.append(msg)
    multi = df.groupby("customer_id")["group"].nunique()
    multi = multi[multi > 1]
    if len(multi):
        raise CampaignError(f"{len(multi)} customer(s) appear in more than one group, e.g. "
                            f"{', '.join(map(str, multi.index[:3]))}: each customer must be in exactly one group")

    # groups
    groups_in_file = list(dict.fromkeys(df["group"].tolist()))
    if control not in groups_in_file:
        raise CampaignError(f"no control group: expected a group named {control!r}, found {groups_in_file}. "
                            "Without a control group the effect of the campaign cannot be measured.")
    if planned_split is not None:
        planned = {str(k): float(v) for k, v in planned_split.items()}
        if any(v <= 0 for v in planned.values()):
            raise CampaignError("planned_split shares must be positive")
        extra = [g for g in groups_in_file if g not in planned]
        if extra:
            raise CampaignError(f"group(s) {extra} are in the file but not in planned_split {list(planned)}")
        empty = [g for g in planned if g not in groups_in_file]
        if empty:
            raise CampaignError(f"group(s) {empty} of the planned split have no customers in the file")
        total = sum(planned.values())
        planned = {g: v / total for g, v in planned.items()}
    else:
        planned = {g: 1 / len(groups_in_file) for g in groups_in_file}
    groups = [control] + [g for g in planned if g != control]
    if len(groups) < 2:
        raise CampaignError("only a control group was found: a campaign needs at least one treated group")

    # time checks
    tx = transactions
    if tx.empty:
        raise CampaignError("no transactions to measure the campaign with")
    first_day = tx["order_date"].min().date()
    last_day = tx["order_date"].max().date()
    start, end = outcome_window(send_date, window_days)
    if send_date <= first_day:
        raise CampaignError(f"send date {send_date} is not after the first transaction ({first_day}): "
                            "there is no pre-period history to describe the customers")
    if send_date > last_day:
        raise CampaignError(f"send date {send_date} is after the last transaction ({last_day}): "
                            "no outcomes can be observed yet")
    if end > last_day:
        msg = (f"the outcome window {start}..{end} runs past the last transaction date {last_day}: "
               f"purchases after {last_day} are not in the data yet, so outcomes would be understated")
        if not allow_truncated_window:
            raise CampaignError(msg + f". Use a window of at most {(last_day - start).days + 1} days "
                                "or an earlier send date.")
        warnings.warn(msg, CampaignWarning, stacklevel=2)
        notes.append(msg)

    # pre-period RFM (strictly before the send date)
    pre_as_of = send_date - dt.timedelta(days=1)
    pre = score_quantiles(compute_rfm(tx, pre_as_of))
    pre = _attach_segments(pre, segment_map, language)
    known = pd.Series(_isin_ids(df["customer_id"], pre["customer_id"]), index=df.index)
    n_unknown = int((~known).sum())
    excluded_ids = pd.Series([], dtype="string")
    if n_unknown:
        excluded_ids = df.loc[~known, "customer_id"].drop_duplicates().reset_index(drop=True)
        msg = f"{n_unknown} campaign customer(s) have no purchase before the send date (not in the transactions)"
        if on_unknown == "error":
            raise CampaignError(msg + f", e.g. {', '.join(excluded_ids.head(3))}: fix the ids (leading zeros?) "
                                "or pass on_unknown='exclude'")
        # no ids in the warning: it is shown in stakeholder reports (ids go to exports instead)
        msg += "; they were excluded from the analysis (no pre-period RFM)"
        warnings.warn(msg, CampaignWarning, stacklevel=2)
        notes.append(msg)
        df = df.loc[known]
    small = {g: int(n) for g, n in df["group"].value_counts().reindex(groups, fill_value=0).items() if n < 2}
    if small:
        raise CampaignError(f"group(s) {small} have fewer than 2 customers left: nothing to compare")

    # outcomes and pre-window covariates
    post = customer_outcomes(tx, start, end)
    pre_start = send_date - dt.timedelta(days=int(window_days))
    prew = customer_outcomes(tx, pre_start, pre_as_of).rename(
        columns={"revenue": "pre_revenue", "orders": "pre_orders"}).drop(columns="converted")
    out = df[["customer_id", "group", "cost_per_contact"]].merge(post, on="customer_id", how="left")
    out = out.merge(prew, on="customer_id", how="left")
    for c, t in (("converted", "int64"), ("orders", "int64"), ("pre_orders", "int64"),
                 ("revenue", "float64"), ("pre_revenue", "float64")):
        out[c] = out[c].fillna(0).astype(t)
    out = out.merge(pre, on="customer_id", how="left")
    out["group"] = out["group"].astype("string")
    return CampaignData(customers=out.reset_index(drop=True), send_date=send_date, window_days=int(window_days),
                        control=control, groups=groups, planned_split=planned, last_data_date=last_day,
                        excluded_unknown=n_unknown, dropped_duplicates=dropped, notes=notes,
                        excluded_ids=excluded_ids)


def _attach_segments(scored: pd.DataFrame, map_name: str, language: str) -> pd.DataFrame:
    """Add ``segment`` / ``segment_label`` with :func:`rfm_helpers.segments.assign_segments`;
    without that module, fall back to the recency score (``"R1"``..``"R5"``)."""
    try:
        from .segments import assign_segments
    except ImportError:
        out = scored.copy()
        out["segment"] = ("R" + out["r_score"].astype(str)).astype("string")
        out["segment_label"] = ("Recency score " + out["r_score"].astype(str)).astype("string")
        return out
    return assign_segments(scored, map_name=map_name, language=language)


# ----------------------------------------------------------------------------------------
# Demonstration campaign with a known effect
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InjectedEffect:
    """The effect model of :func:`simulate_campaign`.

    Each treated customer independently, with probability ``extra_purchase_prob``, makes
    **one extra order** of ``extra_amount`` on a day drawn uniformly from the outcome window.
    Control customers are untouched. Nothing else changes.
    """

    extra_purchase_prob: float = 0.05
    extra_amount: float = 30.0


def true_effects(natural_converted: np.ndarray, effect: InjectedEffect) -> dict[str, float]:
    """True average effects of the injected model on the eligible customers.

    With ``c_i`` = 1 if customer *i* buys in the window anyway (``natural_converted``):

    * conversion: ``q * mean(1 - c_i)`` (the extra order only matters for non-buyers);
    * revenue per customer: ``q * extra_amount``;
    * orders per customer: at most ``q`` (slightly less when the extra order falls on a
      day the customer bought anyway and orders are counted per day).

    These are the averages over all eligible customers (the population the groups are
    drawn from) of treated-minus-untreated outcomes, what a randomised test estimates.
    """
    c = np.asarray(natural_converted, dtype=float)
    q = effect.extra_purchase_prob
    return {"conversion": float(q * (1 - c.mean())), "revenue": float(q * effect.extra_amount),
            "orders_max": float(q)}


def simulate_campaign(
    transactions: pd.DataFrame,
    send_date: Any = "1998-01-15",
    window_days: int = 60,
    *,
    seed: int = 2024,
    split: Mapping[str, float] | None = None,
    effect: InjectedEffect | Mapping[str, InjectedEffect] | None = None,
    eligible_days: int | None = 365,
    n_customers: int | None = None,
    cost_per_contact: float | None = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """A seeded demonstration campaign on real customers with a known injected effect.

    1. Eligible customers: those with a purchase in the ``eligible_days`` days before
       ``send_date`` (``None`` = any purchase before it), optionally a random sample of
       ``n_customers`` of them.
    2. Each is assigned at random to a group with the shares in ``split`` (default 50 %
       ``control`` / 50 % ``treatment``); group sizes are exactly proportional (a random
       permutation is cut), as a CRM tool would do.
    3. Treated customers get extra purchases following :class:`InjectedEffect` (one model
       for all treated groups, or a mapping group -> model for several variants); the
       extra rows are appended to a copy of the transactions.

    Returns ``(campaign, transactions_with_effect, truth)`` where ``campaign`` has the
    columns of a campaign file and ``truth`` the true effects per treated group (see
    :func:`true_effects`) plus the model parameters.
    """
    rng = np.random.default_rng(seed)
    send = parse_as_of(send_date)
    start, end = outcome_window(send, window_days)
    split = dict(split or {"control": 0.5, "treatment": 0.5})
    if "control" not in split:
        raise ValueError("split must include a 'control' group")
    effect = effect if effect is not None else InjectedEffect()
    effects = {g: (effect[g] if isinstance(effect, Mapping) else effect) for g in split if g != "control"}

    day = transactions["order_date"].dt.normalize()
    pre = transactions.loc[day < pd.Timestamp(send)]
    if eligible_days is not None:
        pre = pre.loc[pre["order_date"] >= pd.Timestamp(send - dt.timedelta(days=int(eligible_days)))]
    ids = np.sort(pre["customer_id"].astype("string").unique().to_numpy(dtype=object))
    if n_customers is not None and n_customers < len(ids):
        ids = np.sort(rng.choice(ids, size=int(n_customers), replace=False))
    if len(ids) < 2 * len(split):
        raise ValueError(f"only {len(ids)} eligible customers: too few for a campaign")

    names = list(split)
    shares = np.array([split[g] for g in names], dtype=float)
    groups = _assign(len(ids), shares / shares.sum(), rng)
    campaign = pd.DataFrame({"customer_id": pd.array(ids, dtype="string"),
                             "group": pd.array(np.array(names, dtype=object)[groups], dtype="string"),
                             "send_date": pd.Timestamp(send)})
    if cost_per_contact is not None:
        campaign["cost_per_contact"] = np.where(campaign["group"] == "control", 0.0, float(cost_per_contact))

    natural = customer_outcomes(transactions, start, end)
    c0 = _isin_ids(ids, natural["customer_id"])
    extra_rows = []
    truth: dict[str, Any] = {"send_date": send.isoformat(), "window_days": int(window_days),
                             "seed": seed, "n_customers": len(ids), "effects": {}}
    for g, eff in effects.items():
        members = ids[groups == names.index(g)]
        hit = rng.random(len(members)) < eff.extra_purchase_prob
        offsets = rng.integers(0, int(window_days), size=int(hit.sum()))
        extra_rows.append(pd.DataFrame({
            "customer_id": pd.array(members[hit], dtype="string"),
            "order_date": pd.Timestamp(start) + pd.to_timedelta(offsets, unit="D"),
            "amount": float(eff.extra_amount)}))
        truth["effects"][g] = {**true_effects(c0, eff), "extra_purchase_prob": eff.extra_purchase_prob,
                               "extra_amount": eff.extra_amount}
    extra = pd.concat(extra_rows, ignore_index=True) if extra_rows else transactions.iloc[:0]
    for col in transactions.columns:
        if col not in extra.columns:
            extra[col] = pd.Series([pd.NA] * len(extra), dtype=transactions[col].dtype) \
                if col not in ("quantity",) else 1.0
    extra = extra[list(transactions.columns)].astype(transactions.dtypes.to_dict())
    with_effect = pd.concat([transactions, extra], ignore_index=True)
    return campaign, with_effect, truth


def _assign(n: int, shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Group index per unit: a random permutation cut into blocks of the planned shares."""
    sizes = np.floor(shares * n).astype(int)
    sizes[0] += n - sizes.sum()
    labels = np.repeat(np.arange(len(shares)), sizes)
    return rng.permutation(labels)


def parse_split(text: str | Mapping[str, float] | None) -> dict[str, float] | None:
    """``"control:0.5, treatment:0.5"`` (or ``=``) -> ``{"control": 0.5, "treatment": 0.5}`` (papermill
    parameters are scalars); ``""``/``None`` -> ``None`` (equal split)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, Mapping):
        return {str(k): float(v) for k, v in text.items()}
    out = {}
    for part in str(text).split(","):
        if not part.strip():
            continue
        sep = "=" if "=" in part else ":"
        if sep not in part:
            raise CampaignError(f"planned split {text!r}: write it as 'control:0.5, treatment:0.5'")
        k, v = part.split(sep, 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise CampaignError(f"planned split {text!r}: {v.strip()!r} is not a number") from None
    return out


def demo_send_date(requested: Any, window_days: int, transactions: pd.DataFrame) -> tuple[dt.date, str | None]:
    """Send date for the demonstration campaign so that the whole outcome window lies in the data.

    Monthly runs use earlier analysis dates (the data stop there), so the requested demo date
    (e.g. 1998-01-15 with a 60-day window, fine for the default analysis date 1998-06-30) can
    leave the window past the last transaction. Then the send date moves back so that the window
    ends on the last transaction date, and a note says so. Raises :class:`CampaignError` when the
    data are too short to have both a pre-period and the window.
    """
    send = parse_as_of(requested)
    first = transactions["order_date"].min().date()
    last = transactions["order_date"].max().date()
    _, end = outcome_window(send, window_days)
    if end <= last and send > first:
        return send, None
    moved = last - dt.timedelta(days=int(window_days) - 1)
    if moved <= first:
        raise CampaignError(f"the data ({first}..{last}) are too short for a demo campaign with a "
                            f"{window_days}-day outcome window and some purchase history before it")
    return moved, (f"the demo send date {send} would put the outcome window outside the data "
                   f"({first}..{last}), so the demo campaign is sent on {moved} instead")


@dataclass
class ReportCampaign:
    """What notebook 04 needs: the prepared campaign, the true effect when the campaign is
    the simulated demo (``None`` for a real campaign file) and notes to show the reader
    (demo date moves, data warnings; counts only, never customer ids)."""

    data: CampaignData
    truth: dict | None
    notes: list[str]


def campaign_for_report(
    transactions: pd.DataFrame,
    *,
    campaign_path: str = "",
    send_date: Any = None,
    outcome_window_days: int = 60,
    control: str = "control",
    planned_split: str = "",
    on_unknown: str = "exclude",
    segment_map: str = "classic",
    language: str = "en",
    seed: int = 2024,
    effect: InjectedEffect | None = None,
    cost_per_contact: float | None = None,
) -> ReportCampaign:
    """Read the campaign file, or (``campaign_path`` empty) simulate the demo campaign on
    ``transactions``, then :func:`prepare_campaign`; campaign warnings become ``notes``."""
    truth = None
    notes: list[str] = []
    split = parse_split(planned_split)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CampaignWarning)
        if campaign_path:
            campaign, tx = read_campaign(campaign_path), transactions
        else:
            demo_date, demo_note = demo_send_date(send_date, outcome_window_days, transactions)
            if demo_note:
                notes.append(demo_note)
            campaign, tx, truth = simulate_campaign(
                transactions, demo_date, outcome_window_days, seed=seed,
                split=split or {control: 0.5, "treatment": 0.5},
                effect=effect or InjectedEffect(), cost_per_contact=cost_per_contact)
        data = prepare_campaign(campaign, tx, outcome_window_days, control=control,
                                planned_split=split, on_unknown=on_unknown,
                                segment_map=segment_map, language=language)
    notes += [str(w.message) for w in caught if issubclass(w.category, CampaignWarning)]
    return ReportCampaign(data=data, truth=truth, notes=notes)


_DEMO_SENTENCE = {
    "en": ("<b>Demonstration data.</b> No real campaign file was given, so this report uses a simulated "
           "campaign on real customers: the {n} customers who bought in the year before the send date were "
           "split at random into control and treatment, and {q} of treated customers were given one extra "
           "purchase of {amt} in the window. The <b>true</b> effect is therefore known: +{conv} points of "
           "conversion and +{rev} revenue per customer. The analysis below does not know this and should "
           "recover it within its intervals."),
    "ru": ("<b>Демонстрационные данные.</b> Файл реальной кампании не задан, поэтому в отчёте используется "
           "смоделированная кампания на реальных клиентах: {n} клиентов, покупавших в течение года до даты "
           "рассылки, случайно разделены на контрольную группу и группу рассылки, и {q} клиентов из группы "
           "рассылки получили в окне наблюдения по одной дополнительной покупке на {amt}. Поэтому <b>истинный</b> "
           "эффект известен: +{conv} п.п. конверсии и +{rev} выручки на клиента. Анализ ниже об этом не знает "
           "и должен получить эти значения в пределах своих доверительных интервалов."),
}


def demo_sentence(truth: Mapping[str, Any], effect: InjectedEffect, currency: str = "$",
                  variant: str = "treatment", language: str = "en") -> tuple[str, dict]:
    """``(template, values)`` for display.say explaining the simulated campaign and its
    known true effect (in ``language``: ``"en"`` or ``"ru"``)."""
    t = truth["effects"][variant]
    template = _DEMO_SENTENCE.get(language, _DEMO_SENTENCE["en"])
    values = {
        "n": f"{truth['n_customers']:,}", "q": f"{100 * effect.extra_purchase_prob:.0f}%",
        "amt": f"{currency}{effect.extra_amount:,.2f}", "conv": f"{100 * t['conversion']:.2f}",
        "rev": f"{currency}{t['revenue']:,.2f}"}
    from .display import number_style

    values = {k: number_style(v, language) for k, v in values.items()}  # ru: 21 737, $30,00
    return template, values
