"""``rfm-report init FILE`` (issue 15 point 7): a source spec draft for a new export.

Round trip on generated exports of several shapes (tests/init_exports.py): the draft either
loads to the right totals (rows kept and their amount, computed while writing the export), or
names the one option left to set; setting that option as an analyst would makes it load to the
right totals. init never guesses: two customer-like columns, no currency anywhere, dates that do
not tell day from month are left to the analyst."""
from __future__ import annotations

import yaml
import pytest

from init_exports import MAKERS
from rfm_helpers.load import load_transactions, read_source_spec
from rfm_helpers.load.init import draft_yaml, inspect_export, write_draft
from rfm_helpers.report.cli import main


def _load(path):
    return load_transactions(read_source_spec(path))


def _merge(data: dict, fill: dict) -> dict:
    for k, v in fill.items():
        data[k] = _merge(dict(data.get(k) or {}), v) if isinstance(v, dict) else v
    return data


@pytest.mark.parametrize("make", MAKERS, ids=lambda m: m.__name__)
def test_init_round_trip(make, tmp_path):
    export = make(tmp_path)
    target, draft = write_draft(export.path)
    assert target == export.path.with_suffix(".yaml")
    text = target.read_text(encoding="utf-8")
    spec = read_source_spec(target)  # the draft is a valid strict spec as written
    assert spec.path == export.path.name
    left = [option for option, _ in draft.undecided]
    if export.left is None:
        assert left == [], draft.undecided
        assert "# TO DECIDE" not in text and ": TO DECIDE" not in text.replace("#", ":")
    else:
        assert left == [export.left], draft.undecided  # exactly the one option, named
        assert f"TO DECIDE" in text and export.left.split(".")[-1] in text
        data = _merge(yaml.safe_load(text), export.fill)
        target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = _load(target)
    assert result.rows_in == export.rows
    assert result.rows_kept == export.kept
    assert round(float(result.clean["amount"].sum()), 2) == pytest.approx(export.total, abs=0.005)


def test_init_reports_what_it_decided_in_the_draft(tmp_path):
    from init_exports import one_c_cp1251

    export = one_c_cp1251(tmp_path)
    draft = inspect_export(export.path)
    assert draft.read == {"encoding": "cp1251", "sep": ";", "header_row": 4}
    assert draft.columns == {"order_date": "Дата", "amount": "Сумма", "customer_id": "Клиент",
                             "order_id": "Номер документа", "status": "Статус"}
    assert draft.options == {"dates": {"order": "day_first"}, "amounts": {"decimal": ","}}
    assert draft.currency == "RUB"
    assert draft.statuses == {"counted": ["Оплачен"], "excluded": ["Отменён"]}
    text = draft_yaml(draft)
    assert "header_row: 4" in text and "dates: {order: 'day_first'}" in text and "currency: RUB" in text


def test_init_command_line(tmp_path, capsys):
    from init_exports import us_dates_ambiguous

    export = us_dates_ambiguous(tmp_path)
    assert main(["init", str(export.path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {export.path.with_suffix('.yaml')}" in out
    assert "left to decide (1)" in out and "dates.order" in out and "month_first" in out
    assert main(["init", str(export.path)]) == 2  # never overwrites without --force
    assert "exists" in capsys.readouterr().err
    assert main(["init", str(export.path), "--force", "-o", str(tmp_path / "mine.yaml")]) == 0
    assert (tmp_path / "mine.yaml").exists()
    assert main(["init", str(tmp_path / "missing.csv")]) == 2
