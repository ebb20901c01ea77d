"""Words of the export files (stage *act*): workbook headers, category values, the About sheet,
the data dictionary, and the sentences a notebook shows about the files it wrote.

Machine files (CSV) keep the stable English column keys; these words are for people: the
workbook's headers and values and the data dictionary's meanings, in the report's language.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from ...act.workbook import ExportWords
from ..i18n import N_, translator

__all__ = ["export_words", "export_notes", "contact_notes", "HEADERS"]

HEADERS = {
    "customer_id": N_("Customer id"),
    "recency_days": N_("Recency, days"),
    "frequency": N_("Orders"),
    "monetary": N_("Monetary"),
    "r_score": N_("R score"),
    "f_score": N_("F score"),
    "m_score": N_("M score"),
    "first_purchase": N_("First order"),
    "last_purchase": N_("Last order"),
    "tenure_days": N_("Days since first order"),
    "rfm_cell": N_("RFM cell"),
    "rfm_score": N_("RFM score (sum)"),
    "segment": N_("Segment key"),
    "segment_label": N_("Segment"),
    "days_since_last_order": N_("Days since last order"),
    "last_order_date": N_("Last order"),
    "first_order_date": N_("First order"),
    "total_spend": N_("Total spend"),
    "average_order_value": N_("Average order value"),
    "suggested_offer": N_("Suggested offer"),
    "recommended_channel": N_("Channel"),
    "talking_points": N_("Talking points"),
    "is_test": N_("Test recipient"),
    "priority_rank": N_("Priority rank"),
    "call_priority": N_("Call priority"),
    "metric": N_("Metric"),
    "group": N_("Group"),
    "control": N_("Control group"),
    "n_t": N_("Customers in group"),
    "n_c": N_("Customers in control"),
    "mean_t": N_("Mean in group"),
    "mean_c": N_("Mean in control"),
    "diff": N_("Difference"),
    "ci_low": N_("CI low"),
    "ci_high": N_("CI high"),
    "rel_lift": N_("Relative lift"),
    "rel_ci_low": N_("Relative lift CI low"),
    "rel_ci_high": N_("Relative lift CI high"),
    "p_value": N_("p-value"),
    "p_adjusted": N_("Adjusted p-value"),
    "n_comparisons": N_("Comparisons"),
    "test": N_("Test"),
    "alpha": N_("Significance level"),
    "significant": N_("Significant"),
    "from_segment": N_("From segment key"),
    "from_label": N_("From segment"),
    "to_segment": N_("To segment key"),
    "to_label": N_("To segment"),
    "monetary_before": N_("Spend before"),
    "name": N_("Name"),
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "email": N_("E-mail"),
    "phone": N_("Phone"),
    "email_consent": N_("E-mail consent"),
    "sms_consent": N_("SMS consent"),
    "call_consent": N_("Call consent"),
    "customers": N_("Customers"),
}

DESCRIPTIONS = {
    "customer_id": N_("The customer's id exactly as in the source (text: keep leading zeros)."),
    "recency_days": N_("Days from the last order to the analysis date."),
    "frequency": N_("Number of orders in the analysis window."),
    "monetary": N_("Total spend in the analysis window, rounded to cents."),
    "r_score": N_("Recency score, 1 (longest ago) to 5 (most recent)."),
    "f_score": N_("Frequency score, 1 (fewest orders) to 5 (most orders)."),
    "m_score": N_("Monetary score, 1 (lowest spend) to 5 (highest spend)."),
    "segment": N_("Stable key of the segment in the segment map."),
    "segment_label": N_("Name of the segment in the report's language."),
    "is_test": N_("1 for an internal test recipient, 0 for a customer."),
    "call_priority": N_("Segment call weight times the customer's spend percentile (0 to 1)."),
    "priority_rank": N_("1 = call first."),
    "p_value": N_("p-value of the test, before the multiple-comparison correction."),
    "p_adjusted": N_("p-value after the multiple-comparison correction."),
    "phone": N_("Phone number in international E.164 form (+79161234567)."),
    "email": N_("E-mail address exactly as in the contacts."),
}

KINDS = {
    "id": N_("identifier (text, exactly as in the source)"),
    "text": N_("text"),
    "label": N_("text"),
    "email": N_("e-mail address (text)"),
    "phone": N_("phone, E.164 (text)"),
    "integer": N_("whole number"),
    "money": N_("money, two decimals"),
    "number": N_("number"),
    "date": N_("date, YYYY-MM-DD"),
    "flag": N_("0 or 1"),
}

LABELS = {
    "about_sheet": N_("About"),
    "about_heading": N_("About these lists"),
    "source": N_("Source"),
    "analysis_date": N_("Analysis date"),
    "currency": N_("Currency"),
    "csv_format": N_("CSV files"),
    "csv_dialect_en": N_("UTF-8 with BOM, comma between fields, decimal point, every value in quotes"),
    "csv_dialect_ru": N_("UTF-8 with BOM, semicolon between fields, decimal comma, every value in quotes"),
    "data_dictionary": N_("Columns of every file"),
    "segment_map": N_("Segment map"),
    "segment_definitions": N_("Segment definitions"),
    "rule": N_("Rule (scores)"),
    "description": N_("Description"),
    "rule_note": N_("R = recency score, FM = rounded mean of the frequency and monetary scores (1-5)."),
    "sheets": N_("Sheets"),
    "sheet": N_("Sheet"),
    "rows_in_sheet": N_("Rows in the sheet"),
    "rows_in_csv": N_("Rows in the CSV file"),
    "csv_file": N_("CSV file"),
    "xlsx_cap_note": N_("A sheet holds at most {rows} rows: the first ones in the list's order. The CSV file holds every row."),
    "call_list_sheet": N_("Call list"),
    "call_priority_rule": N_("Call priority = the segment's call weight x the customer's spend percentile; highest first."),
    "call_weight": N_("Call weight"),
}

VALUES = {
    "metric": {"converted": N_("conversion"), "revenue": N_("revenue per customer")},
}


def export_words(language: str = "en", currency: str = "USD") -> ExportWords:
    """The words of the export files in ``language``."""
    t = translator(language, currency)
    return ExportWords(
        language=language,
        headers={k: t._(v) for k, v in HEADERS.items()},
        values={k: {raw: t._(v) for raw, v in m.items()} for k, m in VALUES.items()},
        descriptions={k: t._(v) for k, v in DESCRIPTIONS.items()},
        kinds={k: t._(v) for k, v in KINDS.items()},
        labels={k: t._(v) for k, v in LABELS.items()},
        yes=t._("yes"), no=t._("no"), integer=t.integer,
    )


def export_notes(warnings: Iterable[Mapping], language: str = "en") -> list[str]:
    """Sentences about the files written (no customer data): ids a spreadsheet would run as a
    formula, and workbook sheets that hold only the first rows."""
    t = translator(language)
    out = []
    keys = [w for w in warnings if w.get("code") == "formula_like_keys"]
    if keys:
        files = ", ".join(f"{w['file']} ({w['column']}: {t.integer(w['count'])})" for w in keys)
        out.append(t._("Key values that start like a formula (=, @, +, -) are written unchanged in the CSV files "
                       "{files}: open those files with the import recipe of the README, or use the workbook, "
                       "where they are plain text.").format(files=files))
    for w in warnings:
        if w.get("code") == "xlsx_capped":
            out.append(t._("Sheet {sheet} of {file} shows the first {rows} of {total} rows; {csv} holds them all.").format(
                sheet=w["sheet"], file=w["file"], rows=t.integer(w["rows"]), total=t.integer(w["total"]),
                csv=w.get("csv_file") or "-"))
    return out + contact_notes(warnings, language)


def contact_notes(warnings: Iterable[Mapping], language: str = "en") -> list[str]:
    """Sentences about the contacts and the service import files (counts only)."""
    t = translator(language)
    out = []
    for w in warnings:
        code = w.get("code")
        if code == "phone_region_assumed":
            out.append(t.plural(w["count"], "{n} phone without a country code was read as a number of {region}.",
                                "{n} phones without a country code were read as numbers of {region}.",
                                region=w["region"]))
        elif code == "phones_invalid":
            out.append(t.plural(w["count"], "{n} phone is not a valid number and was left out.",
                                "{n} phones are not valid numbers and were left out."))
        elif code == "emails_invalid":
            out.append(t.plural(w["count"], "{n} e-mail address is not valid and was left out.",
                                "{n} e-mail addresses are not valid and were left out."))
        elif code == "list_rows_left_out":
            out.append(t.plural(w["count"], "{file}: {n} customer without the contact {service} needs (or without "
                                            "consent) was left out.",
                                "{file}: {n} customers without the contact {service} needs (or without consent) "
                                "were left out.", file=w["file"], service=w["format"]))
        elif code == "duplicate_emails":
            out.append(t.plural(w["count"], "{file}: {n} e-mail address appears more than once.",
                                "{file}: {n} e-mail addresses appear more than once.", file=w["file"]))
        elif code == "text_over_limit":
            out.append(t.plural(w["count"], "{file}: {n} text is longer than the service's {limit} bytes.",
                                "{file}: {n} texts are longer than the service's {limit} bytes.",
                                file=w["file"], limit=t.integer(w["limit_bytes"])))
        elif code == "file_over_limit":
            out.append(t._("{file} is larger than the service's limit of {limit} bytes: split it or zip it.").format(
                file=w["file"], limit=t.integer(w["limit_bytes"])))
    return out
