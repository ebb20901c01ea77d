"""Properties of the loader on generated shop exports: no valid export loses or invents revenue
(the sum of kept amounts equals the truth computed from the generated orders, independently of
the loader), and the row accounting always adds up. Plus the published JSON Schema and the
portability of the row rules' SQL."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfm_helpers.load import load_transactions

_SETTINGS = settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _money(cents: int, style: str, mark: str) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    if style == "ru":
        body = f"{whole:,}".replace(",", "\u00a0") + f",{frac:02d}"
    elif style == "us":
        body = f"{whole:,}.{frac:02d}"
    else:
        body = f"{whole}.{frac:02d}"
    return f"{sign}{body} {mark}".strip() if mark in ("₽", "руб.") else f"{sign}{mark}{body}"


def _date(d: dt.datetime, style: str) -> str:
    if style == "iso":
        return d.strftime("%Y-%m-%d %H:%M:%S")
    if style == "ru":
        return d.strftime("%d.%m.%Y %H:%M:%S")
    if style == "ru_g":
        return d.strftime("%d.%m.%Y") + " г."
    return d.strftime("%m/%d/%Y ") + d.strftime("%I:%M:%S %p").lstrip("0")  # US 12-hour


@st.composite
def _export(draw):
    n_orders = draw(st.integers(1, 25))
    style = draw(st.sampled_from(["ru", "us", "plain"]))
    mark = draw(st.sampled_from(["", "₽", "руб."])) if style == "ru" else draw(st.sampled_from(["", "$"]))
    date_style = draw(st.sampled_from(["iso", "ru", "ru_g", "us12"]))
    with_status = draw(st.booleans())
    with_totals_row = draw(st.booleans())
    level = draw(st.sampled_from(["line", "order"]))
    customers = [draw(st.sampled_from(["001", "Анна", "ООО Ромашка", "a@x.ru", "42"])) for _ in range(n_orders)]
    rows, truth = [], 0
    base = dt.datetime(2024, 1, 1, 9, 0, 0)
    for k in range(n_orders):
        day = base + dt.timedelta(days=draw(st.integers(0, 300)), seconds=draw(st.integers(0, 40000)))
        if date_style == "ru_g":
            day = day.replace(hour=0, minute=0, second=0)
        n_lines = draw(st.integers(1, 3))
        lines = [draw(st.integers(1, 5_000_000)) for _ in range(n_lines)]
        cancelled = with_status and draw(st.integers(0, 4)) == 0
        status = "Отменён" if cancelled else "Выполнен"
        total = sum(lines)
        refund = 0
        if draw(st.integers(0, 3)) == 0:
            refund = draw(st.sampled_from([total, max(1, total // 3)]))
        oid = f"Z-{k:04d}"
        for i, cents in enumerate(lines):
            amount = cents if level == "line" else total
            shown_amount = _money(amount, style, mark) if (level == "line" or i == 0 or k % 2) else ""
            shown_date = _date(day, date_style) if (level == "line" or i == 0 or k % 2) else ""
            rows.append([oid, customers[k], shown_date, shown_amount, status, f"item{i}"])
        if refund:
            rows.append([oid, customers[k], _date(day + dt.timedelta(days=2), date_style),
                         _money(-refund, style, mark), status, "refund"])
        net = total - refund
        if not cancelled and net > 0:
            truth += net
    if with_totals_row:
        rows.append(["Итого", "", "", _money(truth or 1, style, mark), "", ""])
    # guarantee at least one date that tells day from month for US-style files
    spec_extra = {"dates": {"order": "month_first"}} if date_style == "us12" else {}
    spec_extra["currency"] = "USD" if mark == "$" else "RUB"
    return rows, truth, level, with_status, spec_extra, len(rows)


@_SETTINGS
@given(export=_export())
def test_property_no_revenue_lost_or_invented(tmp_path: Path, export) -> None:
    rows, truth, level, with_status, spec_extra, n_rows = export
    header = ["Номер", "Клиент", "Дата", "Сумма", "Статус", "Товар"]
    text = ";".join(header) + "\n" + "".join(";".join(r) + "\n" for r in rows)
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    columns = {"order_id": "Номер", "customer_id": "Клиент", "order_date": "Дата", "amount": "Сумма"}
    if with_status:
        columns["status"] = "Статус"
    spec = {"path": str(path), "columns": columns, "amounts": {"level": level}, **spec_extra}
    r = load_transactions(spec)
    assert r.rows_in == n_rows == r.rows_kept + r.rows_quarantined
    assert sorted(r.quarantine["source_row"].tolist() + []) == sorted(set(r.quarantine["source_row"]))
    assert round(r.clean["amount"].sum() * 100) == truth
    assert (r.clean["amount"] > 0).all()
    # every kept amount is a whole number of kopecks
    assert ((r.clean["amount"] * 100).round(6) % 1 == 0).all()


@_SETTINGS
@given(values=st.lists(st.tuples(st.sampled_from(["c1", "c2", " c3 ", "", "n/a"]),
                                 st.sampled_from(["2024-01-05", "05.01.2024", "", "soon", "31.02.2024"]),
                                 st.sampled_from(["10", "0", "-5", "abc", "", "1 234,50"])),
                       min_size=1, max_size=30))
def test_property_accounting_always_adds_up(tmp_path: Path, values) -> None:
    path = tmp_path / "a.csv"
    path.write_text("customer_id;order_date;amount\n" + "".join(";".join(v) + "\n" for v in values),
                    encoding="utf-8")
    try:
        r = load_transactions({"path": str(path), "cleaning": {"max_bad_share": 1.0}, "currency": "RUB"})
    except Exception as e:  # noqa: BLE001 - only whole-column problems may refuse the file
        assert "every row" in str(e) or "none of the values" in str(e) or "mixes decimal" in str(e), str(e)
        return
    lines = set(range(2, len(values) + 2))
    q = set(r.quarantine["source_row"])
    assert r.rows_in == len(values) == r.rows_kept + r.rows_quarantined
    assert q <= lines and len(q) == r.rows_quarantined
    assert r.clean["customer_id"].str.strip().eq(r.clean["customer_id"]).all()


def test_published_json_schema_is_up_to_date() -> None:
    from rfm_helpers.load.spec import SCHEMA_PATH, json_schema

    published = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert published == json.loads(json.dumps(json_schema())), \
        "run: python -m rfm_helpers.load.spec  (rewrites rfm_helpers/load/source_spec.schema.json)"
    assert published["additionalProperties"] is False
    assert {"columns", "currency", "header_row", "statuses", "returns", "ids", "language"} <= set(
        published["properties"])


def test_row_rules_sql_translates_to_spark() -> None:
    sqlglot = pytest.importorskip("sqlglot")
    from rfm_helpers.load.rules import rules_sql

    for has_order_id in (True, False):
        duck = rules_sql(as_of=dt.date(2024, 6, 30), level="order", has_order_id=has_order_id, has_status=True,
                         has_refund_of=True)
        spark = rules_sql(as_of=dt.date(2024, 6, 30), level="order", has_order_id=has_order_id, has_status=True,
                          has_refund_of=True, dialect="spark")
        assert "OVER (PARTITION BY" in spark or not has_order_id
        # the same text parses back, so the definition is shared, not re-written
        assert sqlglot.parse_one(spark, read="spark") is not None
        assert sqlglot.parse_one(duck, read="duckdb") is not None
