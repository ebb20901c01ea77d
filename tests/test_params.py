"""RunParams: the one place run parameters are parsed and checked (command line and notebooks)."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, strategies as st

from rfm_helpers.params import (DEFAULT_CURRENCY, MissingFile, ParameterError, RunParams, check_notebook_parameters,
                                month_end, previous_month)


def test_month_defaults():
    p = RunParams.for_month("1998-06")
    assert p.analysis_date == dt.date(1998, 6, 30)
    assert p.language == "en" and p.window_days == 0 and p.currency == DEFAULT_CURRENCY
    assert p.notebook_values() == {"analysis_date": "1998-06-30", "source_config": "", "window_days": 0,
                                   "language": "en", "currency": "USD"}


@given(st.integers(1901, 2100), st.integers(1, 12), st.integers(0, 30))
def test_previous_month_steps_back(year, month, k):
    m = f"{year:04d}-{month:02d}"
    back = previous_month(m, k)
    y, mm = divmod(year * 12 + month - 1 - k, 12)
    assert back == f"{y:04d}-{mm + 1:02d}"
    assert month_end(back) < dt.date(year, month, 1) or k == 0


@pytest.mark.parametrize("values, name, words", [
    ({"language": "de"}, "language", "use one of: en, ru"),
    ({"analysis_date": "30.06.1998"}, "analysis_date", "YYYY-MM-DD"),
    ({"analysis_date": "1998-07-15"}, "analysis_date", "not in the month 1998-06"),
    ({"window_days": -5}, "window_days", "positive number of days"),
    ({"window_days": "a year"}, "window_days", "whole number"),
    ({"currency": "$"}, "currency", "ISO 4217"),
    ({"currency": "XYZ"}, "currency", "not a known ISO 4217"),
    ({"extra": {"segment_map": "clasic"}}, "", "segment_map 'clasic' is not a segment map; use one of: classic"),
    ({"extra": {"correction": "holmes"}}, "", "correction 'holmes' is not a correction method"),
    ({"extra": {"on_unknown": "skip"}}, "", "on_unknown 'skip' must be one of: exclude, error"),
    ({"extra": {"language": "ru"}}, "", "use the dedicated options, not --param, for: language"),
    ({"unknown_option": 1}, "unknown_option", "unknown parameter"),
])
def test_wrong_values_fail_with_one_short_sentence(values, name, words):
    with pytest.raises(ParameterError) as e:
        RunParams.for_month("1998-06", **values)
    msg = str(e.value)
    assert words in msg and "\n" not in msg and "pydantic" not in msg.lower() and len(msg) < 240
    assert e.value.name == name
    if name:
        assert msg.startswith(f"{name}: ")
    assert e.value._render_traceback_() == [f"ParameterError: {msg}"]  # IPython shows this line only


def test_a_missing_file_says_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingFile) as e:
        RunParams.for_month("1998-06", source_config="configs/shop.yaml")
    msg = str(e.value)
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, ValueError)
    assert msg.startswith("source config configs/shop.yaml not found; looked in ")
    assert str(tmp_path / "configs" / "shop.yaml") in msg  # the working folder ...
    from rfm_helpers.paths import project_root
    assert str(project_root() / "configs" / "shop.yaml") in msg  # ... and the project root
    with pytest.raises(MissingFile, match="campaign file data/c.csv not found; looked in"):
        RunParams.for_month("1998-06", extra={"campaign_path": "data/c.csv"})
    (tmp_path / "configs").mkdir()
    with pytest.raises(MissingFile, match="is a folder, not a file"):
        RunParams.for_month("1998-06", source_config="configs")


def test_relative_source_config_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shop.yaml").write_text("path: x.csv\n")
    p = RunParams.for_month("1998-06", source_config="shop.yaml")
    assert p.source_config == str(tmp_path / "shop.yaml")
    assert p.public()["source_config"] == "shop.yaml"  # never an absolute path in summary.json


@pytest.mark.parametrize("spec, option, expected", [
    ("currency: RUB\n", None, "RUB"),
    ("currency: eur\n", None, "EUR"),           # the spec's code, normalised
    ("currency: RUB\n", "USD", "USD"),          # the command line wins
    ("path: x.csv\n", None, "USD"),             # no currency key: USD
    ("- a list, not a mapping\n", None, "USD"),  # read defensively; the loader reports the spec itself
])
def test_currency_comes_from_the_option_else_the_source_spec(tmp_path, spec, option, expected):
    cfg = tmp_path / "shop.yaml"
    cfg.write_text(spec, encoding="utf-8")
    assert RunParams.for_month("1998-06", source_config=str(cfg), currency=option).currency == expected


def test_a_wrong_currency_in_the_spec_is_refused_naming_the_spec(tmp_path):
    cfg = tmp_path / "shop.yaml"
    cfg.write_text("currency: руб.\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="the source config states currency 'руб.'"):
        RunParams.for_month("1998-06", source_config=str(cfg))


@pytest.mark.parametrize("values", [
    {"db_password": "x"},
    {"note": "sqlite:///x.db?password=hunter22"},
])
def test_credentials_are_refused(values):
    with pytest.raises(ParameterError, match="credential"):
        RunParams.for_month("1998-06", extra=values)
    with pytest.raises(ParameterError, match="credentials"):
        RunParams.for_month("1998-06", source_config="postgresql://analyst:pa55word@db/shop")


def test_notebook_parameters_use_the_same_model():
    p = check_notebook_parameters(analysis_date="", source_config="", window_days=0, language="ru",
                                  currency="RUB", run_dir="/tmp/x", segment_map="three_groups", n_clusters=0)
    assert p.analysis_date is None  # "": the last date in the data
    assert p.extra == {"segment_map": "three_groups", "n_clusters": 0}
    with pytest.raises(ParameterError, match="^language: 'de' is not available"):
        check_notebook_parameters(analysis_date="1998-06-30", language="de")
    with pytest.raises(ParameterError, match="segment map"):
        check_notebook_parameters(segment_map="rfm11")
    with pytest.raises(ParameterError, match="^analysis_date: must be a date"):
        check_notebook_parameters(analysis_date="yesterday")


def test_list_formats_are_checked_by_name():
    from rfm_helpers.params import ParameterError, check_notebook_parameters

    assert check_notebook_parameters(list_formats="mailchimp, AmoCRM").extra["list_formats"] == "mailchimp, AmoCRM"
    assert check_notebook_parameters(list_formats="").extra["list_formats"] == ""
    with pytest.raises(ParameterError, match=r"'sendpulse' is not a list format.*mailchimp, unisender, amocrm"):
        check_notebook_parameters(list_formats="mailchimp,sendpulse")
