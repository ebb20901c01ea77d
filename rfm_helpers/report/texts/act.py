"""Words of the export files (stage *act*): workbook headers, category values, the About sheet,
the data dictionary, and the sentences a notebook shows about the files it wrote.

Machine files (CSV) keep the stable English column keys; these words are for people: the
workbook's headers and values and the data dictionary's meanings, in the report's language.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from ...act.workbook import ExportWords
from ..i18n import N_, translator

__all__ = ["export_words", "export_notes", "contact_notes", "HEADERS", "size_policy_note", "call_list_note"]

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
    # customer_value_<month>.csv (notebook 06)
    "p_alive": N_("Probability active"),
    "p_alive_low": N_("Probability active, low"),
    "p_alive_high": N_("Probability active, high"),
    "p_alive_last_month": N_("Probability active at the end of last month"),
    "p_alive_change": N_("Change in probability active"),
    "expected_purchases_90d": N_("Expected purchases, 90 days"),
    "expected_purchases_90d_low": N_("Expected purchases, 90 days, low"),
    "expected_purchases_90d_high": N_("Expected purchases, 90 days, high"),
    "expected_purchases_365d": N_("Expected purchases, 365 days"),
    "expected_purchases_365d_low": N_("Expected purchases, 365 days, low"),
    "expected_purchases_365d_high": N_("Expected purchases, 365 days, high"),
    "expected_spend": N_("Expected spend per purchase"),
    "expected_spend_low": N_("Expected spend per purchase, low"),
    "expected_spend_high": N_("Expected spend per purchase, high"),
    "expected_revenue_90d": N_("Expected revenue, 90 days"),
    "expected_revenue_90d_low": N_("Expected revenue, 90 days, low"),
    "expected_revenue_90d_high": N_("Expected revenue, 90 days, high"),
    "clv": N_("Lifetime value"),
    "clv_low": N_("Lifetime value, low"),
    "clv_high": N_("Lifetime value, high"),
    "value_at_risk": N_("Value at risk"),
    "slipping": N_("Slipping"),
    "one_time_buyer": N_("One-time buyer"),
    "new_customer": N_("New customer"),
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
    # customer_value_<month>.csv (notebook 06); "low"/"high": the interval stated on the value page
    "p_alive": N_("Probability (0 to 1) that the customer is still active on the analysis date."),
    "p_alive_low": N_("Lower end of the interval of the probability active."),
    "p_alive_high": N_("Upper end of the interval of the probability active."),
    "p_alive_last_month": N_("Probability active at the end of last month, same model parameters; empty for a customer "
                             "without purchases by then."),
    "p_alive_change": N_("Probability active now minus at the end of last month."),
    "expected_purchases_90d": N_("Expected number of purchase days in the 90 days after the analysis date."),
    "expected_purchases_90d_low": N_("Lower end of the interval of the expected purchases in 90 days."),
    "expected_purchases_90d_high": N_("Upper end of the interval of the expected purchases in 90 days."),
    "expected_purchases_365d": N_("Expected number of purchase days in the 365 days after the analysis date."),
    "expected_purchases_365d_low": N_("Lower end of the interval of the expected purchases in 365 days."),
    "expected_purchases_365d_high": N_("Upper end of the interval of the expected purchases in 365 days."),
    "expected_spend": N_("Expected amount of a future purchase (Gamma-Gamma model), in the run's currency; empty "
                         "without a spend model."),
    "expected_spend_low": N_("Lower end of the interval of the expected spend per purchase."),
    "expected_spend_high": N_("Upper end of the interval of the expected spend per purchase."),
    "expected_revenue_90d": N_("Expected purchases in 90 days times the expected spend per purchase."),
    "expected_revenue_90d_low": N_("Lower end of the interval of the expected revenue in 90 days."),
    "expected_revenue_90d_high": N_("Upper end of the interval of the expected revenue in 90 days."),
    "clv": N_("Customer lifetime value: discounted expected revenue over the horizon stated on the value page."),
    "clv_low": N_("Lower end of the interval of the lifetime value."),
    "clv_high": N_("Upper end of the interval of the lifetime value."),
    "value_at_risk": N_("Revenue of the next 12 months the customer would bring if still active, times the "
                        "probability that they have already left; the file is sorted by it, highest first."),
    "slipping": N_("1 when among the 20% most valuable, still more likely active than not, and the probability "
                   "active fell by at least 10 points since the end of last month."),
    "one_time_buyer": N_("1 when the customer has bought on one day only."),
    "new_customer": N_("1 when the first purchase is less than 30 days before the analysis date."),
    # "<file>:<column>": the meaning of a column in one file only (the call list ranked by value at risk)
    "call_list_value_at_risk.csv:call_priority": N_("Segment call weight times the customer's value-at-risk "
                                                    "percentile (0 to 1)."),
    "call_list_value_at_risk.csv:value_at_risk": N_("Revenue of the next 12 months the customer would bring if "
                                                    "still active, times the probability that they have already "
                                                    "left (from the customer value report)."),
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
    "call_priority_rule_value": N_("Call priority = the segment's call weight x the customer's value-at-risk "
                                   "percentile; highest first. Customers without a value-at-risk figure are not listed."),
    "call_weight": N_("Call weight"),
    "readme_title": N_("Customer lists and tables of one run"),
    "readme_files": N_("Files (rows; when written):"),
    "rows": N_("rows"),
    "written_at": N_("Written"),
    "readme_policy": N_("Size policy:"),
    "readme_gzip": N_("A CSV file with more than {rows} rows is written gzip-compressed (.csv.gz; the mailing lists of "
                      "one run count together): unpack it with gzip -d or 7-Zip, or read it directly with pandas or "
                      "DuckDB. Environment variable {option} changes the limit (0: never compressed)."),
    "readme_gzip_off": N_("CSV files are never compressed ({option}=0)."),
    "readme_workbook": N_("A workbook is written when its lists hold at most {rows} rows in all; above that it is not "
                          "written and the CSV files hold the rows. Environment variable {option} changes the limit "
                          "(0: always written)."),
    "readme_workbook_off": N_("Workbooks are always written ({option}=0)."),
    "readme_workbook_skipped": N_("Not written: {file} ({rows} rows, more than {limit}); the same rows are in {files}."),
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
    gz = [w for w in warnings if w.get("code") == "csv_gzipped"]
    if gz:
        out.append(t.plural(len(gz), "{n} file was written gzip-compressed, as files (or the mailing lists together) "
                                      "of more than {limit} rows are: {files}. Unpack it with gzip -d or 7-Zip, or read "
                                      "it directly with pandas or DuckDB (environment variable RFM_EXPORT_GZIP_ROWS "
                                      "changes the limit; 0: never compressed).",
                            "{n} files were written gzip-compressed, as files (or the mailing lists together) of more "
                            "than {limit} rows are: {files}. Unpack them with gzip -d or 7-Zip, or read them directly "
                            "with pandas or DuckDB (environment variable RFM_EXPORT_GZIP_ROWS changes the limit; 0: "
                            "never compressed).",
                            limit=t.integer(gz[0]["limit"]), files=", ".join(w["file"] for w in gz)))
    for w in warnings:
        if w.get("code") == "workbook_skipped":
            out.append(t._("{file} was not written: its lists hold {rows} rows, more than the workbook limit of "
                           "{limit} (a spreadsheet sheet holds at most {sheet_rows} rows, and a workbook of millions of "
                           "rows cannot be opened in practice). The same rows are in {files}. To write it anyway, run "
                           "with the environment variable RFM_EXPORT_WORKBOOK_ROWS=0 (or a higher limit).").format(
                file=w["file"], rows=t.integer(w["rows"]), limit=t.integer(w["limit"]), sheet_rows=t.integer(1_048_576),
                files=", ".join(w.get("csv_files") or []) or "-"))
    for w in warnings:
        if w.get("code") == "xlsx_capped":
            out.append(t._("Sheet {sheet} of {file} shows the first {rows} of {total} rows; {csv} holds them all.").format(
                sheet=w["sheet"], file=w["file"], rows=t.integer(w["rows"]), total=t.integer(w["total"]),
                csv=w.get("csv_file") or "-"))
    return out + contact_notes(warnings, language)


def size_policy_note(ex, language: str = "en") -> str:
    """One sentence stating the export writer ``ex``'s size policy (its limits and the options)."""
    t = translator(language)
    gz = (t._("CSV files with more than {rows} rows are written gzip-compressed (.csv.gz)").format(rows=t.integer(ex.gzip_rows))
          if ex.gzip_rows else t._("CSV files are never compressed"))
    wb = (t._("a workbook is written when its lists hold at most {rows} rows").format(rows=t.integer(ex.workbook_rows))
          if ex.workbook_rows else t._("workbooks are always written"))
    return t._("Size policy of the export files: {gzip}; {workbook}. The environment variables RFM_EXPORT_GZIP_ROWS "
               "and RFM_EXPORT_WORKBOOK_ROWS change these limits (0: no limit); README.txt in the exports folder "
               "says the same.").format(gzip=gz, workbook=wb)


def call_list_note(calls: Mapping, language: str = "en") -> str:
    """Where the call list was written (the workbook only when it was written)."""
    t = translator(language)
    rows = t.integer(calls["rows"])
    if calls.get("xlsx_file"):
        return t._("Call list: {rows} customers in {csv} and {xlsx} (highest priority first: value times "
                   "urgency).").format(rows=rows, csv=calls["csv_file"], xlsx=calls["xlsx_file"])
    return t._("Call list: {rows} customers in {csv} (highest priority first: value times urgency).").format(
        rows=rows, csv=calls["csv_file"])


def service_files_note(files: Iterable[str], language: str = "en", contacts: bool = True) -> str:
    """One sentence naming the import files written for e-mail services and CRMs; without a
    contacts table (``contacts`` false) none are written, and the sentence says why."""
    files = list(files)
    t = translator(language)
    if not contacts:
        return t._("Import files for e-mail services and CRMs need the customers' contacts: add a contacts table to "
                   "the source spec (contacts: in the YAML, see the README). No import file was written.")
    if not files:
        return ""
    return t.plural(len(files), "{n} file ready to import into an e-mail service or CRM: {files}.",
                    "{n} files ready to import into an e-mail service or CRM: {files}.", files=", ".join(files))


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
        elif code == "consent_filter":
            channel = {"email": t._("e-mail"), "sms": t._("SMS"), "call": t._("phone calls")}.get(w["channel"], w["channel"])
            out.append(t._("{file}: only customers who can be reached by {channel} are listed; left out: {no_contact} "
                           "without a contact for it, {unsubscribed} unsubscribed, {no_consent} without consent.").format(
                file=w["file"], channel=channel, no_contact=t.integer(w["no_contact"]),
                unsubscribed=t.integer(w["unsubscribed"]), no_consent=t.integer(w["no_consent"])))
            if w.get("assumed_consent"):
                out.append(t._("Consent for {channel} is not recorded in the contacts table and is assumed "
                               "(contacts.assume_consent in the source spec).").format(channel=channel))
        elif code == "call_list_without_value":
            out.append(t.plural(w["count"], "{file}: {n} customer of a segment worth a call has no value-at-risk figure "
                                            "and is not listed.",
                                "{file}: {n} customers of segments worth a call have no value-at-risk figure and are "
                                "not listed.", file=w["file"]))
        elif code == "contacts_read":
            out.append(t._("Contacts: {rows} read, one per customer for {customers}.").format(
                rows=t.plural(w["rows"], "{n} row", "{n} rows"), customers=t.plural(w["customers"], "{n} customer",
                                                                                   "{n} customers")))
        elif code in ("contact_ids_empty", "contact_ids_scientific", "contact_ids_not_email", "contact_ids_not_phone"):
            out.append(t.plural(w["count"], "{n} contacts row has no usable customer id (empty, destroyed by a "
                                            "spreadsheet's scientific notation, or not an e-mail or phone as ids.kind "
                                            "says) and was set aside.",
                                "{n} contacts rows have no usable customer id (empty, destroyed by a spreadsheet's "
                                "scientific notation, or not an e-mail or phone as ids.kind says) and were set aside."))
        elif code == "flags_unknown_as_no_consent":
            out.append(t.plural(w["count"], "{column}: {n} value is neither yes nor no and was read as no consent "
                                            "(contacts.flags.unknown: no_consent).",
                                "{column}: {n} values are neither yes nor no and were read as no consent "
                                "(contacts.flags.unknown: no_consent).", column=w["column"]))
    return out
