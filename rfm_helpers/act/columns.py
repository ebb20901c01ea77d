"""The columns of every export file: stable English keys, one kind per column.

Machine files (CSV) use these keys as their header; the workbook for people shows the same
columns with headers in the report's language (the words come from the report layer). The
kind decides how a value is written:

=========  ==================================================================================
kind       written as
=========  ==================================================================================
id         text, byte for byte as in the source (never trimmed, never neutralised)
text       free text from outside the project (names, campaign groups): byte for byte, except
           that a value starting with a formula character gets the OWASP apostrophe in CSV
label      the project's own words (segment names, offers): as ``text``
email      an e-mail address: byte for byte (a key for e-mail services)
phone      a phone number in E.164 (``+79161234567``): byte for byte (a key for CRMs)
integer    a whole number
money      a number rounded to cents (two decimals, exact: no ``100.50000000000001``)
number     a number with up to 10 significant digits (statistics, shares, p-values)
date       a calendar date, ISO ``YYYY-MM-DD`` in CSV, a date cell in the workbook
flag       0 / 1 in CSV; the words for yes / no in the workbook
=========  ==================================================================================
"""
from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Column", "KINDS", "TEXT_KINDS", "KEY_KINDS", "SCHEMAS", "CONTACT_COLUMNS", "schema", "col"]

KINDS = ("id", "text", "label", "email", "phone", "integer", "money", "number", "date", "flag")
#: Kinds written as text cells.
TEXT_KINDS = frozenset({"id", "text", "label", "email", "phone"})
#: Text kinds whose bytes are the point of the file: never altered, even by the formula policy.
KEY_KINDS = frozenset({"id", "email", "phone"})


@dataclass(frozen=True)
class Column:
    """One export column: its stable key, its kind and where its value comes from
    (``source``: a column of the input table, or a SQL expression over it; default: ``key``)."""

    key: str
    kind: str
    source: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.key!r}: unknown kind {self.kind!r}; use one of {KINDS}")

    @property
    def expr(self) -> str:
        return self.source if self.source is not None else f'"{self.key}"'

    def from_(self, source: str) -> "Column":
        return replace(self, source=source)


def col(key: str, kind: str, source: str | None = None) -> Column:
    return Column(key, kind, source)


#: Contact columns a list carries when the input has them (the contacts table of issue 10:
#: ``name``, ``email``, ``phone`` and per-channel consent flags).
CONTACT_COLUMNS: tuple[Column, ...] = (
    col("name", "text"), col("first_name", "text"), col("last_name", "text"),
    col("email", "email"), col("phone", "phone"),
    col("email_consent", "flag"), col("sms_consent", "flag"), col("call_consent", "flag"),
)

_RFM = (
    col("customer_id", "id"), col("recency_days", "integer"), col("frequency", "integer"),
    col("monetary", "money"), col("r_score", "integer"), col("f_score", "integer"), col("m_score", "integer"),
)

_CALL_LIST = (
    col("customer_id", "id"), col("priority_rank", "integer"), col("call_priority", "number"),
    col("segment", "label"), col("segment_label", "label"), col("recency_days", "integer"),
    col("frequency", "integer"), col("monetary", "money"), col("last_order_date", "date"),
    col("talking_points", "label"), col("suggested_offer", "label"), col("is_test", "flag"),
)

#: Every export file of a run: file name (pattern) -> its columns, in order. The data dictionary
#: written beside the exports and the README section "Exports" are made from this table.
SCHEMAS: dict[str, tuple[Column, ...]] = {
    "rfm_scores.csv": (
        *_RFM, col("first_purchase", "date"), col("last_purchase", "date"), col("tenure_days", "integer"),
        col("rfm_cell", "label"), col("rfm_score", "integer"),
    ),
    "mailing_<segment>.csv": (
        col("customer_id", "id"), col("segment", "label"), col("segment_label", "label"),
        col("recency_days", "integer"), col("frequency", "integer"), col("monetary", "money"),
        col("r_score", "integer"), col("f_score", "integer"), col("m_score", "integer"),
        col("days_since_last_order", "integer"), col("last_order_date", "date"), col("first_order_date", "date"),
        col("total_spend", "money"), col("average_order_value", "money"), col("suggested_offer", "label"),
        col("recommended_channel", "label"), col("is_test", "flag"),
    ),
    "call_list.csv": _CALL_LIST,
    # ranked by value at risk: the call list's columns with the value figures after the priority
    "call_list_value_at_risk.csv": (*_CALL_LIST[:3], col("value_at_risk", "money"), col("p_alive", "number"),
                                    *_CALL_LIST[3:]),
    "campaign_excluded_customers.csv": (col("customer_id", "id"),),
    "assignment.csv": (col("customer_id", "id"), col("group", "text"), col("segment", "label")),
    "campaign_segment_effects_<variant>_<metric>.csv": (
        col("segment", "text"), col("metric", "label"), col("group", "text"), col("control", "text"),
        col("n_t", "integer"), col("n_c", "integer"), col("mean_t", "number"), col("mean_c", "number"),
        col("diff", "number"), col("ci_low", "number"), col("ci_high", "number"),
        col("rel_lift", "number"), col("rel_ci_low", "number"), col("rel_ci_high", "number"),
        col("p_value", "number"), col("p_adjusted", "number"), col("n_comparisons", "integer"),
        col("test", "label"), col("alpha", "number"), col("significant", "flag"),
    ),
    "customer_value_<month>.csv": (
        col("customer_id", "id"), col("p_alive", "number"), col("p_alive_low", "number"),
        col("p_alive_high", "number"), col("p_alive_last_month", "number"), col("p_alive_change", "number"),
        col("expected_purchases_90d", "number"), col("expected_purchases_90d_low", "number"),
        col("expected_purchases_90d_high", "number"), col("expected_purchases_365d", "number"),
        col("expected_purchases_365d_low", "number"), col("expected_purchases_365d_high", "number"),
        col("expected_spend", "money"), col("expected_spend_low", "money"), col("expected_spend_high", "money"),
        col("expected_revenue_90d", "money"), col("expected_revenue_90d_low", "money"),
        col("expected_revenue_90d_high", "money"), col("clv", "money"), col("clv_low", "money"),
        col("clv_high", "money"), col("value_at_risk", "money"), col("slipping", "flag"),
        col("one_time_buyer", "flag"), col("new_customer", "flag"),
    ),
    "migration_at_risk_<month>.csv": (
        col("customer_id", "id"), col("from_segment", "label"), col("from_label", "label"),
        col("to_segment", "label"), col("to_label", "label"), col("monetary_before", "money"),
        col("recency_days", "integer"),
    ),
}


def schema(name: str) -> tuple[Column, ...]:
    """The columns of export file ``name`` (a key of :data:`SCHEMAS`)."""
    try:
        return SCHEMAS[name]
    except KeyError:
        raise KeyError(f"no export schema {name!r}; known: {sorted(SCHEMAS)}") from None
