"""List formats for the tools lists are sent from: import files an e-mail service or a CRM
accepts as they are.

Each format states the published column requirements it follows (``source``):

``mailchimp`` - Mailchimp audience import (CSV)
    Email Address is the only required column, one address per contact, no spaces around it;
    text fields hold at most 255 bytes; SMS phone numbers in E.164; dates YYYY-MM-DD; the file
    is CSV (or TXT) in UTF-8. Tags containing a comma are quoted.
    https://mailchimp.com/help/format-guidelines-for-your-import-file/ ,
    https://mailchimp.com/help/import-sms-marketing-contacts/
``unisender`` - UniSender contact import (e-mail and SMS)
    .csv/.txt/.xls/.xlsx up to 20 MB, UTF-8, one kind of data per column; every contact needs
    an e-mail address or a phone (international format); comma, semicolon or tab between fields.
    https://www.unisender.com/en/support/how-to-start/how-to-import/
``amocrm`` - amoCRM contacts import
    The first line holds the field names used to match the columns with amoCRM's fields
    (Name, Phone, E-mail for contacts); the delimiter (comma, semicolon or tab) is detected from
    the file. https://amocrm.zendesk.com/hc/en-us/articles/207064336-Import-Settings

All three files: UTF-8 without a byte-order mark (a BOM would become part of the first column's
name in an importer), comma between fields, every value quoted, ``.`` as decimal mark,
phones in E.164 (``phonenumbers``; a number without a country code is read in the run's
``phone_region``, and that guess is reported), rows without the contact the service needs
left out and counted (warning codes with values, no customer data).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from .columns import Column, col
from .files import CsvDialect

__all__ = ["ListFormat", "LIST_FORMATS", "list_format", "normalize_phones", "valid_email", "IMPORT_DIALECT"]

#: The dialect of service import files.
IMPORT_DIALECT = CsvDialect("import", ",", ".", bom=False)


@dataclass(frozen=True)
class ListFormat:
    """An import file layout of one service."""

    name: str
    service: str
    columns: tuple[Column, ...]  # key = the service's column name; source = SQL over the list's rows
    needs: tuple[str, ...]  # a row is kept when at least one of these contact columns has a value
    consent: str  # the consent flag that must not be 0 when the contacts carry it
    source: str  # where the requirements are published
    max_text_bytes: int | None = None
    max_file_bytes: int | None = None


_COMMON = (col("Customer ID", "id", "customer_id"), col("Segment", "label", "segment_label"),
           col("Last Order Date", "date", "last_order_date"), col("Total Spend", "money", "monetary"))

LIST_FORMATS: dict[str, ListFormat] = {
    "mailchimp": ListFormat(
        "mailchimp", "Mailchimp",
        (col("Email Address", "email", "email"), col("First Name", "text", "first_name"),
         col("Last Name", "text", "last_name"), col("Phone Number", "phone", "phone"),
         col("Tags", "label", "segment_label"), *_COMMON),
        needs=("email",), consent="email_consent",
        source="https://mailchimp.com/help/format-guidelines-for-your-import-file/",
        max_text_bytes=255),
    "unisender": ListFormat(
        "unisender", "UniSender",
        (col("email", "email", "email"), col("phone", "phone", "phone"), col("Name", "text", "name"), *_COMMON),
        needs=("email", "phone"), consent="email_consent",
        source="https://www.unisender.com/en/support/how-to-start/how-to-import/",
        max_file_bytes=20 * 1024 * 1024),
    "amocrm": ListFormat(
        "amocrm", "amoCRM",
        (col("Name", "text", "name"), col("Phone", "phone", "phone"), col("E-mail", "email", "email"),
         col("Tags", "label", "segment_label"), *_COMMON),
        needs=("phone", "email"), consent="",
        source="https://amocrm.zendesk.com/hc/en-us/articles/207064336-Import-Settings"),
}


def list_format(name: str) -> ListFormat:
    try:
        return LIST_FORMATS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown list format {name!r}; use one of {sorted(LIST_FORMATS)}") from None


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def valid_email(value: Any) -> bool:
    """A plausible single e-mail address: one ``@``, a dot in the domain, no spaces."""
    return isinstance(value, str) and _EMAIL.fullmatch(value) is not None


def normalize_phones(values: pd.Series, region: str) -> tuple[pd.Series, dict]:
    """Phones in E.164 (``+79161234567``) with ``phonenumbers``; a number without a country
    code is read as a number of ``region`` (ISO 3166 code such as ``RU``). Numbers that are
    not valid become missing. Returns the phones and counts: ``phones``, ``invalid``,
    ``region_assumed`` (numbers read in ``region``)."""
    import phonenumbers

    out, counts = [], {"phones": 0, "invalid": 0, "region_assumed": 0}
    cache: dict[str, str | None] = {}
    for v in values.astype("object"):
        if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA or str(v).strip() == "":
            out.append(None)
            continue
        counts["phones"] += 1
        raw = str(v).strip()
        if raw not in cache:
            try:
                num = phonenumbers.parse(raw, region)
                ok = phonenumbers.is_valid_number(num)
            except phonenumbers.NumberParseException:
                ok = False
            cache[raw] = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) if ok else None
            if ok and not raw.startswith("+") and not raw.startswith("00"):
                cache[raw + "\0assumed"] = "1"
        e164 = cache[raw]
        if e164 is None:
            counts["invalid"] += 1
        elif raw + "\0assumed" in cache:
            counts["region_assumed"] += 1
        out.append(e164)
    return pd.Series(out, index=values.index, dtype="string"), counts


def prepare_contacts(contacts: pd.DataFrame, region: str) -> tuple[pd.DataFrame, list[dict]]:
    """The contacts with phones in E.164 and e-mails checked; warning codes with counts."""
    out, warnings = contacts.copy(), []
    if "phone" in out.columns:
        out["phone"], counts = normalize_phones(out["phone"], region)
        if counts["invalid"]:
            warnings.append({"code": "phones_invalid", "count": counts["invalid"], "of": counts["phones"]})
        if counts["region_assumed"]:
            warnings.append({"code": "phone_region_assumed", "count": counts["region_assumed"], "region": region})
    if "email" in out.columns:
        e = out["email"].astype("object")
        bad = e.notna() & ~e.map(valid_email)
        if bad.any():
            warnings.append({"code": "emails_invalid", "count": int(bad.sum())})
            out["email"] = e.where(~bad, None).astype("string")
    return out, warnings


def format_sql(fmt: ListFormat, rows_sql: str, have: Sequence[str]) -> tuple[str, str]:
    """SQL selecting the rows of ``rows_sql`` that ``fmt`` can import, and SQL counting the
    rows left out (no contact the service needs, or no consent)."""
    present = [k for k in fmt.needs if k in have]
    keep = " OR ".join(f'"{k}" IS NOT NULL' for k in present) or "FALSE"
    if fmt.consent and fmt.consent in have:
        # unknown consent counts as no consent; internal test recipients are always kept
        keep = (f"({keep}) AND (coalesce(CAST(is_test AS INTEGER), 0) = 1 "
                f"OR coalesce(CAST(\"{fmt.consent}\" AS INTEGER), 0) <> 0)")
    missing = [c.source for c in fmt.columns if c.source not in have]
    nulls = "".join(f', CAST(NULL AS VARCHAR) AS "{m}"' for m in missing)
    base = f"SELECT *{nulls} FROM ({rows_sql}) AS r"
    return (f"SELECT * FROM ({base}) AS b WHERE {keep}",
            f"SELECT count(*) FILTER (WHERE NOT ({keep})) FROM ({base}) AS b")


def write_format(ex: Any, con: Any, fmt: ListFormat, rows_sql: str, have: Sequence[str], file: str):
    """Write the import file ``file`` of ``fmt`` from the list rows of ``rows_sql`` (on the
    engine connection ``con``) through the run's writer ``ex``; the record's warnings count the
    rows left out, duplicate e-mail addresses and texts over the service's byte limit."""
    from .files import write_csv

    keep, dropped = format_sql(fmt, rows_sql, have)
    rec = write_csv(con, keep, fmt.columns, ex.path(file), IMPORT_DIALECT, schema=fmt.name)
    rec.kind = fmt.name
    n = int(con.execute(dropped).fetchone()[0])
    if n:
        rec.warnings.append({"code": "list_rows_left_out", "file": file, "format": fmt.service, "count": n,
                             "needs": "/".join(fmt.needs), "consent": fmt.consent})
    mails = [c for c in fmt.columns if c.kind == "email"]
    if mails:
        e = mails[0].source
        dup = con.execute(f'SELECT count(*) - count(DISTINCT lower("{e}")) FROM ({keep}) AS k WHERE "{e}" IS NOT NULL').fetchone()[0]
        if dup:
            rec.warnings.append({"code": "duplicate_emails", "file": file, "count": int(dup)})
    if fmt.max_text_bytes:
        texts = [c for c in fmt.columns if c.kind in ("text", "label")]
        parts = " + ".join(f'count(*) FILTER (WHERE strlen(CAST("{c.source}" AS VARCHAR)) > {fmt.max_text_bytes})'
                           for c in texts)
        long = int(con.execute(f"SELECT {parts} FROM ({keep}) AS k").fetchone()[0]) if texts else 0
        if long:
            rec.warnings.append({"code": "text_over_limit", "file": file, "count": long,
                                 "limit_bytes": fmt.max_text_bytes})
    if fmt.max_file_bytes and ex.path(file).stat().st_size > fmt.max_file_bytes:
        rec.warnings.append({"code": "file_over_limit", "file": file, "limit_bytes": fmt.max_file_bytes})
    ex.records.append(rec)
    return rec
