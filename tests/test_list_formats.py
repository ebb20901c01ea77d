"""List formats for e-mail services and CRMs (rfm_helpers.act.formats), on a generated contacts
table: the published column requirements (required columns, E.164 phones, UTF-8, dates),
rows without the needed contact or consent left out and counted."""
from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd
import pytest

from rfm_helpers import act
from rfm_helpers.act.formats import LIST_FORMATS, normalize_phones, valid_email
from rfm_helpers.report.texts.act import export_notes, export_words

from test_exports import NASTY_IDS, assigned

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
PHONES = ["8 (916) 123-45-67", "+7 916 123 45 67", "9161234567", "+1 (415) 555-2671", "12345", None,
          "8-800-555-35-35", "+44 20 7946 0958"]
EMAILS = ["anna@example.com", "not-an-email", None, "dup@example.com", "dup@example.com", "+tag@example.com",
          "=cmd@example.com", "ivan@пример.рф"]


def contacts_for(a: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(a)
    return pd.DataFrame({
        "customer_id": a["customer_id"].astype(str).to_numpy(),
        "first_name": rng.choice(["Анна", "Иван", "=cmd|' /C calc'!A0", "Zoë"], n),
        "last_name": rng.choice(["Петрова", "O'Neil", "Smith"], n),
        "name": rng.choice(["Анна Петрова", "Иван Иванов", "-Неизвестный"], n),
        "email": [EMAILS[i % len(EMAILS)] for i in range(n)],
        "phone": [PHONES[(i * 3) % len(PHONES)] for i in range(n)],
        "email_consent": [0 if i % 7 == 0 else 1 for i in range(n)],
    })


def read_import(path):
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")  # no BOM: it would stick to the first column's name
    text = data.decode("utf-8")  # UTF-8
    rows = list(csv.reader(io.StringIO(text), delimiter=","))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def test_phone_normalisation_against_phonenumbers_rules():
    phones, counts = normalize_phones(pd.Series(PHONES), "RU")
    assert phones.tolist()[:4] == ["+79161234567", "+79161234567", "+79161234567", "+14155552671"]
    assert pd.isna(phones.iloc[4]) and pd.isna(phones.iloc[5])
    assert phones.iloc[6] == "+78005553535" and phones.iloc[7] == "+442079460958"
    assert counts == {"phones": 7, "invalid": 1, "region_assumed": 3}
    assert all(E164.fullmatch(p) for p in phones.dropna())
    assert valid_email("a@b.co") and not valid_email("a b@c.d") and not valid_email("a@b") and not valid_email(None)


def test_service_formats_meet_their_published_requirements(tmp_path):
    a = assigned("ru", n=160, seed=2, ids=NASTY_IDS)
    contacts = contacts_for(a)
    ex = act.ExportWriter(tmp_path, "ru", export_words("ru"))
    man = act.write_mailing_lists(ex, a, contacts=contacts, formats=["csv", "mailchimp", "unisender", "amocrm"],
                                  test_recipients=[{"customer_id": "TEST-1", "email": "qa@example.com"}])
    by_id = contacts.set_index("customer_id")
    phones, _ = normalize_phones(contacts["phone"], "RU")
    e164 = {c: (None if pd.isna(p) else p) for c, p in zip(contacts["customer_id"], phones)}
    good_mail = {c: e for c, e in zip(contacts["customer_id"], contacts["email"]) if valid_email(e)}
    consent = dict(zip(contacts["customer_id"], contacts["email_consent"]))
    left_out = {w["file"]: w["count"] for w in man.attrs["warnings"] if w["code"] == "list_rows_left_out"}
    seen = {name: set() for name in LIST_FORMATS}
    for r in man.itertuples():
        real = a[a["segment"].astype(str) == r.segment]["customer_id"].tolist()
        for name, fmt in LIST_FORMATS.items():
            path = tmp_path / f"{name}_{r.segment}.csv"
            header, rows = read_import(path)
            assert header == [c.key for c in fmt.columns]
            if name == "mailchimp":  # Email Address is required; consent respected
                expected = [c for c in real if c in good_mail and consent[c]] + ["TEST-1"]
            elif name == "unisender":  # e-mail or phone; e-mail consent
                expected = [c for c in real if (c in good_mail or e164[c] is not None) and consent[c]] + ["TEST-1"]
            else:  # amoCRM: phone or e-mail, no consent flag of its own
                expected = [c for c in real if c in good_mail or e164[c] is not None] + ["TEST-1"]
            got = [row["Customer ID"] for row in rows]
            assert sorted(got) == sorted(expected), (name, r.segment)
            assert left_out.get(path.name, 0) == len(real) + 1 - len(expected)
            seen[name] |= set(got)
            for row in rows:
                cid = row["Customer ID"]
                for key in ("Phone Number", "phone", "Phone"):
                    if row.get(key):
                        assert E164.fullmatch(row[key]) and (cid == "TEST-1" or row[key] == e164[cid])
                for key in ("Email Address", "email", "E-mail"):
                    if row.get(key):
                        assert row[key] == good_mail.get(cid, "qa@example.com")  # byte for byte, '+tag@' too
                if row["Last Order Date"]:
                    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["Last Order Date"])
                if row["Total Spend"]:
                    assert re.fullmatch(r"-?\d+\.\d{2}", row["Total Spend"])  # no grouping, '.' decimal
                if name == "mailchimp" and cid != "TEST-1":
                    first = by_id.loc[cid, "first_name"]
                    assert row["First Name"] == ("'" + first if first.startswith("=") else first)
                    assert row["Tags"] == r.label
    assert "=cmd@example.com" in {row["Email Address"] for p in tmp_path.glob("mailchimp_*.csv")
                                  for row in read_import(p)[1]}
    codes = {w["code"]: w for w in ex.warnings}
    assert codes["phone_region_assumed"]["region"] == "RU" and codes["phones_invalid"]["count"] > 0
    assert codes["emails_invalid"]["count"] == sum(1 for e in contacts["email"] if pd.notna(e) and not valid_email(e)) == 20
    assert "duplicate_emails" in codes
    notes = " ".join(export_notes(ex.warnings, "ru"))
    assert "прочитаны как номера страны RU" in notes and "не включены" in notes


def test_unknown_list_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="list format"):
        act.write_mailing_lists(act.ExportWriter(tmp_path), assigned(), formats=["sendgrid"])
