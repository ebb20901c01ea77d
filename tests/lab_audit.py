"""Count what JupyterLab shows wrong, notebook by notebook (issue 15 point 1), for any checkout.

    .venv/bin/python tests/lab_audit.py                              # this checkout, every notebook, en + ru
    git archive main | tar -x -C /tmp/rfm-main                       # an older commit, to compare with
    .venv/bin/python tests/lab_audit.py --checkout /tmp/rfm-main --notebooks 01 03 04

Starts the real JupyterLab of this environment on a scratch copy of ``--checkout`` (its notebooks
and package; nothing is written into the checkout), opens each notebook in the system Chromium,
runs it with JupyterLab's *Run All* and prints one line per notebook: outputs, outputs altered on
screen (maths typeset in them, or text other than the output's own HTML), error outputs, seconds
of Run All. ``--screenshots DIR`` saves the page at the first altered output of each notebook.
``--json FILE`` writes the same numbers. Exit status 1 when any output is altered or an error.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from lab_driver import REPO, lab_session, playwright_missing


def notebooks(checkout: Path, numbers: list[str], languages: list[str]) -> list[str]:
    names = sorted(p.name for p in (checkout / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if numbers:
        names = [n for n in names if n[:2] in numbers]
    out = []
    for lang in languages:
        folder = "notebooks" if lang == "en" else f"notebooks/{lang}"
        out += [f"{folder}/{n}" for n in names if (checkout / folder / n).is_file()]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkout", type=Path, default=REPO, help="project folder to audit (default: this one)")
    ap.add_argument("--notebooks", nargs="*", default=[], help="two-digit numbers (default: all)")
    ap.add_argument("--languages", nargs="*", default=["en", "ru"])
    ap.add_argument("--screenshots", type=Path, help="folder for a screenshot of each notebook")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args(argv)
    why = playwright_missing()
    if why:
        print(f"cannot audit: {why}", file=sys.stderr)
        return 2
    checkout = args.checkout.resolve()
    cases = notebooks(checkout, args.notebooks, args.languages)
    rows = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rfm-lab-audit-") as tmp:
        with lab_session(Path(tmp) / "project", checkout=checkout) as lab:
            print(f"{'notebook':<40} {'outputs':>7} {'altered':>7} {'errors':>6} {'seconds':>7}", flush=True)
            for rel in cases:
                try:
                    run = lab.run_all(rel, timeout=600)
                except TimeoutError as exc:
                    print(f"{rel:<40} timed out: {exc}", flush=True)
                    rows.append({"notebook": rel, "timeout": str(exc)})
                    lab.close_all()
                    continue
                row = {"notebook": rel, "outputs": len(run.outputs), "altered": len(run.altered),
                       "errors": len(run.errors), "seconds": round(run.seconds, 1),
                       "first_altered": run.altered[0].text[:300] if run.altered else "",
                       "first_error": run.errors[0].text[-500:] if run.errors else ""}
                rows.append(row)
                print(f"{rel:<40} {row['outputs']:>7} {row['altered']:>7} {row['errors']:>6} {row['seconds']:>7}",
                      flush=True)
                if args.screenshots:
                    bad = (run.altered or run.errors or [None])[0]
                    if bad is not None:
                        lab.scroll_to_output(bad.cell)
                    lab.screenshot(args.screenshots / (rel.replace("notebooks/", "").replace("/", "-")
                                                       .replace(".ipynb", ".png")))
                lab.close_all()
    total = {k: sum(r.get(k, 0) for r in rows) for k in ("outputs", "altered", "errors")}
    print(f"{'total':<40} {total['outputs']:>7} {total['altered']:>7} {total['errors']:>6} "
          f"{time.monotonic() - t0:>7.1f}  (wall, incl. JupyterLab start)")
    for r in rows:
        if r.get("first_altered"):
            print(f"  {r['notebook']}: first altered output: {r['first_altered'][:160]!r}")
        if r.get("first_error"):
            print(f"  {r['notebook']}: error: {r['first_error'][-200:]!r}")
    if args.json:
        args.json.write_text(json.dumps({"checkout": str(checkout), "rows": rows, "total": total}, indent=1),
                             encoding="utf-8")
    return 1 if total["altered"] or total["errors"] or any("timeout" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
