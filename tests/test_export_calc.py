"""A real client opens every export: LibreOffice Calc, headless, with the Text Import dialog's
default options in the en_US and ru_RU locales, and with a careful user's options; pandas with
the README recipe. Column counts, ids, amounts and dates are compared with the data the files
were written from. Skipped (with a warning) where LibreOffice is not installed (``make calc``)."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from rfm_helpers import act
from rfm_helpers.report.texts.act import export_words

from export_readers import (Truth, calc_careful, calc_default, check_rows, check_workbook, convert, csv_header, csv_ids,
                            read_pandas, read_xlsx, read_xlsx_sheets, soffice)
from test_exports import NASTY_IDS, assigned

pytestmark = pytest.mark.slow

if soffice() is None:  # pragma: no cover - depends on the machine
    warnings.warn("LibreOffice is not installed (make calc): the real-client export test is skipped")
    pytest.skip("LibreOffice (soffice) not installed", allow_module_level=True)

_NUMBER_LIKE = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?(?:[eE][+-]?[0-9]+)?")


def write_all(folder: Path, language: str) -> tuple[list[Path], list[Path], pd.DataFrame]:
    """Every export file of a run on generated data with ids of real shapes."""
    a = assigned(language, n=160, seed=4, ids=NASTY_IDS)
    contacts = pd.DataFrame({"customer_id": a["customer_id"], "name": "Анна",
                             "email": [f"c{i}@example.com" for i in range(len(a))], "phone": "+79161234567"})
    ex = act.ExportWriter(folder, language, export_words(language), source_name="generated",
                          as_of=pd.Timestamp("2024-12-31").date())
    act.write_scores(ex, a)
    act.write_mailing_lists(ex, a, contacts=contacts, test_recipients=[{"customer_id": "TEST-1"}])
    act.write_call_list(ex, a, max_rows=50)
    act.write_excluded_customers(ex, pd.Series(["00042", "=1+2"], dtype="string"))
    effects = pd.DataFrame({"segment": ["champions; loyal"], "metric": ["revenue"], "group": ["treatment"],
                            "control": ["control"], "n_t": [10], "n_c": [12], "mean_t": [1134.15], "mean_c": [0.5],
                            "diff": [1133.65], "ci_low": [-0.1], "ci_high": [1.1], "p_value": [1.2e-8],
                            "test": ["welch"], "alpha": [0.05], "rel_lift": [1.0], "rel_ci_low": [0.2],
                            "rel_ci_high": [2.0], "p_adjusted": [0.01], "n_comparisons": [1], "significant": [True]})
    act.write_segment_effects(ex, effects, "treatment", "revenue")
    movers = a[["customer_id", "segment", "monetary", "recency_days"]].head(20)
    movers = pd.DataFrame({"customer_id": movers["customer_id"], "from": movers["segment"].astype(str),
                           "to": "lost", "monetary_before": movers["monetary"], "recency_days": movers["recency_days"]})
    act.write_migration_list(ex, movers, {"lost": "Lost"}, "2024-12")
    csvs = sorted(f for f in folder.glob("*.csv") if f.name != act.DICTIONARY_FILE)
    return csvs, sorted(folder.glob("*.xlsx")), a


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both dialects written and opened: Calc default in both locales, Calc careful, workbooks."""
    root = tmp_path_factory.mktemp("calc")
    profile = root / "lo-profile"  # this worker's own LibreOffice profile, reused by its conversions
    out = {}
    for language in ("en", "ru"):
        csvs, books, a = write_all(root / language, language)
        truth = Truth.from_rfm(a)
        truth.money["monetary_before"] = truth.money["monetary"]  # the migration list above copies it
        out[language] = {"csv": csvs, "xlsx": books, "truth": truth, "assigned": a}
    both = out["en"]["csv"] + out["ru"]["csv"]
    for locale in ("en_US", "ru_RU"):  # one soffice process converts every file
        conv = convert(both, root / f"default-{locale}", calc_default(locale), locale, profile=profile)
        for language in ("en", "ru"):
            out[language][f"default-{locale}"] = conv
    for language, sep, locale in (("en", ",", "en_US"), ("ru", ";", "ru_RU")):
        out[language]["careful"] = convert(out[language]["csv"], root / f"careful-{language}",
                                           calc_careful(sep, locale), locale, profile=profile)
    books = out["en"]["xlsx"] + out["ru"]["xlsx"]
    conv = convert(books, root / "books", "", "ru_RU", profile=profile)
    for language in ("en", "ru"):
        out[language]["books"] = conv
    return out


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("locale", ["en_US", "ru_RU"])
def test_calc_default_import_keeps_columns_and_formulas_inert(runs, language, locale):
    run = runs[language]
    matched = (language == "ru") == (locale == "ru_RU")
    names = {f.name for f in run["csv"]}
    assert {"rfm_scores.csv", "call_list.csv", "campaign_excluded_customers.csv", "mailing_champions.csv",
            "campaign_segment_effects_treatment_revenue.csv", "migration_at_risk_2024-12.csv"} <= names
    for f in run["csv"]:
        header = csv_header(f)[0]
        rows = read_xlsx(run[f"default-{locale}"][f])
        c = check_rows(f.name, "calc-default", rows, run["truth"], header, csv_ids(f))
        assert c.bad_width == 0, (f.name, locale, c.examples)  # every row has the header's columns
        assert all(len([v for v in r if v is not None]) <= len(header) for r in rows)
        if "customer_id" in header:
            i = header.index("customer_id")
            shown = [r[i] for r in rows[1:]]
            raw = [r[i] for r in csv_rows(f)]
            for s, w in zip(shown, raw):
                if not _NUMBER_LIKE.fullmatch(w.strip()):
                    assert s == w, (f.name, s, w)  # only number-like ids are turned into numbers
            assert "=1+2" not in raw or "=1+2" in shown  # formulas are not evaluated
        if matched:  # in the run's own locale amounts are numbers and dates are dates
            assert c.bad_numbers == 0 and c.bad_dates == 0, (f.name, c.examples)
            if c.numbers == 0 and f.name.startswith(("rfm_scores", "mailing_", "call_list", "migration")):
                pytest.fail(f"{f.name}: no amount checked")


def csv_rows(path):
    import csv

    header, sep = csv_header(path)
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.reader(text.splitlines(), delimiter=sep))[1:]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_calc_careful_and_pandas_recipe_see_the_exact_data(runs, language):
    run = runs[language]
    for f in run["csv"]:
        header = csv_header(f)[0]
        for reader, rows in (("calc-careful", read_xlsx(run["careful"][f])), ("pandas", read_pandas(f, language))):
            c = check_rows(f.name, reader, rows, run["truth"], header, csv_ids(f))
            assert c.ok, (f.name, reader, c.cell(), c.examples)
            if "customer_id" in header:
                assert c.ids == len(rows) - 1 > 0
        if f.name == "rfm_scores.csv":
            ids = [r[0] for r in read_xlsx(run["careful"][f])[1:]]
            assert sorted(ids) == sorted(NASTY_IDS + [i for i in run["assigned"]["customer_id"] if i not in NASTY_IDS])
    effects = next(f for f in run["csv"] if f.name.startswith("campaign_segment_effects"))
    rows = read_xlsx(run["careful"][effects])
    header = rows[0]
    assert rows[1][header.index("mean_t")] == 1134.15 and rows[1][header.index("p_value")] == pytest.approx(1.2e-8)
    assert rows[1][header.index("segment")] == "champions; loyal"


@pytest.mark.parametrize("language", ["en", "ru"])
def test_workbooks_open_in_calc_with_ids_as_text_and_typed_cells(runs, language):
    run = runs[language]
    assert {f.name for f in run["xlsx"]} == {"mailing_lists.xlsx", "call_list.xlsx"}
    for f in run["xlsx"]:
        sheets = read_xlsx_sheets(run["books"][f])
        c = check_workbook(f.name, "calc", sheets, run["truth"])
        assert c.ok and c.ids > 0 and c.dates > 0, (f.name, c.cell(), c.examples)
        about = [v for r in list(sheets.values())[0] for v in r if v is not None]
        assert "generated" in about and pd.Timestamp("2024-12-31") in [pd.Timestamp(v) for v in about
                                                                         if hasattr(v, "year")]
        if f.name == "mailing_lists.xlsx":
            ids = {r[0] for rows in list(sheets.values())[1:] for r in rows[1:] if r and r[0] is not None}
            assert set(NASTY_IDS) <= ids  # '=1+2', '@SUM(1;2)', '00001' ... all text, none evaluated
