"""What an analyst sees in JupyterLab (issue 15, points 1, 2 and 6), in the real JupyterLab of
this environment driven through the system Chromium (Playwright; ``tests/lab_driver.py``).

One JupyterLab server on 127.0.0.1 serves a scratch copy of the project; notebooks 01 (load) and
03 (segmentation, the exports) in English (``notebooks/``) and in Russian (``notebooks/ru/``), and
04 (the A/B test, where maths typesetting garbled the headline) in English, are opened and run
with JupyterLab's own *Run All*, one after the other, and their rendered outputs are read from
the page (``RFM_LAB_NOTEBOOKS=all`` runs all six in both languages; ``tests/lab_audit.py`` prints
the counts per notebook for any checkout):

* no output is altered: no maths typeset in it (``mjx-container``/``.MathJax`` elements; before
  the fix 20 of 142 English outputs were, e.g. "raised revenue per customer by 1.59(from7.72 to
  9.31"), and each HTML output shows exactly the text of its own HTML;
* no error outputs;
* the figures an analyst checks first are there as text (rows read, customers: counted here
  from the bundled file independently of the package);
* saved by JupyterLab after the run, the notebook goes through the git filter to exactly the
  committed file (git stays clean after interactive work);
* JupyterLab's kernels pick up an analyst's settings file (``rfm_settings.yaml`` in the scratch project,
  fewer bootstrap resamples) and the first code cell says which values it took;
* the interactive run wrote into its own folder (``reports/_interactive/cdnow_1998-06-30/``,
  exports with their README.txt, snapshots inside it, none in the monthly store).

A screenshot of every notebook is saved under ``test-artifacts/jupyterlab/``. Skipped, with a
warning, only where Chromium is missing; Playwright (a test extra) never downloads a browser.
"""
from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest

from lab_driver import REPO, chromium, lab_session
from rfm_helpers.report import gitclean

ARTIFACTS = REPO / "test-artifacts" / "jupyterlab"
#: What runs by default (about a minute and a half on a quiet 2-core machine): 01 and 03 in both
#: languages, 04 (where maths typesetting garbled the headline) in English.
#: RFM_LAB_NOTEBOOKS=all runs all six in both languages; "01 05" runs those two in both.
DEFAULT = ["notebooks/01_load_and_validate.ipynb", "notebooks/03_segmentation.ipynb",
           "notebooks/04_campaign_ab_test.ipynb", "notebooks/ru/01_load_and_validate.ipynb",
           "notebooks/ru/03_segmentation.ipynb"]
_CHOICE = os.environ.get("RFM_LAB_NOTEBOOKS", "").split()
NOTEBOOKS = [p.name for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
             if _CHOICE == ["all"] or p.name[:2] in _CHOICE]
CASES = ([f"notebooks/{n}" for n in NOTEBOOKS] + [f"notebooks/ru/{n}" for n in NOTEBOOKS]) if _CHOICE else DEFAULT

if chromium() is None:
    warnings.warn("JupyterLab browser test skipped: Chromium is not installed (Debian: apt-get install chromium; "
                  "`make browser` does it)", stacklevel=1)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium; "
                       "`make browser` does it)"),
]


SETTINGS = "bootstrap_reps: 0\n"


@pytest.fixture(scope="module")
def lab():
    pytest.importorskip("playwright.sync_api", reason="playwright is a test extra: make install-test")
    root = Path(tempfile.mkdtemp(prefix="rfm-lab-"))
    settings = root / "rfm_settings.yaml"
    with lab_session(root, env={"RFM_SETTINGS": str(settings)}) as browser:
        # An analyst's settings file, as JupyterLab's kernels find it when a notebook runs
        # (point 4); fewer resamples keep the test short (the stability and bootstrap code runs
        # in full under nbval).
        settings.write_text(SETTINGS, encoding="utf-8")
        yield browser


@pytest.fixture(scope="module")
def cdnow_counts():
    """Rows, purchases (positive amounts), buying customers and revenue of the bundled CDNOW file,
    counted here with pandas, without the package."""
    path = REPO / "rfm_helpers" / "data" / "cdnow" / "CDNOW_master.txt"
    df = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str})
    kept = df[df["dollar_value"] > 0]
    return {"rows": len(df), "purchases": len(kept), "customers": kept["customer_id"].nunique(),
            "revenue": int(round(kept["dollar_value"].sum()))}


def digits(text: str) -> str:
    """Text without spaces (any kind) and thousands commas: '23 570' and '23,570' -> '23570'."""
    return re.sub(r"[\s\u00a0\u202f,]", "", text)


@pytest.mark.parametrize("relpath", CASES, ids=lambda p: p.replace("notebooks/", "").replace(".ipynb", ""))
def test_notebook_in_jupyterlab(lab, relpath, cdnow_counts):
    original = (lab.server.root / relpath).read_text(encoding="utf-8")
    run = lab.run_all(relpath, timeout=600)
    shot = ARTIFACTS / (relpath.replace("notebooks/", "").replace("/", "-").replace(".ipynb", ".png"))
    first_bad = (run.altered or run.errors or [None])[0]
    if first_bad is not None:
        lab.scroll_to_output(first_bad.cell)
    lab.screenshot(shot)
    try:
        assert run.outputs, "no outputs at all"
        assert not run.errors, f"error output in cell {run.errors[0].cell}: {run.errors[0].text[:1500]}"
        assert not run.altered, (f"{len(run.altered)} of {len(run.outputs)} outputs altered on screen, first in cell "
                                 f"{run.altered[0].cell}: {run.altered[0].text[:300]!r} (screenshot {shot})")
        # the text cells: rendered, no maths in them, each heading once, in the notebook's language
        assert run.markdown and all(m.rendered for m in run.markdown), "a Markdown cell is not rendered"
        assert not any(m.maths for m in run.markdown), "maths typeset in a Markdown cell"
        assert run.headings and len(set(run.headings)) == len(run.headings), run.headings
        cyrillic = [h for h in run.headings if re.search("[\u0400-\u04ff]", h)]
        assert cyrillic == (run.headings if "/ru/" in relpath else []), run.headings
        # tables and charts are there as tables and images
        assert sum(o.tables for o in run.outputs) >= 1 and sum(o.images for o in run.outputs) >= 1
        if relpath.endswith("03_segmentation.ipynb"):  # the only notebook of this set with bootstrap_reps
            first = run.outputs[0].text if run.outputs else ""
            assert "rfm_settings.yaml" in first and "bootstrap_re" in first, f"settings not reported: {first[:500]!r}"
        text = digits(run.text())
        if relpath.endswith("01_load_and_validate.ipynb"):
            for key in ("rows", "purchases", "customers", "revenue"):
                assert str(cdnow_counts[key]) in text, key
        if relpath.endswith("02_rfm.ipynb"):
            assert str(cdnow_counts["customers"]) in text
        if relpath.endswith("04_campaign_ab_test.ipynb") and "/ru/" not in relpath:
            # the verdict sentence, two dollar amounts in one output (maths typesetting garbled such
            # sentences before): "... by +$1.59 compared with ... (95% confidence interval +$0.65 to +$2.54)"
            assert re.search(r"by [+\u2212-]\$\d+\.\d\d compared with .{1,40}\(95% confidence interval "
                             r"[+\u2212-]\$\d+\.\d\d to [+\u2212-]\$\d+\.\d\d\)", run.text()), run.text()[:3000]
        lab.save()
        saved = (lab.server.root / relpath).read_text(encoding="utf-8")
        assert saved != original, "JupyterLab saved nothing (the run's outputs should be in the file)"
        assert gitclean.strip(saved) == original, "saved by JupyterLab, the notebook does not strip to the committed one"
    finally:
        lab.close_all()


def test_interactive_runs_wrote_into_their_own_folder(lab):
    """After the notebooks above ran (module order): one folder for the bundled source and the
    analysis date, exports labelled, snapshots inside it and none in the monthly store."""
    reports = lab.server.root / "reports"
    folders = sorted(p.name for p in (reports / "_interactive").iterdir() if p.is_dir())
    assert folders == ["cdnow_1998-06-30"], folders
    run = reports / "_interactive" / "cdnow_1998-06-30"
    if any(c.endswith("03_segmentation.ipynb") for c in CASES):  # the notebook that writes the lists
        readme = (run / "exports" / "README.txt").read_text(encoding="utf-8")
        assert "1998-06-30" in readme and "mailing_lists.xlsx" in readme and "call_list.csv" in readme
    if any(c.endswith("05_segment_migration.ipynb") for c in CASES):
        assert any(run.joinpath("snapshots").glob("segments_*.parquet"))
    assert not (reports / "snapshots").exists()
    assert not list((reports / "_interactive").glob("*.csv")) and not (reports / "_interactive" / "exports").exists()
