"""Words of the customer value page (notebook 06): sentences, table headers, captions.

Every function takes the run's :class:`~rfm_helpers.report.i18n.Translator` and numbers from
:mod:`rfm_helpers.value`; sentences come back as ``(template, values)`` pairs for
:func:`rfm_helpers.display.say` (the template is ours, the values are escaped), tables as
frames of formatted text with translated headers.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..i18n import N_, Translator

__all__ = ["model_name", "sufficiency_sentences", "model_sentences", "headline_sentences",
           "backtest_sentences", "backtest_table", "group_table", "group_label", "group_labels", "group_sentences", "export_sentence",
           "summary_labels", "caption", "parameters_table", "verdict_label"]

_MODEL_NAMES = {"bgnbd": N_("BG/NBD"), "mbgnbd": N_("modified BG/NBD")}
#: First column of a group table, per kind of grouping.
_GROUP_HEADERS = {"segment": N_("Segment"), "cluster": N_("Cluster")}

_CAPTIONS = {
    "params": N_("Parameters of this run"),
    "backtest": N_("Backtest per decile of predicted purchases: average per customer in the {days} days after {cutoff}"),
    "segments": N_("Expected value by RFM segment (next {days} days; CLV over {months} months)"),
    "clusters": N_("Expected value by cluster (next {days} days; CLV over {months} months)"),
    "parameters": N_("Fitted model parameters (time unit: days)"),
}


def caption(t: Translator, key: str, **values: Any) -> str:
    """A table or chart caption (``key`` as in ``_CAPTIONS``), filled with ``values``."""
    return t._(_CAPTIONS[key]).format(**values)


def model_name(t: Translator, code: str) -> str:
    return t._(_MODEL_NAMES.get(code, code))


def sufficiency_sentences(t: Translator, suff) -> list[tuple[str, dict[str, str]]]:
    """One sentence per data problem (empty list: everything is supported)."""
    out = []
    for code, v in suff.problems:
        if code == "short_history":
            out.append((t._("The data cover only {days} of history; the models need at least {min_days}, so "
                            "this page shows no predictions."),
                        {"days": t.plural(v["days"], "{n} day", "{n} days"),
                         "min_days": t.plural(v["min_days"], "{n} day", "{n} days")}))
        elif code == "few_customers":
            out.append((t._("There are only {customers}; the models need at least {min_customers}, so this page "
                            "shows no predictions."),
                        {"customers": t.plural(v["customers"], "{n} customer", "{n} customers"),
                         "min_customers": t.integer(v["min_customers"])}))
        elif code == "few_repeat_customers":
            out.append((t._("Only {customers} bought more than once; the purchase model needs at least "
                            "{min_customers} repeat customers, so this page shows no predictions."),
                        {"customers": t.plural(v["customers"], "{n} customer", "{n} customers"),
                         "min_customers": t.integer(v["min_customers"])}))
        elif code == "few_spend_customers":
            out.append((t._("Only {customers} have a repeat purchase with a positive amount; the spend model "
                            "needs at least {min_customers}, so money figures (spend, CLV, value at risk) are "
                            "not shown."),
                        {"customers": t.plural(v["customers"], "{n} customer", "{n} customers"),
                         "min_customers": t.integer(v["min_customers"])}))
        elif code == "short_history_for_backtest":
            out.append((t._("The history ({days}) is too short for a backtest, which needs at least {min_days}: "
                            "the predictions below are not checked against real purchases."),
                        {"days": t.plural(v["days"], "{n} day", "{n} days"),
                         "min_days": t.plural(v["min_days"], "{n} day", "{n} days")}))
        elif code == "not_identified":
            out.append((t._("The data do not pin down the parameters of the purchase model, even fitted on all "
                            "{customers}: this page shows no predictions. This happens when the purchase histories "
                            "show no sign of customers leaving."),
                        {"customers": t.plural(v["customers"], "{n} customer", "{n} customers")}))
        elif code == "backtest_not_identified":
            out.append((t._("The data up to the backtest's cut-off do not pin down the parameters of the purchase "
                            "model: the predictions below are not checked against real purchases."), {}))
        elif code == "few_repeat_customers_for_backtest":
            out.append((t._("Before the backtest's cut-off only {customers} had bought more than once (at least "
                            "{min_customers} are needed): the predictions below are not checked against real "
                            "purchases."),
                        {"customers": t.plural(v["customers"], "{n} customer", "{n} customers"),
                         "min_customers": t.integer(v["min_customers"])}))
    return out


def model_sentences(t: Translator, analysis) -> list[tuple[str, dict[str, str]]]:
    """What was fitted, on how many customers, and what the intervals mean."""
    f, st = analysis.fitted, analysis.stats
    if f.sampled:
        out = [(t._("The {model} model was fitted on a random sample of {sample} of the {customers} (repeat and "
                    "one-time buyers in their true proportions: {repeat} repeat, {one_time} one-time; random seed "
                    "{seed}); every customer is scored with the fitted parameters. Spend per order: the Gamma-Gamma "
                    "model, fitted on the sample's repeat customers with a positive spend ({spend})."),
                {"model": model_name(t, f.transaction_model),
                 "sample": t.integer(f.n_fit_customers),
                 "customers": t.plural(f.n_customers, "{n} customer", "{n} customers"),
                 "repeat": t.integer(f.n_fit_repeat), "one_time": t.integer(f.n_fit_customers - f.n_fit_repeat),
                 "seed": str(f.fit_seed), "spend": t.integer(f.n_spend_customers)})]
    else:
        out = [(t._("The {model} model was fitted on the purchase histories of {customers}: {repeat} bought more "
                    "than once, {one_time} only once. Spend per order: the Gamma-Gamma model, fitted on the repeat "
                    "customers with a positive spend ({spend})."),
                {"model": model_name(t, f.transaction_model),
                 "customers": t.plural(f.n_fit_customers, "{n} customer", "{n} customers"),
                 "repeat": t.integer(analysis.sufficiency.repeat_customers),
                 "one_time": t.integer(st["one_time_buyers"]),
                 "spend": t.integer(f.n_spend_customers)})]
    if f.spend_status != "ok":
        reason = {
            "too_few_repeat_customers": N_("too few repeat customers with a positive spend"),
            "infinite_mean": N_("the fitted spend distribution has no finite mean (q <= 1)"),
            "not_identified": N_("the data do not pin down its parameters"),
        }.get(f.spend_status, N_("it was not fitted"))
        out.append((t._("The spend model cannot be used ({reason}), so this page shows no money figures "
                        "(spend, revenue, lifetime value, value at risk)."), {"reason": t._(reason)}))
    out.append((t._("Each figure comes with a {level} interval. It shows how precisely the data pin down the "
                    "model's parameters, not whether the model is right: the backtest below measures that."),
                {"level": t.percent(f.level, 0)}))
    if f.sampled:
        out.append((t._("Because the parameters were learnt from a sample, the intervals are wider than a fit on "
                        "all customers would give: they include the sampling error."), {}))
    if f.transaction_model == "bgnbd":
        out.append((t._("The BG/NBD model lets a customer leave only right after a repeat purchase, so it counts "
                        "every one-time buyer as still active: their probability of being active is 1 and their "
                        "value at risk 0. The modified BG/NBD (value_model = \"mbgnbd\") does not make that "
                        "assumption."), {}))
    if f.frequency_spend_correlation == f.frequency_spend_correlation and abs(f.frequency_spend_correlation) > 0.3:
        out.append((t._("Caution: among repeat customers, the number of purchases and the average spend are "
                        "correlated ({corr}); the Gamma-Gamma spend model assumes they are not."),
                    {"corr": t.number(f.frequency_spend_correlation, 2)}))
    excluded = st.get("customers_without_purchase_day", 0)
    nonpos = st.get("nonpositive_days", 0)
    if excluded or nonpos:
        out.append((t._("Days on which a customer's amounts add up to zero or less are not counted as purchases "
                        "({days}); {customers} had no other day and are left out."),
                    {"days": t.plural(nonpos, "{n} day", "{n} days"),
                     "customers": t.plural(excluded, "{n} customer", "{n} customers")}))
    return out


def headline_sentences(t: Translator, head: dict, analysis) -> list[tuple[str, dict[str, str]]]:
    """The main forward-looking figures in plain language."""
    st = analysis.settings
    h = st["horizons"][0]
    money = analysis.fitted.spend_status == "ok"
    if money:
        out = [(t._("In the next {days}, customers are expected to make {purchases} purchases worth {revenue} "
                    "(interval {low} to {high})."),
                {"days": t.plural(h, "{n} day", "{n} days"), "purchases": t.integer(head["expected_purchases"]),
                 "revenue": t.money(head["expected_revenue"]), "low": t.money(head["expected_revenue_low"]),
                 "high": t.money(head["expected_revenue_high"])})]
    else:
        out = [(t._("In the next {days}, customers are expected to make {purchases} purchases."),
                {"days": t.plural(h, "{n} day", "{n} days"), "purchases": t.integer(head["expected_purchases"])})]
    out.append((t.plural(head["likely_active"],
                         "{n} customer of {total} is more likely active than not (average probability {mean}).",
                         "{n} customers of {total} are more likely active than not (average probability {mean}).",
                         total=t.integer(head["customers"]), mean=t.percent(head["mean_p_alive"])), {}))
    if money:
        out.append((t._("Customer lifetime value over the next {months}, discounted at {rate} a year: {clv} in total "
                        "(interval {low} to {high})."),
                    {"months": t.plural(st["clv_months"], "{n} month", "{n} months"),
                     "rate": t.percent(st["annual_discount_rate"], 0), "clv": t.money(head["clv"]),
                     "low": t.money(head["clv_low"]), "high": t.money(head["clv_high"])}))
        out.append((t._("Value at risk: {var}. This is the revenue of the next 12 months that customers would bring "
                        "if they were still active, weighted by the probability that they have already left."),
                    {"var": t.money(head["value_at_risk"])}))
    if money and head["slipping"]:
        out.append((t.plural(head["slipping"],
                             "{n} customer is alive but slipping: among the 20% most valuable, still more likely "
                             "active than not, but the probability of being active fell by 10 points or more since "
                             "the end of last month ({last}). Value at risk: {var}.",
                             "{n} customers are alive but slipping: among the 20% most valuable, still more likely "
                             "active than not, but their probability of being active fell by 10 points or more "
                             "since the end of last month ({last}). Their value at risk: {var}.",
                             last=t.date(analysis.last_month_end), var=t.money(head["slipping_value_at_risk"])), {}))
    elif money:
        out.append((t._("No valuable customer's probability of being active fell by 10 points or more since the end of "
                        "last month ({last})."),
                    {"last": t.date(analysis.last_month_end)}))
    if head["new_customers"]:
        out.append((t.plural(head["new_customers"],
                             "{n} customer bought for the first time in the last 30 days: the model knows little "
                             "about them yet, so their figures are close to those of an average new customer.",
                             "{n} customers bought for the first time in the last 30 days: the model knows little "
                             "about them yet, so their figures are close to those of an average new customer."), {}))
    return out


def backtest_sentences(t: Translator, bt) -> list[tuple[str, dict[str, str]]]:
    """What the backtest found, including when the model does not beat the baseline."""
    tot = bt.totals
    out = [(t._("Backtest: the model was fitted on the data up to {cutoff} and predicted the next {days} for "
                "{customers}. They actually made {actual} purchases; the model predicted {predicted} "
                "({model_error}) and the naive baseline, which assumes each customer repeats the previous "
                "{days}, {baseline} ({baseline_error})."),
            {"cutoff": t.date(bt.cutoff), "days": t.plural(bt.holdout_days, "{n} day", "{n} days"),
             "customers": t.plural(bt.customers, "{n} customer", "{n} customers"),
             "actual": t.integer(tot["actual"]), "predicted": t.integer(tot["predicted"]),
             "model_error": t.percent(tot["model_total_error"], signed=True),
             "baseline": t.integer(tot["baseline"]),
             "baseline_error": t.percent(tot["baseline_total_error"], signed=True)})]
    if getattr(bt, "sampled", False):
        out.append((t._("These customers are a random sample of the {population} known at the cut-off (repeat and "
                        "one-time buyers in their true proportions); the errors below are measured on this sample."),
                    {"population": t.plural(bt.population, "{n} customer", "{n} customers")}))
    if bt.spend_available:
        out.append((t._("Revenue in that period: actual {actual}, predicted {predicted} ({model_error}), "
                        "baseline {baseline} ({baseline_error})."),
                    {"actual": t.money(tot["actual_revenue"]), "predicted": t.money(tot["predicted_revenue"]),
                     "model_error": t.percent(tot["model_revenue_error"], signed=True),
                     "baseline": t.money(tot["baseline_revenue"]),
                     "baseline_error": t.percent(tot["baseline_revenue_error"], signed=True)}))
    values = {"model_mae": t.number(tot["model_mae"], 3), "baseline_mae": t.number(tot["baseline_mae"], 3)}
    if bt.verdict == "model_better":
        out.append((t._("The model beats the baseline both in total and per customer (average error "
                        "{model_mae} purchases per customer against {baseline_mae})."), values))
    elif bt.verdict == "baseline_better":
        out.append((t._("The model does not beat the naive baseline: its error is larger both in total and per "
                        "customer ({model_mae} purchases per customer against {baseline_mae}). Treat its "
                        "predictions with caution."), values))
    else:
        out.append((t._("The model beats the baseline on one measure only (average error per customer: "
                        "{model_mae} purchases for the model, {baseline_mae} for the baseline). It is not "
                        "clearly better; treat its predictions with caution."), values))
    out.append((t._("Individual customers are hard to predict: most make no purchase in a given quarter. "
                    "The decile table shows where the model is reliable: compare the predicted and actual "
                    "averages row by row."), {}))
    return out


def backtest_table(t: Translator, bt) -> pd.DataFrame:
    """The calibration table, formatted, with translated headers."""
    d = bt.deciles
    frame = pd.DataFrame({
        t._("Decile of predicted purchases"): d["decile"].map(t.integer),
        t._("Customers"): d["customers"].map(t.integer),
        t._("Predicted purchases"): d["predicted"].map(lambda x: t.number(x, 3)),
        t._("Baseline purchases"): d["baseline"].map(lambda x: t.number(x, 3)),
        t._("Actual purchases"): d["actual"].map(lambda x: t.number(x, 3)),
    })
    if bt.spend_available:
        frame[t._("Predicted revenue")] = d["predicted_revenue"].map(lambda x: t.money(x, cents=True))
        frame[t._("Baseline revenue")] = d["baseline_revenue"].map(lambda x: t.money(x, cents=True))
        frame[t._("Actual revenue")] = d["actual_revenue"].map(lambda x: t.money(x, cents=True))
    return frame


def group_table(t: Translator, table: pd.DataFrame, labels: dict[str, str] | None = None,
                kind: str = "segment") -> pd.DataFrame:
    """A :func:`rfm_helpers.value.segments.value_by_group` table, formatted."""
    return pd.DataFrame({
        t._(_GROUP_HEADERS[kind]): table["group"].map(lambda g: group_label(t, g, labels)),
        t._("Customers"): table["customers"].map(t.integer),
        t._("Expected purchases"): table["expected_purchases"].map(t.integer),
        t._("Expected revenue"): table["expected_revenue"].map(t.money),
        t._("Interval"): [f"{t.money(lo)} – {t.money(hi)}" for lo, hi in
                          zip(table["expected_revenue_low"], table["expected_revenue_high"])],
        t._("Share of future revenue"): table["revenue_share"].map(t.percent),
        t._("CLV"): table["clv"].map(t.money),
        t._("Average probability active"): table["mean_p_alive"].map(t.percent),
        t._("Value at risk"): table["value_at_risk"].map(t.money),
        t._("Slipping customers"): table["slipping"].map(t.integer),
    })


def group_label(t: Translator, key: str, labels: dict[str, str] | None = None) -> str:
    """A group's label; customers a grouping does not cover (key ``""``) are named as such."""
    if key == "":
        return t._("Not in this grouping")
    return (labels or {}).get(key, key)


def group_labels(t: Translator, table: pd.DataFrame, labels: dict[str, str] | None = None) -> dict[str, str]:
    """Label of every group of a :func:`~rfm_helpers.value.segments.value_by_group` table (for charts)."""
    return {g: group_label(t, g, labels) for g in table["group"]}


def group_sentences(t: Translator, table: pd.DataFrame, labels: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Where the future revenue and the value at risk sit."""
    if table.empty or not table["expected_revenue"].sum():
        return []
    top = table.sort_values("expected_revenue", ascending=False).iloc[0]
    risk = table.sort_values("value_at_risk", ascending=False).iloc[0]
    return [
        (t._("The largest share of future revenue, {share}, is expected from \u00ab{segment}\u00bb ({customers})."),
         {"share": t.percent(top["revenue_share"]), "segment": group_label(t, top["group"], labels),
          "customers": t.plural(top["customers"], "{n} customer", "{n} customers")}),
        (t._("The most value at risk, {var}, sits in \u00ab{segment}\u00bb: the first candidates for a "
             "retention or win-back campaign."),
         {"var": t.money(risk["value_at_risk"]), "segment": group_label(t, risk["group"], labels)}),
    ]


def export_sentence(t: Translator, n: int, path: str) -> tuple[str, dict[str, str]]:
    return (t._("Per-customer predictions with their intervals ({customers}, sorted by value at risk) are in "
                "the export file {file}; customer-level data never appear in this report."),
            {"customers": t.plural(n, "{n} customer", "{n} customers"), "file": path})


def call_list_sentence(t: Translator, calls: dict | None, folder: str = "") -> tuple[str, dict[str, str]]:
    """How many customers the call list ranked by value at risk holds and how it is ranked
    (``calls``: the result of :func:`rfm_helpers.act.write_call_list`; ``None``: not written,
    because no value at risk was computed). ``folder``: the exports folder, relative to the
    report, put before the file names."""
    if calls is None:
        return (t._("No call list ranked by value at risk is written: without a spend model there is no value at "
                    "risk."), {})
    prefix = f"{folder.rstrip('/')}/" if folder else ""
    values = {"files": ", ".join(prefix + f for f in (calls["csv_file"], calls["xlsx_file"]) if f),
              "customers": t.plural(calls["rows"], "{n} customer", "{n} customers"),
              "candidates": t.integer(calls.get("candidates", calls["rows"]))}
    if calls["rows"] < calls.get("candidates", calls["rows"]):  # capped by call_list_rows
        return (t._("The call list ranked by value at risk ({files}) holds {customers} of the {candidates} worth a "
                    "call, most urgent first: a customer's priority is their segment's call weight times their "
                    "value-at-risk percentile."), values)
    return (t._("The call list ranked by value at risk ({files}) holds {customers}, most urgent first: a customer's "
                "priority is their segment's call weight times their value-at-risk percentile."), values)


def summary_labels(t: Translator, horizon: int) -> dict[str, str]:
    """Labels of the figures recorded for the month page."""
    return {
        "value_expected_revenue": t._("Expected revenue, next {days}").format(
            days=t.plural(horizon, "{n} day", "{n} days")),
        "value_expected_purchases": t._("Expected purchases, next {days}").format(
            days=t.plural(horizon, "{n} day", "{n} days")),
        "value_at_risk": t._("Value at risk (12 months)"),
        "value_slipping_customers": t._("Valuable customers slipping"),
        "value_clv": t._("Customer lifetime value (12 months)"),
        "value_backtest_error": t._("Backtest: error of predicted purchases"),
        "value_backtest_verdict": t._("Backtest: model against baseline"),
    }


_VERDICTS = {"model_better": N_("model better"), "baseline_better": N_("baseline better"),
             "mixed": N_("not clearly better")}


def verdict_label(t: Translator, code: str) -> str:
    return t._(_VERDICTS.get(code, code))


def parameters_table(t: Translator, fitted) -> pd.DataFrame:
    """Fitted parameters with their standard errors on the log scale (MAP) as text."""
    rows = [{t._("Model"): model_name(t, fitted.transaction_model), t._("Parameter"): k,
             t._("Value"): t.number(v, 4)} for k, v in fitted.purchase_params.items()]
    rows += [{t._("Model"): "Gamma-Gamma", t._("Parameter"): k, t._("Value"): t.number(v, 4)}
             for k, v in fitted.spend_params.items()]
    return pd.DataFrame(rows)
