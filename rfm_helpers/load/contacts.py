"""The contacts table (``contacts:`` in the source spec): name, e-mail, phone, consent per channel.

Read by the same registered readers as the transactions (file or SQL, header row, encoding,
separator, sheets), then:

* **ids** are normalised like the transactions' ids (``ids.kind`` of the spec): invisible
  characters removed and spaces collapsed, ``12345.0`` -> ``12345`` when every decimal-looking
  id ends in ``.0``, e-mails case-folded, phones in E.164; an id destroyed by a spreadsheet's
  scientific notation (``7,70117E+11``) or empty is set aside and counted. Two rows for one
  customer are refused (which e-mail or phone to use is not a guess this tool makes).
* **phones** are written in E.164 (``phonenumbers``; a number without a country code is read
  in ``contacts.phone_region``, else the transactions' ``ids.default_region``, and counted);
  invalid numbers and e-mail addresses become missing and are counted.
* **consent and unsubscribe flags** are read with the explicit vocabularies of
  ``contacts.flags``; any other value (an empty cell included, unless listed) is refused with
  the values and lines, or, with ``flags.unknown: no_consent``, read as no consent (in an
  unsubscribe column: as unsubscribed) and counted.

:func:`load_contacts` returns a :class:`Contacts` (the frame plus remark codes with counts).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .readers import read_table
from .result import DataValidationError

__all__ = ["Contacts", "load_contacts", "FLAG_COLUMNS", "CHANNELS"]

#: Consent and unsubscribe columns (0/1 after reading).
FLAG_COLUMNS = ("email_consent", "sms_consent", "call_consent", "email_unsubscribed", "sms_unsubscribed",
                "call_unsubscribed", "unsubscribed")
TEXT_COLUMNS = ("name", "first_name", "last_name", "email", "phone")
#: Channel -> the contact it needs.
CHANNELS = {"email": "email", "sms": "phone", "call": "phone"}
_INVISIBLE = "[\u200b-\u200d\u2060\ufeff\u00ad]"
_SPACES = r"[\s\u00a0\u2007\u202f\u2009]+"


@dataclass
class Contacts:
    """The contacts of a source: ``frame`` (one row per customer: ``customer_id``, the text
    columns mapped, flags as 0/1), ``remarks`` (``{"code": ..., counts}``: nothing about a
    single customer), ``assume_consent`` (channels whose consent is not recorded by choice)."""

    frame: pd.DataFrame
    remarks: list[dict] = field(default_factory=list)
    assume_consent: tuple[str, ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        self.frame.attrs["assume_consent"] = tuple(self.assume_consent)

    def matched(self, customer_ids: pd.Series) -> int:
        """How many of ``customer_ids`` have a contacts row."""
        return int(pd.Series(customer_ids, dtype="string").isin(pd.Index(self.frame["customer_id"])).sum())


def _as_text(arr: Any) -> pd.Series:
    """A column as text: whole floats without ``.0``, booleans as true/false, dates ISO."""
    col = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    t = col.type
    if pa.types.is_boolean(t):
        return pd.Series(col.to_pandas(), dtype="object").map(lambda v: None if v is None or v is pd.NA
                                                               else ("true" if v else "false")).astype("string")
    if pa.types.is_floating(t):
        vals = col.to_numpy(zero_copy_only=False)
        out = [None if not np.isfinite(v) else (str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v)))
               for v in vals]
        return pd.Series(out, dtype="string")
    return pd.Series(col.cast(pa.string()).to_pandas(), dtype="string")


def _normalise_ids(ids: pd.Series, kind: str, region: str | None) -> tuple[pd.Series, dict[str, int]]:
    """The customer ids as the transactions' loader writes them; counts of what was done."""
    counts = {"cleaned": 0, "empty": 0, "scientific": 0, "not_email": 0, "not_phone": 0}
    s = ids.astype("string")
    cleaned = s.str.replace(_INVISIBLE, "", regex=True).str.replace(_SPACES, " ", regex=True).str.strip()
    counts["cleaned"] = int((cleaned.fillna("") != s.fillna("").str.strip()).sum())
    empty = cleaned.isna() | (cleaned == "")
    counts["empty"] = int(empty.sum())
    sci = cleaned.str.fullmatch(r"[0-9]+(?:[.,][0-9]+)?[eE]\+?[0-9]+").fillna(False)
    counts["scientific"] = int(sci.sum())
    floats = cleaned.str.fullmatch(r"[0-9]+\.0+").fillna(False)
    decimals = cleaned.str.fullmatch(r"[0-9]+\.[0-9]*[1-9][0-9]*").fillna(False)
    if floats.any() and not decimals.any():
        cleaned = cleaned.str.replace(r"\.0+$", "", regex=True)
    out = cleaned.where(~(empty | sci))
    if kind == "email":
        out = out.str.lower()
        bad = out.notna() & ~out.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+").fillna(False)
        counts["not_email"] = int(bad.sum())
        out = out.where(~bad)
    elif kind == "phone":
        mapped, _ = _e164(out, region)
        counts["not_phone"] = int((out.notna() & mapped.isna()).sum())
        out = mapped
    return out, counts


def _e164(values: pd.Series, region: str | None) -> tuple[pd.Series, int]:
    """Phones in E.164 (``phonenumbers``, one parse per distinct value); invalid ones missing.
    Also returns how many valid numbers had no country code (read in ``region``)."""
    import phonenumbers

    cache: dict[str, tuple[str | None, bool]] = {}
    for v in values.dropna().unique():
        try:
            num = phonenumbers.parse(v, region)
            ok = phonenumbers.is_valid_number(num)
            cache[v] = (phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) if ok else None,
                        ok and not v.lstrip().startswith(("+", "00")))
        except phonenumbers.NumberParseException:
            cache[v] = (None, False)
    out = values.map(lambda v: cache[v][0] if isinstance(v, str) else None).astype("string")
    assumed = int(values.map(lambda v: isinstance(v, str) and cache[v][1]).sum())
    return out, assumed


def _flags(values: pd.Series, spec: Any, column: str, source_rows: np.ndarray, label: str,
           remarks: list[dict], unsubscribe: bool) -> pd.Series:
    """A flag column as 0/1 by the spec's vocabularies; unknown values refused or counted."""
    key = values.astype("string").str.strip().str.casefold()
    yes = {v.strip().casefold() for v in spec.flags.true_values}
    no = {v.strip().casefold() for v in spec.flags.false_values}
    filled = key.fillna("")
    out = pd.Series(pd.NA, index=values.index, dtype="Int8")
    out[filled.isin(yes).to_numpy()] = 1
    out[filled.isin(no).to_numpy()] = 0
    unknown = out.isna()
    if unknown.any():
        if spec.flags.unknown == "refuse":
            shown = filled[unknown].value_counts().head(5)
            examples = ", ".join(f"{v!r} ({n}x, e.g. line {int(source_rows[np.flatnonzero((filled == v).to_numpy())[0]])})"
                                 for v, n in shown.items())
            raise DataValidationError(
                f"{label}: column {column!r} holds values that are neither in contacts.flags.true_values "
                f"{sorted(yes)} nor in contacts.flags.false_values {sorted(no)}: {examples}. Consent is never guessed: "
                "add these values to the right list (\"\" for empty cells) or set contacts.flags.unknown: "
                "no_consent to read them as no consent.")
        out[unknown.to_numpy()] = 1 if unsubscribe else 0
        remarks.append({"code": "flags_unknown_as_no_consent", "column": column, "count": int(unknown.sum()),
                        "unsubscribe": unsubscribe})
    return out


def load_contacts(source: Any) -> Contacts | None:
    """The contacts of ``source`` (a :class:`~rfm_helpers.load.SourceSpec`), or ``None`` when
    the spec has no ``contacts:`` table. Raises :class:`DataValidationError` naming the file,
    column, example lines and the option that resolves a problem."""
    spec = getattr(source, "contacts", None)
    if spec is None:
        return None
    label = spec.data_label
    mapping = {k: v for k, v in spec.columns.model_dump().items() if v is not None}
    mapping.setdefault("customer_id", "customer_id")
    raw = read_table(spec, list(mapping.values()))
    header = list(raw.header)
    missing = [f"{v!r} (for {k})" for k, v in mapping.items() if v not in header]
    if missing:
        raise DataValidationError(f"{label}: expected column(s) {', '.join(missing)} not found; columns found: "
                                  f"{', '.join(repr(c) for c in header[:30])}. Set contacts.columns.")
    rows = raw.source_row
    remarks: list[dict] = []
    ids, counts = _normalise_ids(_as_text(raw.table.column(mapping["customer_id"])), source.ids.kind,
                                 source.ids.default_region)
    for code in ("cleaned", "empty", "scientific", "not_email", "not_phone"):
        if counts[code]:
            remarks.append({"code": f"contact_ids_{code}", "count": counts[code]})
    frame = pd.DataFrame({"customer_id": ids})
    for key in TEXT_COLUMNS:
        if key in mapping:
            text = _as_text(raw.table.column(mapping[key])).str.strip()
            frame[key] = text.where(text != "")
    for key in FLAG_COLUMNS:
        if key in mapping:
            frame[key] = _flags(_as_text(raw.table.column(mapping[key])), spec, mapping[key], rows, label, remarks,
                                unsubscribe=key.endswith("unsubscribed"))
    keep = frame["customer_id"].notna().to_numpy()
    frame, rows = frame.loc[keep].reset_index(drop=True), rows[keep]
    dup = frame["customer_id"].duplicated(keep=False)
    if dup.any():
        first = frame.loc[dup, "customer_id"].drop_duplicates().head(3).tolist()
        where = "; ".join(f"{i!r} on lines {', '.join(str(int(r)) for r in rows[(frame['customer_id'] == i).to_numpy()][:3])}"
                          for i in first)
        raise DataValidationError(f"{label}: {int(frame.loc[dup, 'customer_id'].nunique())} customer id(s) appear on "
                                  f"more than one contacts row ({where}). Keep one row per customer: which e-mail, "
                                  "phone or consent to use is not a guess this tool makes.")
    region = spec.phone_region or source.ids.default_region
    if "phone" in frame.columns:
        given = frame["phone"]
        frame["phone"], assumed = _e164(given, region)
        invalid = int((given.notna() & frame["phone"].isna()).sum())
        if invalid:
            remarks.append({"code": "phones_invalid", "count": invalid, "of": int(given.notna().sum())})
        if assumed:
            remarks.append({"code": "phone_region_assumed", "count": assumed, "region": region or "-"})
    if "email" in frame.columns:
        e = frame["email"]
        bad = e.notna() & ~e.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+").fillna(False)
        if bad.any():
            remarks.append({"code": "emails_invalid", "count": int(bad.sum())})
            frame["email"] = e.where(~bad)
    frame.attrs["assume_consent"] = tuple(spec.assume_consent)
    remarks.insert(0, {"code": "contacts_read", "rows": int(raw.table.num_rows), "customers": int(len(frame))})
    return Contacts(frame, remarks, tuple(spec.assume_consent), label)
