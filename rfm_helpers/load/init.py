"""``rfm-report init FILE``: a first source spec for a new export, written from what the loader sees.

Nothing here sniffs on its own. The file is read by the loader's own reader (encoding, ``sep=``
line, separator, header row below title lines: :func:`~rfm_helpers.load.readers.read_table`),
the columns are matched to their roles by their names (English and Russian words) and by their
values, and the draft is then *loaded* with :func:`~rfm_helpers.load.load_transactions`: the
loader decides the date order, the decimal mark, the thousands separator, the currency marks,
the statuses and the amount level per column as it always does, and says what it decided
(remarks) or which option it needs (a :class:`~rfm_helpers.load.result.DataValidationError`).

The draft (:func:`draft_yaml`) is a commented YAML file in the strict source spec: every
decided value is written out with what it was decided from; what could not be decided is
marked ``TO DECIDE`` with the candidates or the loader's own sentence, never guessed. Two
columns that could both be the customer, no currency stated anywhere, dates like ``03/04/2024``
only: each is left to the analyst and listed at the end of the file and on the screen.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from .readers import read_table
from .result import DataValidationError, LoadResult
from .spec import spec_from

__all__ = ["ROLES", "Draft", "inspect_export", "draft_yaml", "write_draft"]

#: Words in a column's name that suggest its role (lower case; English and Russian exports).
ROLES: dict[str, tuple[str, ...]] = {
    "order_date": ("order_date", "date", "datetime", "created", "time", "day", "дата", "период", "время"),
    "amount": ("amount", "sum", "total", "revenue", "price", "value", "paid", "сумма", "выручка", "стоимость",
               "итого", "оплачено", "оплата", "цена"),
    "customer_id": ("customer_id", "customer", "client", "buyer", "user", "email", "e-mail", "phone", "contact",
                    "клиент", "покупатель", "контрагент", "пользователь", "телефон", "почта", "заказчик"),
    "order_id": ("order_id", "order", "invoice", "receipt", "document", "doc", "number", "no", "заказ", "документ",
                 "номер", "чек", "накладная", "счет", "счёт"),
    "status": ("status", "state", "статус", "состояние"),
    "currency": ("currency", "curr", "валюта"),
    "channel": ("channel", "source", "store", "shop", "канал", "источник", "магазин"),
}
REQUIRED = ("customer_id", "order_date", "amount")
_DATE_LIKE = re.compile(r"\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}|\d{1,2}\s+\w+\s+\d{4}|^\d{4}-\d{2}-\d{2}")
_NUMBER_LIKE = re.compile(r"^[-+−(]?\s*[$€£₽]?\s*\d[\d\s\u00a0\u202f.,']*\s*(?:р\.?|руб\.?|₽|\$|€|usd|rub|eur)?\)?$", re.I)


@dataclass
class Draft:
    """What ``init`` found in an export."""

    path: Path
    header: list[str]
    columns: dict[str, str] = field(default_factory=dict)          # role -> column decided
    candidates: dict[str, list[str]] = field(default_factory=dict)  # role -> columns when not decided
    read: dict[str, Any] = field(default_factory=dict)              # encoding, sep, header_row, sheet
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # spec blocks decided: dates, amounts
    notes: dict[str, str] = field(default_factory=dict)             # dotted key -> why (a comment)
    undecided: list[tuple[str, str]] = field(default_factory=list)  # (option, why) left to the analyst
    currency: str | None = None
    statuses: dict[str, list[str]] = field(default_factory=dict)    # counted / excluded, as the loader reads them
    result: LoadResult | None = None

    @property
    def loads(self) -> bool:
        return self.result is not None


def _words(name: str) -> set[str]:
    return set(re.findall(r"[\w\-]+", name.casefold())) | {name.casefold().strip()}


def _sample(table: pa.Table, name: str, k: int = 200) -> list[str]:
    col = table.column(name).slice(0, k).to_pylist()
    return [str(v).strip() for v in col if v is not None and str(v).strip()]


def _share(values: list[str], pattern: re.Pattern) -> float:
    return sum(1 for v in values if pattern.search(v)) / len(values) if values else 0.0


def _typed_kind(table: pa.Table, name: str) -> str:
    t = table.column(name).type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "date"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    return "text"


def _score(role: str, name: str, table: pa.Table) -> int:
    """How well column ``name`` fits ``role``: 0 no; by name 2 (a word) or 3 (the role's own
    name); values must agree for dates and amounts."""
    words = _words(name)
    keys = ROLES[role]
    if role in words or name.casefold().replace(" ", "_") == role:
        score = 3
    elif any(k in words or (len(k) > 3 and k in name.casefold()) for k in keys):
        score = 2
    else:
        return 0
    kind = _typed_kind(table, name) if name in table.column_names else "text"
    values = _sample(table, name) if kind == "text" else []
    if role == "order_date" and kind != "date" and _share(values, _DATE_LIKE) < 0.8:
        return 0
    if role == "amount" and kind != "number" and _share(values, _NUMBER_LIKE) < 0.8:
        return 0
    if role in ("customer_id", "order_id", "status", "currency", "channel") and kind == "date":
        return 0
    return score


def _match_columns(header: list[str], table: pa.Table) -> tuple[dict[str, str], dict[str, list[str]]]:
    decided: dict[str, str] = {}
    open_: dict[str, list[str]] = {}
    taken: set[str] = set()
    for role in ROLES:  # dates and amounts first: their values confirm them
        scored = [(s, c) for c in header if c not in taken for s in [_score(role, c, table)] if s]
        if not scored:
            continue
        best = max(s for s, _ in scored)
        top = [c for s, c in scored if s == best]
        if len(top) == 1:
            decided[role] = top[0]
            taken.add(top[0])
        else:
            open_[role] = top
    return decided, open_


def inspect_export(path: str | Path, sheet: str | None = None) -> Draft:
    """Read ``path`` with the loader's reader, match the columns, then load the draft (see the
    module's docstring)."""
    from .loader import load_transactions

    path = Path(path).resolve()
    base: dict[str, Any] = {"path": str(path)}
    if sheet:
        base["excel"] = {"sheet": sheet}
    raw = read_table(spec_from(dict(base)), [], None)
    draft = Draft(path=path, header=list(raw.header))
    for r in raw.remarks:
        if r.code == "encoding_detected":
            draft.read["encoding"] = r.values["encoding"]
        elif r.code in ("separator_detected", "sep_hint_line"):
            draft.read["sep"] = "\t" if r.values["separator"] == "TAB" else r.values["separator"]
        elif r.code == "header_row_detected":
            draft.read["header_row"] = int(r.values["row"])
        elif r.code == "sheet_chosen":
            draft.read["sheet"] = r.values["sheet"]
    draft.columns, draft.candidates = _match_columns(draft.header, raw.table)
    for role in REQUIRED:
        if role not in draft.columns:
            cands = draft.candidates.get(role, [])
            why = (f"several columns could be it: {', '.join(repr(c) for c in cands)}" if cands
                   else f"no column looks like it (columns: {', '.join(repr(c) for c in draft.header)})")
            draft.undecided.append((f"columns.{role}", why))
    for role, cands in draft.candidates.items():
        if role not in REQUIRED:
            draft.undecided.append((f"columns.{role}", f"optional; several columns could be it: "
                                    f"{', '.join(repr(c) for c in cands)} (leave it out if none is)"))
    if any(o.startswith("columns.") and o.split(".")[1] in REQUIRED for o, _ in draft.undecided):
        return draft
    spec = dict(base, columns=dict(draft.columns))
    if draft.read.get("header_row"):
        spec["header_row"] = draft.read["header_row"]
    try:
        result = load_transactions(spec)
    except DataValidationError as exc:
        option = _option_named(str(exc))
        draft.undecided.append((option, str(exc)))
        return draft
    draft.result = result
    _decisions(draft, result)
    return draft


_OPTIONS = ("dates.order", "dates.format", "amounts.decimal", "amounts.thousands", "amounts.level", "statuses",
            "currency", "conversion", "ids.kind", "ids.default_region", "excel.sheet", "header_row", "csv.sep",
            "csv.encoding", "returns.policy", "columns.")


def _option_named(message: str) -> str:
    """The spec option a loader message names (the first one it mentions), else ``source``."""
    found = [(message.find(o), o) for o in _OPTIONS if o in message]
    if not found:
        return "source"
    opt = min(found)[1]
    if opt == "columns.":
        m = re.search(r"columns\.(\w+)", message)
        return f"columns.{m.group(1)}" if m else "columns"
    return opt


def _decisions(draft: Draft, result: LoadResult) -> None:
    """The loader's decisions (remarks) as explicit spec values, with what they came from."""
    dates: dict[str, Any] = {}
    amounts: dict[str, Any] = {}
    for r in result.remarks:
        v = r.values
        if r.code == "date_order":
            dates["order"] = v["order"]
            draft.notes["dates.order"] = "decided by the loader from the values of the column"
        elif r.code == "decimal_comma":
            amounts["decimal"] = ","
            draft.notes["amounts.decimal"] = "decimal comma, seen in the column's values"
        elif r.code == "thousands_separator":
            amounts["thousands"] = v["separator"]
            draft.notes["amounts.thousands"] = "seen in the column's values"
        elif r.code in ("currency_from_marks", "currency_marks") and v.get("currency"):
            draft.currency = v["currency"]
            draft.notes["currency"] = (f"from the currency column {draft.columns['currency']!r}" if "currency" in draft.columns
                                       else f"from the marks on the amounts in {v['column']!r}")
        elif r.code == "order_total_repeated":
            amounts["level"] = "order"
            draft.notes["amounts.level"] = (f"the order total is repeated on the item rows ({v['orders']} orders): "
                                            "counted once per order")
        elif r.code == "statuses":
            draft.statuses = {"counted": list(v.get("counted") or []), "excluded": list(v.get("excluded") or [])}
    if dates:
        draft.options["dates"] = dates
    if amounts:
        draft.options["amounts"] = amounts
    if draft.currency is None and result.currency:
        draft.currency = result.currency
        draft.notes["currency"] = "from the currency column"
    if draft.currency is None:
        draft.undecided.append(("currency", "the amounts carry no currency mark and there is no currency column: "
                                "write the ISO 4217 code (RUB, USD, EUR...)"))


def _q(value: Any) -> str:
    """A YAML value (quoted when it needs to be; flow mappings' values always quoted)."""
    import yaml

    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_quoted(v)}" for k, v in value.items()) + "}"
    return yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'" if value != "\t" else '"\\t"'
    return _q(value)


def draft_yaml(draft: Draft, relative_to: Path | None = None) -> str:
    """The commented YAML draft of ``draft`` (``path`` relative to the YAML's folder)."""
    folder = relative_to or draft.path.parent
    try:
        shown_path = draft.path.relative_to(folder.resolve()).as_posix()
    except ValueError:
        shown_path = str(draft.path)
    todo = dict(draft.undecided)
    lines = ["",
             f"# Source spec drafted by 'rfm-report init' from {draft.path.name} on {dt.date.today().isoformat()}.",
             "# Every value below was read or decided by the loader. Check it; a line marked TO DECIDE needs you.",
             f"# Columns in the file: {', '.join(draft.header)}", "",
             f"name: {_q(draft.path.stem)}", f"path: {_q(shown_path)}   # relative to this file"]
    lines[0] = "# yaml-language-server: $schema=" + _schema_ref(folder)
    if draft.currency:
        lines.append(f"currency: {draft.currency}   # {draft.notes.get('currency', 'decided')}")
    elif "currency" in todo:
        lines.append(f"currency:   # TO DECIDE: {todo['currency']}")
    else:
        lines.append("currency:   # not checked yet (the load stopped at a TO DECIDE below): the ISO 4217 code, or "
                     "leave it empty when the amounts carry a mark (₽, руб., $)")
    if "header_row" in draft.read:
        lines.append(f"header_row: {draft.read['header_row']}   # the column names are on this line (found below "
                     "title lines)" if draft.read["header_row"] > 1 else "header_row: 1")
    if "encoding" in draft.read or "sep" in draft.read:
        csv = {k: draft.read[k] for k in ("sep", "encoding") if k in draft.read}
        lines.append(f"csv: {_q(csv)}   # detected by the loader's reader")
    if "sheet" in draft.read:
        lines.append(f"excel: {{sheet: {_q(draft.read['sheet'])}}}   # the sheet holding data")
    lines.append("columns:   # our name: the column in your file")
    for role in ROLES:
        key = f"columns.{role}"
        if role in draft.columns:
            lines.append(f"  {role}: {_q(draft.columns[role])}")
        elif key in todo:
            lines.append(f"  {role}:   # TO DECIDE: {todo[key]}")
    for block in ("dates", "amounts"):
        for k, v in draft.options.get(block, {}).items():
            lines.append(f"{block}: {{{k}: {_quoted(v)}}}   # {draft.notes.get(f'{block}.{k}', 'decided')}")
    if draft.statuses:
        lines.append("# statuses as the built-in words read them (set statuses: {include: [...]} or {exclude: [...]} "
                     "to change):")
        lines.append(f"#   counted as purchases: {', '.join(draft.statuses['counted']) or '-'}")
        lines.append(f"#   set aside: {', '.join(draft.statuses['excluded']) or '-'}")
    rest = [(o, why) for o, why in draft.undecided if not o.startswith("columns.") and o != "currency"]
    for option, why in rest:
        lines.append(f"# TO DECIDE {option}: " + " ".join(why.split()))
    if draft.result is not None:
        r = draft.result
        lines += ["", f"# Loaded as drafted: {r.rows_in} rows read, {r.rows_kept} kept, {r.rows_in - r.rows_kept} "
                  f"set aside; total amount kept {r.clean['amount'].sum():.2f}."]
    if draft.undecided:
        lines += ["", "# Left to decide: " + ", ".join(o for o, _ in draft.undecided)]
    return "\n".join(lines) + "\n"


def _schema_ref(folder: Path) -> str:
    """The JSON Schema for editors: relative inside the checkout, else absolute."""
    import os

    from .spec import SCHEMA_PATH

    root = SCHEMA_PATH.parents[2]
    try:
        folder.resolve().relative_to(root)
        return Path(os.path.relpath(SCHEMA_PATH, folder.resolve())).as_posix()
    except ValueError:  # outside the checkout (or another drive)
        return SCHEMA_PATH.as_posix()


def write_draft(path: str | Path, out: str | Path | None = None, *, force: bool = False,
                sheet: str | None = None) -> tuple[Path, Draft]:
    """Inspect ``path`` and write the draft to ``out`` (default ``<file>.yaml`` beside it);
    refuses to overwrite an existing file unless ``force``."""
    draft = inspect_export(path, sheet=sheet)
    target = Path(out) if out else draft.path.with_suffix(".yaml")
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; choose another name with --output or add --force")
    target.write_text(draft_yaml(draft, target.parent.resolve()), encoding="utf-8")
    return target, draft
