"""Generated exports of several shapes for the ``rfm-report init`` round trip (tests/test_init.py).

Each maker writes a file and returns what it holds, computed here while writing it: the rows,
the purchase rows that count (statuses that are purchases), their total, and the option
``init`` cannot decide from the file (``None`` when it can decide everything)."""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass
class Export:
    path: Path
    rows: int            # data rows in the file
    kept: int            # rows that are purchases
    total: float         # their amount
    left: str | None     # the option init must leave to the analyst (None: everything decidable)
    fill: dict           # what the analyst writes for it


def _orders(n: int, seed: int, start=dt.date(2024, 1, 1), days: int = 150, customers: int = 60,
            cancel_share: float = 0.2) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        cancelled = rnd.random() < cancel_share
        out.append({"order": f"{i + 1:05d}", "date": start + dt.timedelta(days=rnd.randint(0, days)),
                    "customer": f"{rnd.randint(1, customers):04d}", "amount": rnd.randint(100, 250_000) / 100,
                    "cancelled": cancelled})
    return out


def _truth(orders: list[dict]) -> tuple[int, float]:
    kept = [o for o in orders if not o["cancelled"]]
    return len(kept), round(sum(o["amount"] for o in kept), 2)


def one_c_cp1251(folder: Path) -> Export:
    """A 1C report: cp1251, title lines above the header, ';', '1 234,50 руб.', Russian statuses."""
    orders = _orders(300, 1)
    path = folder / "prodazhi_1c.csv"
    lines = ["Отчёт по продажам", "Период: 01.01.2024 - 31.05.2024", "", "Номер документа;Дата;Клиент;Сумма;Статус"]
    for o in orders:
        money = f"{o['amount']:,.2f}".replace(",", " ").replace(".", ",")
        lines.append(f"{o['order']};{o['date']:%d.%m.%Y};К-{o['customer']};{money} руб.;"
                     f"{'Отменён' if o['cancelled'] else 'Оплачен'}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1251"))
    kept, total = _truth(orders)
    return Export(path, len(orders), kept, total, None, {})


def shop_csv_no_currency(folder: Path) -> Export:
    """An English shop export: ',' separated, ISO dates, plain amounts, no currency anywhere."""
    orders = _orders(250, 2, cancel_share=0.0)
    path = folder / "shop_orders.csv"
    pd.DataFrame({"Order ID": [o["order"] for o in orders], "Order Date": [o["date"].isoformat() for o in orders],
                  "Customer ID": [o["customer"] for o in orders], "Order Total": [o["amount"] for o in orders],
                  "Sales Channel": ["web" if int(o["order"]) % 3 else "store" for o in orders]}).to_csv(path, index=False)
    kept, total = _truth(orders)
    return Export(path, len(orders), kept, total, "currency", {"currency": "EUR"})


def us_dates_ambiguous(folder: Path) -> Export:
    """Dates like 03/04/2024 only (every day <= 12): day or month first cannot be told."""
    orders = _orders(120, 3, start=dt.date(2024, 1, 1), days=0, cancel_share=0.0)
    rnd = random.Random(7)
    for o in orders:
        o["date"] = dt.date(2024, rnd.randint(1, 12), rnd.randint(1, 12))
    path = folder / "crm_export.csv"
    pd.DataFrame({"client": [o["customer"] for o in orders],
                  "date": [f"{o['date']:%m/%d/%Y}" for o in orders],
                  "amount_usd": [f"${o['amount']:.2f}" for o in orders]}).to_csv(path, index=False)
    kept, total = _truth(orders)
    return Export(path, len(orders), kept, total, "dates.order", {"dates": {"order": "month_first"}})


def workbook_with_currency_column(folder: Path) -> Export:
    """An .xlsx sheet: typed dates and numbers, a currency column, Russian names."""
    orders = _orders(200, 4, cancel_share=0.0)
    path = folder / "zakazy.xlsx"
    pd.DataFrame({"Покупатель": [f"П{o['customer']}" for o in orders],
                  "Дата заказа": [pd.Timestamp(o["date"]) for o in orders],
                  "Сумма заказа": [o["amount"] for o in orders],
                  "Валюта": ["RUB"] * len(orders)}).to_excel(path, index=False, sheet_name="Заказы")
    kept, total = _truth(orders)
    return Export(path, len(orders), kept, total, None, {})


def two_customer_columns(folder: Path) -> Export:
    """Two columns that could each be the customer: init must not pick one."""
    orders = _orders(80, 5, cancel_share=0.0)
    path = folder / "two_ids.csv"
    pd.DataFrame({"Customer": [f"C{o['customer']}" for o in orders],
                  "Client e-mail": [f"c{o['customer']}@example.com" for o in orders],
                  "Date": [o["date"].isoformat() for o in orders],
                  "Amount": [f"{o['amount']:.2f} EUR" for o in orders]}).to_csv(path, index=False)
    kept, total = _truth(orders)
    return Export(path, len(orders), kept, total, "columns.customer_id", {"columns": {"customer_id": "Customer"}})


MAKERS = [one_c_cp1251, shop_csv_no_currency, us_dates_ambiguous, workbook_with_currency_column, two_customer_columns]
