"""Headline figures and plain-language sentences about an RFM table (notebook 02).

Sentences are built from the numbers, in English or Russian, and returned as
``(template, values)`` pairs for :func:`rfm_helpers.display.say`, which escapes the values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RfmHeadline:
    """A handful of figures that describe the customer base as of the analysis date."""

    customers: int
    revenue: float
    orders: int
    median_recency_days: float
    one_order_share: float
    active_90d_share: float
    top20_revenue_share: float

    def as_dict(self) -> dict:
        return {k: (float(v) if isinstance(v, (np.floating, float)) else int(v))
                for k, v in self.__dict__.items()}


def headline(rfm: pd.DataFrame) -> RfmHeadline:
    """Compute :class:`RfmHeadline` from an RFM table (one row per customer)."""
    n = len(rfm)
    if n == 0:
        return RfmHeadline(0, 0.0, 0, float("nan"), float("nan"), float("nan"), float("nan"))
    revenue = float(rfm["monetary"].sum())
    top = rfm["monetary"].sort_values(ascending=False)
    k = max(1, int(np.ceil(0.2 * n)))
    top20 = float(top.iloc[:k].sum() / revenue) if revenue > 0 else float("nan")
    return RfmHeadline(
        customers=n,
        revenue=revenue,
        orders=int(rfm["frequency"].sum()),
        median_recency_days=float(rfm["recency_days"].median()),
        one_order_share=float((rfm["frequency"] <= 1).mean()),
        active_90d_share=float((rfm["recency_days"] <= 90).mean()),
        top20_revenue_share=top20,
    )


_SENTENCES = {
    "en": {
        "base": ("As of <b>{as_of}</b> the base has <b>{customers}</b> customers who placed "
                 "<b>{orders}</b> orders worth <b>{revenue}</b>. Half of them last bought more than "
                 "<b>{median_recency}</b> days ago; <b>{active}</b> bought in the last 90 days."),
        "pareto": ("The top 20% of customers bring <b>{top20}</b> of revenue, so keeping the best "
                   "customers matters more than the average figures suggest."),
        "ties": ("<b>{one_order}</b> of customers ordered only once. They all share frequency score 1: "
                 "customers with equal values always get equal scores, so {empty} "
                 "not used this month. This is expected with real purchase data, not an error."),
        "no_ties": "Every frequency score from 1 to {n} is used.",
    },
    "ru": {
        "base": ("На <b>{as_of}</b> в базе <b>{customers}</b> клиентов, сделавших <b>{orders}</b> "
                 "заказов на сумму <b>{revenue}</b>. Половина из них покупала последний раз более "
                 "<b>{median_recency}</b> дней назад; за последние 90 дней покупали <b>{active}</b>."),
        "pareto": ("20% лучших клиентов приносят <b>{top20}</b> выручки: удержание лучших клиентов "
                   "важнее, чем кажется по средним цифрам."),
        "ties": ("<b>{one_order}</b> клиентов сделали только один заказ. Все они получают балл частоты 1: "
                 "клиенты с одинаковыми значениями всегда получают одинаковый балл, поэтому в этом месяце "
                 "{empty}. Для реальных данных это нормально."),
        "no_ties": "Используются все баллы частоты от 1 до {n}.",
    },
}


def _ru_number(fmt):
    """``fmt`` with its result in Russian number style: non-breaking space between thousands,
    decimal comma (``23,502`` -> ``23 502``, ``14.1%`` -> ``14,1%``)."""
    from .display import number_style

    return lambda *a, **k: number_style(fmt(*a, **k), "ru")


def share_text(x: float, language: str = "en", digits: int = 1) -> str:
    """A 0..1 share for report text: ``18.4%`` in English, ``18,4%`` in Russian."""
    from .display import number_style

    return number_style(f"{100 * x:.{digits}f}%", language)


def sentences(rfm: pd.DataFrame, as_of, language: str = "en", currency: str = "$",
              n: int = 5) -> list[tuple[str, dict]]:
    """Plain-language sentences for the RFM section, as ``(template, values)`` pairs."""
    from .display import fmt_int, fmt_money, fmt_pct

    if language == "ru":  # Russian number style: 23 502 and 14,1%
        fmt_int, fmt_money, fmt_pct = (_ru_number(fmt_int), _ru_number(fmt_money), _ru_number(fmt_pct))
    s = _SENTENCES.get(language, _SENTENCES["en"])
    h = headline(rfm)
    out = [
        (s["base"], {"as_of": str(as_of), "customers": fmt_int(h.customers), "orders": fmt_int(h.orders),
                     "revenue": fmt_money(h.revenue, currency), "median_recency": fmt_int(h.median_recency_days),
                     "active": fmt_pct(h.active_90d_share)}),
        (s["pareto"], {"top20": fmt_pct(h.top20_revenue_share)}),
    ]
    if "f_score" in rfm.columns:
        used = set(rfm["f_score"].unique())
        empty = [str(k) for k in range(1, n + 1) if k not in used]
        if empty:
            listed = ", ".join(empty)
            if language == "ru":
                phrase = (f"балл частоты {listed} не используется" if len(empty) == 1
                          else f"баллы частоты {listed} не используются")
            else:
                phrase = (f"frequency score {listed} is" if len(empty) == 1 else f"frequency scores {listed} are")
            out.append((s["ties"], {"one_order": fmt_pct(h.one_order_share), "empty": phrase}))
        else:
            out.append((s["no_ties"], {"n": n}))
    return out


def channel_table(rfm_by_channel: pd.DataFrame) -> pd.DataFrame:
    """Customers, orders, revenue and median recency per sales channel (aggregate only)."""
    g = rfm_by_channel.groupby("channel", dropna=False).agg(
        customers=("customer_id", "nunique"), orders=("frequency", "sum"),
        revenue=("monetary", "sum"), median_recency_days=("recency_days", "median"))
    g["revenue_share"] = g["revenue"] / g["revenue"].sum()
    return g.sort_values("revenue", ascending=False).reset_index()


# ------------------------------------------------------------------ report texts (notebook 02)
#: Fixed texts of the RFM report (captions, sentences written around tables, column headers,
#: summary labels) in English and Russian; :func:`report_text` picks the run's language.
_TEXT = {
    "en": {
        "params_caption": "Parameters of this run",
        "score_bands": "Score bands",
        "segments_caption": "Segments: size, revenue and what to do",
        "channels_caption": "Channels",
        "largest": ("The largest segment is <b>{a}</b> ({a_share} of customers); the segment bringing the most "
                    "revenue is <b>{b}</b> ({b_share} of revenue)."),
        "single_channel": "This data set has a single sales channel, so there is no channel breakdown.",
        "scores_written": ("Per-customer scores for {n} customers were written to <code>{f}</code> in the "
                           "run folder."),
        "summary": {"customers": "Customers", "revenue": "Revenue", "active_90d_share": "Bought in the last 90 days",
                    "top20_revenue_share": "Revenue share of the top 20% customers",
                    "largest_segment": "Largest segment"},
        "columns": {"parameter": "parameter", "value": "value", "dimension": "dimension", "score": "score",
                    "customers": "customers", "from": "from", "to": "to", "label": "label",
                    "customer_share": "customer_share", "revenue": "revenue", "revenue_share": "revenue_share",
                    "mean_recency_days": "mean_recency_days", "mean_frequency": "mean_frequency",
                    "mean_monetary": "mean_monetary", "strategy": "strategy", "channel": "channel",
                    "orders": "orders", "median_recency_days": "median_recency_days"},
        "values": {"whole history": "whole history", "CDNOW (bundled sample)": "CDNOW (bundled sample)"},
    },
    "ru": {
        "params_caption": "Параметры запуска",
        "score_bands": "Диапазоны баллов",
        "segments_caption": "Сегменты: размер, выручка и что делать",
        "channels_caption": "Каналы продаж",
        "largest": ("Самый крупный сегмент — <b>{a}</b> ({a_share} клиентов); больше всего выручки приносит "
                    "сегмент <b>{b}</b> ({b_share} выручки)."),
        "single_channel": "В этих данных один канал продаж, поэтому разбивки по каналам нет.",
        "scores_written": ("Баллы по каждому клиенту (клиентов: {n}) записаны в файл <code>{f}</code> "
                           "в папке запуска."),
        "summary": {"customers": "Клиентов", "revenue": "Выручка", "active_90d_share": "Покупали за последние 90 дней",
                    "top20_revenue_share": "Доля выручки от 20% лучших клиентов",
                    "largest_segment": "Самый крупный сегмент"},
        "columns": {"parameter": "Параметр", "value": "Значение", "dimension": "Измерение", "score": "Балл",
                    "customers": "Клиентов", "from": "От", "to": "До", "label": "Сегмент",
                    "customer_share": "Доля клиентов", "revenue": "Выручка", "revenue_share": "Доля выручки",
                    "mean_recency_days": "Средняя давность, дней", "mean_frequency": "Среднее число заказов",
                    "mean_monetary": "Средняя сумма покупок", "strategy": "Что делать", "channel": "Канал",
                    "orders": "Заказов", "median_recency_days": "Медианная давность, дней"},
        "values": {"whole history": "вся история", "CDNOW (bundled sample)": "CDNOW (встроенный пример)"},
    },
}


def report_text(language: str = "en") -> dict:
    """Fixed texts of notebook 02 in ``language`` (English when the language is unknown)."""
    return _TEXT.get(language, _TEXT["en"])


def localize(df: pd.DataFrame, names: dict, formats: dict | None = None,
             language: str = "en") -> tuple[pd.DataFrame, dict]:
    """``df`` with its columns renamed by ``names`` (column -> header in the report's language)
    and ``formats`` re-keyed to the new headers, ready for :func:`rfm_helpers.display.table`.
    In Russian the formatted columns are written out here in Russian number style
    (``4 322``, ``18,4%``) and no formats are left for the table."""
    from .display import number_style

    formats = dict(formats or {})
    if language == "ru":
        shown = df.copy()
        for col, f in formats.items():
            if col in shown.columns:
                shown[col] = shown[col].map(
                    lambda v, f=f: "" if pd.isna(v) else number_style(f.format(v), "ru"))
        return shown.rename(columns=names), {}
    return df.rename(columns=names), {names.get(k, k): v for k, v in formats.items()}


def int_text(x: float, language: str = "en") -> str:
    """A whole number for report text: ``69,579`` in English, ``69 579`` in Russian."""
    from .display import number_style

    return number_style(f"{int(round(x)):,}", language)


def parameters_view(params: dict, language: str = "en") -> pd.DataFrame:
    """The run's parameters as :func:`rfm_helpers.display.parameters_frame` (secrets masked),
    with headers and known fixed values (``whole history``, the bundled sample's name) in
    ``language``. Show it with ``table(..., caption=report_text(language)["params_caption"])``."""
    from .display import parameters_frame

    t = report_text(language)
    frame = parameters_frame(params)
    frame["value"] = [t["values"].get(v, v) if isinstance(v, str) else v for v in frame["value"]]
    return frame.rename(columns=t["columns"])
