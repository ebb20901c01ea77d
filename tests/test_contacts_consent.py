"""Contacts and consent: the ``contacts:`` table of the source spec (same readers, ids normalised
like the transactions', explicit consent words, nothing guessed), and the lists that keep only
the customers a channel can reach, counting who was left out and why."""
from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
import yaml

from rfm_helpers import act
from rfm_helpers.campaigns.assign import stratified_holdout
from rfm_helpers.load import SourceSpecError, load_transactions, read_source_spec
from rfm_helpers.load.contacts import load_contacts
from rfm_helpers.load.result import DataValidationError
from rfm_helpers.report.texts.act import contact_notes, export_words
from rfm_helpers.rfm import score_quantiles
from rfm_helpers.segments import assign_segments

TX = "Клиент;Дата;Сумма\n Anna@Example.COM ;01.03.2024;100,50\nivan@example.com;02.03.2024;50,00\nolga@example.com;03.03.2024;70,00\n"


def _spec(tmp_path, contacts_csv: str, contacts: dict, ids: dict | None = None, encoding="utf-8-sig"):
    (tmp_path / "sales.csv").write_text(TX, encoding="utf-8")
    (tmp_path / "contacts.csv").write_text(contacts_csv, encoding=encoding)
    spec = {"path": "sales.csv", "currency": "RUB", "dates": {"format": "%d.%m.%Y"},
            "columns": {"customer_id": "Клиент", "order_date": "Дата", "amount": "Сумма"},
            "ids": ids or {"kind": "email"}, "contacts": {"path": "contacts.csv", **contacts}}
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return read_source_spec(path)


COLUMNS = {"customer_id": "Email клиента", "name": "ФИО", "email": "Email клиента", "phone": "Телефон",
           "email_consent": "Согласие email", "sms_consent": "Согласие SMS", "email_unsubscribed": "Отписка"}


def test_contacts_are_read_like_the_transactions_and_match_their_ids(tmp_path):
    csv_text = ("Email клиента;ФИО;Телефон;Согласие email;Согласие SMS;Отписка\n"
                "ANNA@example.com;Анна;8 (916) 123-45-67;Да;нет;нет\n"
                "ivan@example.com;Иван;+1 415 555 2671;да;да;ДА\n"
                "olga@example.com;Ольга;12345;нет;да;нет\n")
    spec = _spec(tmp_path, csv_text, {"columns": COLUMNS, "phone_region": "RU"})
    tx = load_transactions(spec).clean
    c = load_contacts(spec)
    f = c.frame.set_index("customer_id")
    assert set(f.index) == set(tx["customer_id"])  # " Anna@Example.COM " and "ANNA@example.com" are one customer
    assert f.loc["anna@example.com", "phone"] == "+79161234567" and pd.isna(f.loc["olga@example.com", "phone"])
    assert f.loc["anna@example.com", ["email_consent", "sms_consent", "email_unsubscribed"]].tolist() == [1, 0, 0]
    assert f.loc["ivan@example.com", "email_unsubscribed"] == 1
    codes = {r["code"]: r for r in c.remarks}
    assert codes["contacts_read"] == {"code": "contacts_read", "rows": 3, "customers": 3}
    assert codes["phones_invalid"]["count"] == 1 and codes["phone_region_assumed"]["count"] == 1


def test_an_unknown_consent_value_is_refused_naming_column_value_and_line(tmp_path):
    csv_text = "Email клиента;Согласие email\nanna@example.com;да\nivan@example.com;\nolga@example.com;может быть\n"
    spec = _spec(tmp_path, csv_text, {"columns": {"customer_id": "Email клиента", "email_consent": "Согласие email"}})
    with pytest.raises(DataValidationError) as err:
        load_contacts(spec)
    msg = str(err.value)
    assert "contacts.csv" in msg and "'Согласие email'" in msg and "'может быть' (1x, e.g. line 4)" in msg
    assert "'' (1x, e.g. line 3)" in msg and "contacts.flags.unknown: no_consent" in msg
    spec2 = _spec(tmp_path, csv_text, {"columns": {"customer_id": "Email клиента", "email_consent": "Согласие email"},
                                       "flags": {"unknown": "no_consent"}})
    c = load_contacts(spec2)
    assert c.frame.set_index("customer_id")["email_consent"].to_dict() == {
        "anna@example.com": 1, "ivan@example.com": 0, "olga@example.com": 0}
    assert {"code": "flags_unknown_as_no_consent", "column": "Согласие email", "count": 2,
            "unsubscribe": False} in c.remarks
    note = contact_notes(c.remarks, "ru")
    assert any("прочитаны как отсутствие согласия" in n for n in note)


def test_two_rows_for_one_customer_are_refused(tmp_path):
    csv_text = "Email клиента;ФИО\nanna@example.com;Анна\nAnna@Example.com ;Анна П.\n"
    spec = _spec(tmp_path, csv_text, {"columns": {"customer_id": "Email клиента", "name": "ФИО"}})
    with pytest.raises(DataValidationError, match=r"'anna@example.com' on lines 2, 3.*not a guess"):
        load_contacts(spec)


def test_contacts_spec_mistakes_name_the_key_and_line(tmp_path):
    (tmp_path / "shop.yaml").write_text("path: sales.csv\ncontacts:\n  path: c.csv\n  colums: {email: E}\n",
                                        encoding="utf-8")
    with pytest.raises(SourceSpecError, match=r"line 4: unknown key 'colums' in contacts.*'columns'"):
        read_source_spec(tmp_path / "shop.yaml")
    (tmp_path / "shop.yaml").write_text("path: sales.csv\ncontacts:\n  path: c.csv\n  flags: {true: [да], false: [да]}\n",
                                        encoding="utf-8")
    with pytest.raises(SourceSpecError, match="in both flags.true_values and flags.false_values"):
        read_source_spec(tmp_path / "shop.yaml")


def test_contacts_from_sql_with_plain_ids(tmp_path):
    db = tmp_path / "crm.db"
    con = sqlite3.connect(db)
    con.execute("create table people (id text, mail text, ok integer)")
    con.executemany("insert into people values (?, ?, ?)", [("00042", "a@x.ru", 1), ("00043.0", "b@x.ru", 0)])
    con.commit()
    con.close()
    (tmp_path / "sales.csv").write_text("customer_id,order_date,amount\n00042,2024-03-01,10\n", encoding="utf-8")
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump({
        "path": "sales.csv", "contacts": {"format": "sql", "sql": {"query": "select id, mail, ok from people",
                                                                   "url": "sqlite:///crm.db"},
                                          "columns": {"customer_id": "id", "email": "mail", "email_consent": "ok"}}}),
        encoding="utf-8")
    c = load_contacts(read_source_spec(tmp_path / "shop.yaml"))
    assert c.frame["customer_id"].tolist() == ["00042", "00043"] and c.frame["email_consent"].tolist() == [1, 0]


def _assigned(n=120):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"customer_id": pd.array([f"{i:05d}" for i in range(n)], dtype="string"),
                       "recency_days": rng.integers(0, 400, n), "frequency": rng.integers(1, 9, n),
                       "monetary": np.round(rng.gamma(2.0, 30.0, n), 2)})
    return assign_segments(score_quantiles(df))


def _contacts(a):
    k = np.arange(len(a))
    frame = pd.DataFrame({"customer_id": a["customer_id"], "name": "X",
                          "email": [None if i % 5 == 0 else f"c{i}@example.com" for i in k],
                          "phone": ["+79161234567" if i % 3 else None for i in k],
                          "email_consent": np.where(k % 4 == 0, 0, 1), "call_consent": np.where(k % 4 == 1, 0, 1),
                          "unsubscribed": np.where(k % 7 == 0, 1, 0)})
    return frame.iloc[:-10]  # the last 10 customers have no contacts row at all


def _expected(a, c, contact, consent):
    f = c.set_index("customer_id")
    out = {}
    for cid in a["customer_id"]:
        if cid not in f.index or pd.isna(f.loc[cid, contact]):
            out[cid] = "no_contact"
        elif f.loc[cid, "unsubscribed"] == 1:
            out[cid] = "unsubscribed"
        elif consent not in f.columns or f.loc[cid, consent] != 1:
            out[cid] = "no_consent"
        else:
            out[cid] = None
    return out


def test_mailing_lists_keep_only_customers_the_channel_reaches(tmp_path):
    a = _assigned()
    c = _contacts(a)
    ex = act.ExportWriter(tmp_path, "en", export_words("en"))
    man = act.write_mailing_lists(ex, a, contacts=c, channel="email", formats=["csv"])
    want = _expected(a, c, "email", "email_consent")
    listed = set()
    for r in man.itertuples():
        if r.csv_file:
            listed |= set(pd.read_csv(tmp_path / r.csv_file, dtype=str, encoding="utf-8-sig")["customer_id"])
    assert listed == {k for k, v in want.items() if v is None}
    totals = {reason: sum(v == reason for v in want.values()) for reason in ("no_contact", "unsubscribed", "no_consent")}
    assert {r: int(man[f"excluded_{r}"].sum()) for r in totals} == totals
    note = next(w for w in ex.warnings if w.get("code") == "consent_filter")
    assert {k: note[k] for k in totals} == totals and note["channel"] == "email"
    text = " ".join(contact_notes(ex.warnings, "en"))
    assert f"left out: {totals['no_contact']} without a contact for it, {totals['unsubscribed']} unsubscribed" in text
    # SMS: the phone is the contact, and the contacts record no SMS consent: nobody is reached ...
    ex2 = act.ExportWriter(tmp_path / "sms", "en", export_words("en"))
    man2 = act.write_mailing_lists(ex2, a, contacts=c, channel="sms", formats=["csv"])
    assert man2["customers"].sum() == 0 and man2["excluded_no_consent"].sum() > 0
    # ... unless the source states that SMS consent is not needed
    c2 = c.copy()
    c2.attrs["assume_consent"] = ("sms",)
    ex3 = act.ExportWriter(tmp_path / "sms2", "en", export_words("en"))
    man3 = act.write_mailing_lists(ex3, a, contacts=c2, channel="sms", formats=["csv"])
    want3 = _expected(a, c.assign(sms_consent=1), "phone", "sms_consent")
    assert man3["customers"].sum() == sum(v is None for v in want3.values())
    assert any(w.get("assumed_consent") for w in ex3.warnings)


def test_call_list_reaches_only_consenting_phones_and_ranks_them_without_gaps(tmp_path):
    a = _assigned()
    c = _contacts(a)
    ex = act.ExportWriter(tmp_path, "en", export_words("en"))
    out = act.write_call_list(ex, a, contacts=c, channel="call", formats=("csv",))
    calls = pd.read_csv(tmp_path / out["csv_file"], dtype={"customer_id": str}, encoding="utf-8-sig")
    want = _expected(a, c, "phone", "call_consent")
    assert set(calls["customer_id"]) <= {k for k, v in want.items() if v is None}
    assert calls["priority_rank"].tolist() == list(range(1, len(calls) + 1))
    full = act.write_call_list(act.ExportWriter(tmp_path / "all", "en", export_words("en")), a, formats=("csv",))
    every = pd.read_csv(tmp_path / "all" / full["csv_file"], dtype={"customer_id": str}, encoding="utf-8-sig")
    reachable = every[every["customer_id"].map(want).isna()]
    assert calls["customer_id"].tolist() == reachable["customer_id"].tolist()  # same order, priority kept
    assert calls["call_priority"].tolist() == pytest.approx(reachable["call_priority"].tolist())
    priority = set(every["customer_id"])  # every customer with a call priority (no max_rows)
    assert out["excluded"] == {r: sum(v == r for k, v in want.items() if k in priority)
                               for r in ("no_contact", "unsubscribed", "no_consent")}
    assert out["excluded"]["no_consent"] > 0


def test_stratified_holdout_is_exact_per_segment_seeded_and_order_free():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"customer_id": [f"{i:05d}" for i in range(1003)], "segment": rng.choice(list("abcde"), 1003)})
    a = stratified_holdout(df, 0.1, seed=3)
    assert (a["group"] == "control").sum() == round(0.1 * 1003)
    for s, part in a.groupby("segment"):
        assert abs((part["group"] == "control").sum() - 0.1 * len(part)) < 1, s
    shuffled = stratified_holdout(df.sample(frac=1, random_state=2), 0.1, seed=3)
    pd.testing.assert_frame_equal(a, shuffled)
    assert not stratified_holdout(df, 0.1, seed=4)["group"].equals(a["group"])
    with pytest.raises(ValueError):
        stratified_holdout(df, 1.0, seed=1)
