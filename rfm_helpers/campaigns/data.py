"""Campaign input: read an assignment file, validate it against the transactions, build outcomes.

An *assignment file* (``assignment.csv`` of a registered campaign, or any campaign file) has
one row per contacted or held-out customer:

``customer_id``
    Id exactly as in the transactions (text: ``"00042"`` keeps its zeros).
``group``
    ``"control"`` (name configurable) or the name of a treatment / variant.
``send_date`` (optional when the campaign's registration states it)
    The day the campaign was sent. One campaign = one send date.
``cost_per_contact`` (optional)
    Cost of contacting this customer (0 or empty for the control group).

:func:`prepare_campaign` validates the file against the clean transactions and returns a
:class:`CampaignData` with one row per customer of the experiment: outcomes in the window
(``converted``, ``revenue``, ``orders``, ``returns``; see :mod:`.sql`), the pre-period RFM
as of the day before sending (scores ranked over the whole customer base by the engine),
the segment then, and ``pre_revenue`` / ``pre_orders``. Only the experiment's population
reaches pandas.

Validation (each raises :class:`CampaignError` saying what to fix): a customer in two
groups; missing columns; empty ids; several send dates; a send date outside the history;
no control group or fewer than two groups; a group left with fewer than 2 customers; an
outcome window that runs past the end of the data (outcomes would be understated), unless
``allow_truncated_window``.

**Unknown customers** (no purchase before the send date) have no pre-period RFM: excluded
by default (``on_unknown="exclude"``) from both groups alike, which uses pre-send
information only and so cannot bias the comparison; ``"error"`` refuses the file. What was
corrected or excluded is in ``CampaignData.notes`` as codes with counts (no ids).
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

from ..rfm import parse_as_of
from . import sql

__all__ = ["CampaignError", "CampaignWarning", "CampaignData", "read_campaign", "prepare_campaign",
           "outcome_window", "customer_outcomes", "parse_split", "REQUIRED_COLUMNS"]

REQUIRED_COLUMNS = ("customer_id", "group")


class CampaignError(ValueError):
    """The campaign cannot be analysed as it is (the message says what to fix)."""


class CampaignWarning(UserWarning):
    """Something in the campaign file was corrected or excluded (the message says what)."""


@dataclass
class CampaignData:
    """A validated campaign joined to outcomes and pre-period covariates.

    ``customers``: one row per analysed customer (``customer_id``, ``group``,
    ``cost_per_contact``, ``converted``, ``revenue``, ``orders``, ``returns``, the
    pre-period RFM columns, ``segment`` / ``segment_label``, ``pre_revenue``, ``pre_orders``).
    ``notes``: what was corrected or excluded, as ``{"code": ..., values}``.
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
    notes: list[dict] = field(default_factory=list)
    #: ids of the excluded unknown customers (for an export file, never for the report)
    excluded_ids: pd.Series = field(default_factory=lambda: pd.Series([], dtype="string"))

    @property
    def window_end(self) -> dt.date:
        """Last day (inclusive) of the outcome window."""
        return self.send_date + dt.timedelta(days=self.window_days - 1)

    @property
    def variants(self) -> list[str]:
        """The non-control groups, in plan order."""
        return [g for g in self.groups if g != self.control]

    @property
    def has_cost(self) -> bool:
        """Whether a cost per contact was given for at least one customer."""
        return bool(self.customers["cost_per_contact"].fillna(0).gt(0).any())

    def counts(self) -> pd.Series:
        """Customers per group (all groups, control first)."""
        return self.customers["group"].value_counts().reindex(self.groups, fill_value=0)


def read_campaign(path: str | os.PathLike, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read an assignment / campaign file (CSV, Excel or Parquet), every id as text.

    ``columns`` maps canonical names (``customer_id``, ``group``, ``send_date``,
    ``cost_per_contact``) to the file's column names when they differ. CSV files are read
    with the separator detected (``,`` ``;`` or tab) and UTF-8 with or without BOM."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"campaign file {path}: not found")
    rename = {v: k for k, v in (columns or {}).items()}
    id_col = (columns or {}).get("customer_id", "customer_id")
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt", ".tsv"} and path.stat().st_size >= ENGINE_CSV_BYTES:
        df = _read_csv_engine(path)
    elif suffix in {".csv", ".txt", ".tsv"}:
        df = pd.read_csv(path, sep=None, engine="python", dtype=str, encoding="utf-8-sig",
                         keep_default_na=False, na_values=[""])
    elif suffix in {".xlsx", ".xls"}:
        df = pd.read_excel(path, dtype={id_col: str})
    elif suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        raise CampaignError(f"campaign file {path}: unsupported format {suffix!r} (use CSV, Excel or Parquet)")
    return df.rename(columns=rename)


#: CSV assignment files from this size on are parsed by DuckDB (pandas' delimiter-sniffing
#: parser is pure Python: about 4 s per million rows); smaller ones by pandas.
ENGINE_CSV_BYTES = 1_000_000


def _read_csv_engine(path: Path) -> pd.DataFrame:
    """The CSV as :func:`read_campaign` reads it with pandas (every column text, empty fields
    missing, UTF-8 with or without BOM), parsed by DuckDB. The delimiter is detected from the
    header line as pandas does (``csv.Sniffer``)."""
    import csv

    from ..engine import DuckDBEngine

    with open(path, encoding="utf-8-sig", newline="") as fh:
        head = fh.readline()
    try:
        delim = csv.Sniffer().sniff(head).delimiter
    except csv.Error:
        delim = ","
    esc, d = str(path).replace("'", "''"), delim.replace("'", "''")
    with DuckDBEngine() as eng:  # the file is the campaign's population: a sample of the base
        df = eng.fetch(f"""SELECT * FROM read_csv('{esc}', delim = '{d}', header = true, all_varchar = true,
                                                  quote = '"', escape = '"')""",
                       label="campaign: assignment file", kind="sample")
    return df.astype(str)  # the dtype pandas gives dtype=str columns (missing stays missing)


def outcome_window(send_date: Any, window_days: int) -> tuple[dt.date, dt.date]:
    """First and last day (both inclusive) of the outcome window."""
    start = parse_as_of(send_date)
    if int(window_days) < 1:
        raise CampaignError(f"outcome window must be at least 1 day, got {window_days}")
    return start, start + dt.timedelta(days=int(window_days) - 1)


def customer_outcomes(transactions: Any, start: Any, end: Any, *, customers: str | None = None) -> pd.DataFrame:
    """Per-customer ``revenue``, ``orders``, ``converted`` and ``returns`` from the rows dated
    ``start`` .. ``end`` (inclusive), computed by the engine; only customers with a row in the
    period appear, in id order. ``transactions``: a pandas frame or a :class:`~.sql.Tx`;
    ``customers``: SQL yielding a ``customer_id`` column to keep only those customers (the
    population of a campaign: what comes back is then bounded by the campaign)."""
    start, end = parse_as_of(start), parse_as_of(end)
    tx = sql.in_engine(transactions)
    text = sql.period_outcomes_sql(tx.table, start, end, tx.has_order_id)
    if customers is not None:
        text = f"SELECT * FROM ({text}) WHERE customer_id IN (SELECT CAST(customer_id AS VARCHAR) FROM ({customers}))"
    out = sql.fetch(tx.engine, text + " ORDER BY 1", label="campaign: outcomes per customer in a period",
                    kind="sample" if customers is not None else "per_customer")
    return out[["customer_id", "revenue", "orders", "converted", "returns"]]


def _normalise(campaign: pd.DataFrame, send_date: Any = None) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in campaign.columns]
    if "send_date" not in campaign.columns and send_date is None:
        missing.append("send_date")
    if missing:
        raise CampaignError(f"campaign file lacks column(s) {missing}; found {list(campaign.columns)}. "
                            "Expected customer_id, group, send_date and optionally cost_per_contact.")
    df = campaign.copy()
    if pd.api.types.is_numeric_dtype(df["customer_id"]):
        raise CampaignError("customer_id was read as numbers, which loses leading zeros ('00042' != '42'); "
                            "read the file with the id column as text (read_campaign does this).")
    df["customer_id"] = df["customer_id"].astype("string").str.strip()
    df["group"] = df["group"].astype("string").str.strip()
    empty_id = df["customer_id"].isna() | (df["customer_id"] == "")
    if empty_id.any():
        raise CampaignError(f"{int(empty_id.sum())} campaign row(s) have an empty customer_id")
    if df["group"].isna().any() or (df["group"] == "").any():
        raise CampaignError("some campaign rows have an empty group")
    if send_date is not None:
        if "send_date" in df.columns:
            stated = pd.to_datetime(df["send_date"], errors="coerce").dt.normalize().dropna().unique()
            if len(stated) and any(pd.Timestamp(d).date() != parse_as_of(send_date) for d in stated):
                raise CampaignError(f"the file's send_date ({', '.join(str(pd.Timestamp(d).date()) for d in stated[:3])}) "
                                    f"differs from the campaign's registered send date {parse_as_of(send_date)}")
        df["send_date"] = pd.Timestamp(parse_as_of(send_date))
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


def _planned(split: Mapping[str, float] | None, in_file: list[str], control: str) -> tuple[dict, list[str]]:
    if control not in in_file:
        raise CampaignError(f"no control group: expected a group named {control!r}, found {in_file}. "
                            "Without a control group the effect of the campaign cannot be measured.")
    if split is not None:
        planned = {str(k): float(v) for k, v in split.items()}
        if any(v <= 0 for v in planned.values()):
            raise CampaignError("planned_split shares must be positive")
        extra = [g for g in in_file if g not in planned]
        if extra:
            raise CampaignError(f"group(s) {extra} are in the file but not in planned_split {list(planned)}")
        empty = [g for g in planned if g not in in_file]
        if empty:
            raise CampaignError(f"group(s) {empty} of the planned split have no customers in the file")
        total = sum(planned.values())
        planned = {g: v / total for g, v in planned.items()}
    else:
        planned = {g: 1 / len(in_file) for g in in_file}
    groups = [control] + [g for g in planned if g != control]
    if len(groups) < 2:
        raise CampaignError("only a control group was found: a campaign needs at least one treated group")
    return planned, groups


def _note(notes: list[dict], code: str, message: str, **values: Any) -> None:
    warnings.warn(message, CampaignWarning, stacklevel=3)
    notes.append({"code": code, **values})


def prepare_campaign(
    campaign: pd.DataFrame | str | os.PathLike,
    transactions: Any,
    window_days: int = 60,
    *,
    control: str = "control",
    planned_split: Mapping[str, float] | None = None,
    on_unknown: str = "exclude",
    allow_truncated_window: bool = False,
    segment_map: str = "classic",
    language: str = "en",
    send_date: Any = None,
    data_end: Any = None,
    rfm_window_days: int | None = None,
) -> CampaignData:
    """Validate a campaign against clean transactions and attach outcomes and covariates.

    ``planned_split``: planned share per group (``None``: equal split), used by the
    sample-ratio check. ``send_date``: the registered send date (the file may then omit its
    column). ``data_end``: the last day the data are complete for (the run's analysis date;
    default: the last transaction date). ``rfm_window_days``: window of the pre-period
    frequency/monetary (``None``: whole history, as the monthly run by default).

    ``transactions``: a pandas frame or a :class:`~.sql.Tx` (the run's engine table). The
    whole base is scored by the engine; what comes back is the campaign's population only
    (one row per customer of the experiment): the bootstrap, the rank test and the
    regression adjustments need per-customer values, and a campaign is a sample of the base."""
    if on_unknown not in {"exclude", "error"}:
        raise ValueError("on_unknown must be 'exclude' or 'error'")
    if not isinstance(campaign, pd.DataFrame):
        campaign = read_campaign(campaign)
    df = _normalise(campaign, send_date)
    if df.empty:
        raise CampaignError("the campaign file has no rows")
    notes: list[dict] = []

    sends = pd.to_datetime(df["send_date"], errors="coerce")
    if sends.isna().any():
        raise CampaignError(f"send_date is missing or not a date in {int(sends.isna().sum())} row(s)")
    days = sends.dt.normalize().unique()
    if len(days) > 1:
        shown = ", ".join(str(pd.Timestamp(d).date()) for d in sorted(days)[:5])
        raise CampaignError(f"the file holds {len(days)} send dates ({shown}...): analyse one campaign "
                            "(one send date) at a time, e.g. split the file by send_date")
    send = pd.Timestamp(days[0]).date()

    dup_rows = df.duplicated(["customer_id", "group"])
    dropped = int(dup_rows.sum())
    if dropped:
        df = df.loc[~dup_rows]
        _note(notes, "duplicates_dropped", f"{dropped} duplicate campaign row(s) (same customer, same group) "
              "were dropped", count=dropped)
    multi = df.groupby("customer_id")["group"].nunique()
    multi = multi[multi > 1]
    if len(multi):
        raise CampaignError(f"{len(multi)} customer(s) appear in more than one group, e.g. "
                            f"{', '.join(map(str, multi.index[:3]))}: each customer must be in exactly one group")
    planned, groups = _planned(planned_split, list(dict.fromkeys(df["group"].tolist())), control)

    tx = sql.in_engine(transactions)
    first_day, max_day, n_rows = sql.date_range(tx)
    if not n_rows:
        raise CampaignError("no transactions to measure the campaign with")
    last_day = parse_as_of(data_end) if data_end is not None else max_day
    start, end = outcome_window(send, window_days)
    if send <= first_day:
        raise CampaignError(f"send date {send} is not after the first transaction ({first_day}): "
                            "there is no pre-period history to describe the customers")
    if send > last_day:
        raise CampaignError(f"send date {send} is after the end of the data ({last_day}): "
                            "no outcomes can be observed yet")
    if end > last_day:
        msg = (f"the outcome window {start}..{end} runs past the end of the data {last_day}: "
               f"purchases after {last_day} are not in the data yet, so outcomes would be understated")
        if not allow_truncated_window:
            raise CampaignError(msg + f". Use a window of at most {(last_day - start).days + 1} days "
                                "or an earlier send date.")
        _note(notes, "window_truncated", msg, end=end.isoformat(), last=last_day.isoformat())

    pop = df[["customer_id", "group", "cost_per_contact"]].reset_index(drop=True)
    pop["__pos"] = np.arange(len(pop), dtype=np.int64)
    eng, has_oid = tx.engine, tx.has_order_id
    pre_as_of = send - dt.timedelta(days=1)
    scored = f"SELECT * FROM {sql.scored_table(tx, pre_as_of, rfm_window_days)}"
    pop_name = sql.register(eng, pop, "camp_pop")
    # the campaign's population only (a sample of the base): its pre-period RFM, ranked over the whole base
    pre = sql.fetch(eng, sql.population_rfm_sql(scored, pop_name), label="campaign: pre-period RFM of the population",
                    kind="sample")
    known = pop["customer_id"].astype(object).isin(set(pre["customer_id"].astype(object)))
    n_unknown = int((~known).sum())
    excluded_ids = pd.Series([], dtype="string")
    if n_unknown:
        excluded_ids = pop.loc[~known, "customer_id"].drop_duplicates().reset_index(drop=True)
        msg = f"{n_unknown} campaign customer(s) have no purchase before the send date (not in the transactions)"
        if on_unknown == "error":
            raise CampaignError(msg + f", e.g. {', '.join(excluded_ids.head(3))}: fix the ids (leading zeros?) "
                                "or pass on_unknown='exclude'")
        _note(notes, "unknown_excluded", msg + "; they were excluded from the analysis (no pre-period RFM)",
              count=n_unknown)
        pop = pop.loc[known.to_numpy()]
        pop_name = sql.register(eng, pop, "camp_pop")
    small = {g: int(n) for g, n in pop["group"].value_counts().reindex(groups, fill_value=0).items() if n < 2}
    if small:
        raise CampaignError(f"group(s) {small} have fewer than 2 customers left: nothing to compare")

    out = sql.fetch(eng, sql.outcomes_sql(pop_name, tx.table, send, int(window_days), has_oid),
                    label="campaign: outcomes of the population", kind="sample")
    pre = _attach_segments(pre, segment_map, language)
    out = out.merge(pre, on="customer_id", how="left", validate="one_to_one")
    out["group"] = out["group"].astype("string")
    return CampaignData(customers=out.reset_index(drop=True), send_date=send, window_days=int(window_days),
                        control=control, groups=groups, planned_split=planned, last_data_date=last_day,
                        excluded_unknown=n_unknown, dropped_duplicates=dropped, notes=notes,
                        excluded_ids=excluded_ids)


def _attach_segments(scored: pd.DataFrame, map_name: str, language: str) -> pd.DataFrame:
    """``segment`` / ``segment_label`` of the pre-period scores (the run's segment map)."""
    from ..segments import assign_segments

    return assign_segments(scored, map_name=map_name, language=language)


def parse_split(text: str | Mapping[str, float] | None) -> dict[str, float] | None:
    """``"control:0.5, treatment:0.5"`` (or ``=``) -> ``{"control": 0.5, "treatment": 0.5}``;
    ``""``/``None`` -> ``None`` (equal split)."""
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
