"""Notebooks of a run executing at the same time (rfm_helpers.report.schedule and the runner):
the start rules, the summary's per-notebook parts, the exports' listing under a lock, and
whole runs of tiny notebooks that prove two marked notebooks overlap, that a failure stops
the other one and that what is published does not depend on which notebook finished first."""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings, strategies as st

from rfm_helpers.report import summary
from rfm_helpers.report.execute import NotebookFailed
from rfm_helpers.report.run import run_month
from rfm_helpers.report.schedule import JOBS_ENV, Schedule, report_jobs, runs_beside_others, start_priority
from runner_fixtures import make_notebook

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the start rules

def _simulate(beside: list[bool], jobs: int, finish_order_seed: int,
              prio: list[int] | None = None) -> list[tuple[str, int, set[int]]]:
    """Drive a Schedule to the end; which running notebook finishes next is drawn from the seed.
    Returns the events: ("start", i, running before the start) and ("done", i, running)."""
    import random

    rnd = random.Random(finish_order_seed)
    plan = Schedule(beside, jobs, prio)
    events = []
    while not plan.finished():
        for i in plan.startable():
            events.append(("start", i, set(plan.running)))
            plan.started(i)
        assert plan.running, "nothing runs and nothing can start: the schedule is stuck"
        i = rnd.choice(sorted(plan.running))
        plan.done(i)
        events.append(("done", i, set(plan.running)))
    return events


@settings(max_examples=300, deadline=None)
@given(data=st.data(), beside=st.lists(st.booleans(), min_size=1, max_size=9), jobs=st.integers(1, 4),
       seed=st.integers(0, 10**6))
def test_the_schedule_keeps_every_rule_whatever_finishes_first(data, beside, jobs, seed):
    prio = data.draw(st.lists(st.integers(-2, 2), min_size=len(beside), max_size=len(beside)))
    events = _simulate(beside, jobs, seed, prio)
    starts = [i for kind, i, _ in events if kind == "start"]
    assert sorted(starts) == list(range(len(beside)))  # every notebook once
    for a, b in zip(starts, starts[1:]):  # name order, but a higher priority first among marked neighbours
        if a > b:
            assert beside[a] and beside[b] and all(beside[k] for k in range(b, a)) and prio[a] > prio[b]
        elif beside[a] and beside[b] and all(beside[k] for k in range(a, b)):
            assert prio[a] >= prio[b]
    done: set[int] = set()
    for kind, i, running in events:
        if kind == "done":
            done.add(i)
            continue
        assert len(running) < jobs  # never more than jobs at once
        earlier = set(range(i))
        if beside[i]:  # waits for every earlier notebook that is not marked
            assert {j for j in earlier if not beside[j]} <= done
        else:  # waits for every earlier notebook, and runs alone
            assert earlier <= done and not running


def test_the_bundled_set_runs_01_and_02_alone_then_03_to_06_two_at_a_time():
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    beside = [runs_beside_others(p) for p in notebooks]
    assert [p.stem[:2] for p, b in zip(notebooks, beside) if b] == ["03", "04", "05", "06"]
    prio = [start_priority(p) for p in notebooks]
    assert [p.stem[:2] for p, k in zip(notebooks, prio) if k > 0] == ["04", "06"]  # short 04, then the longest
    for p in sorted((ROOT / "notebooks" / "ru").glob("[0-9][0-9]_*.ipynb")):  # the generated set says the same
        assert runs_beside_others(p) == runs_beside_others(ROOT / "notebooks" / p.name)
        assert start_priority(p) == start_priority(ROOT / "notebooks" / p.name)
    plan = Schedule(beside, 2, prio)
    assert plan.startable() == [0] and plan.next() == [0]  # kernels started ahead: 01's alone
    plan.started(0)
    assert plan.next() == [1]
    plan.done(0)
    assert plan.startable() == [1]
    plan.started(1)
    assert plan.next() == [3, 5, 2]  # while 02 runs, the kernels of 04, 06 and 03 start
    plan.done(1)
    assert plan.startable() == [3, 5]
    for i in (3, 5):
        plan.started(i)
    assert plan.next() == [2]  # no free slot: one kernel waits (03's)
    plan.spare = 0  # a large run: none waits
    assert plan.next() == []
    plan.done(3)
    assert plan.startable() == [2] and plan.next() == [2]  # 03 beside 06, then 05


def test_jobs_come_from_the_environment_and_are_checked(monkeypatch):
    assert report_jobs({JOBS_ENV: "1"}) == 1
    assert report_jobs({JOBS_ENV: " 3 "}) == 3
    assert report_jobs({}) == (3 if (os.cpu_count() or 1) >= 2 else 1)
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(ValueError, match=JOBS_ENV):
            report_jobs({JOBS_ENV: bad})


# ----------------------------------------------------------------------------- shared files

def test_summary_parts_merge_in_notebook_order_whoever_wrote_first(tmp_path, monkeypatch):
    def write(notebook, *records):
        monkeypatch.setenv("RFM_NOTEBOOK", notebook)
        for section, key, value in records:
            if key is None:
                summary.record_section(section, value, run_dir=tmp_path)
            else:
                summary.record(key, value, section=section, run_dir=tmp_path)

    # the later notebook writes first
    write("04_b", ("headline", "b", 2), ("campaigns", None, {"y": 1}), ("headline", "a", 9))
    write("03_a", ("headline", "a", 1), ("analyst", "k", 3), ("campaigns", None, {"x": 1}))
    monkeypatch.delenv("RFM_NOTEBOOK")
    expected = {"headline": {"a": 9, "b": 2}, "analyst": {"k": 3}, "campaigns": {"y": 1}}
    got = summary.load(tmp_path)
    assert list(got) == ["headline", "analyst", "campaigns"] and list(got["headline"]) == ["a", "b"]
    assert {s: (v if s == "campaigns" else {k: e["value"] for k, e in v.items()}) for s, v in got.items()} == expected
    assert summary.collect(tmp_path) == got
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # the parts are gone
    assert json.loads((tmp_path / "summary.json").read_text(encoding="utf-8")) == got


def _listing_writer(exports: str, name: str, rounds: int) -> None:
    from rfm_helpers.act.files import FileRecord
    from rfm_helpers.act.writer import ExportWriter

    w = ExportWriter(Path(exports))
    for r in range(rounds):
        w.add(FileRecord(f"{name}_{r}.csv", r + 1, "csv"))


def test_writers_in_several_processes_lose_no_file_of_the_listing(tmp_path):
    exports = tmp_path / "exports"
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    procs = [ctx.Process(target=_listing_writer, args=(str(exports), f"w{k}", 25)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    listing = json.loads((exports / ".files.json").read_text(encoding="utf-8"))
    names = [f"w{k}_{r}.csv" for k in range(4) for r in range(25)]
    assert list(listing["files"]) == sorted(names)  # every file, in name order
    readme = (exports / "README.txt").read_text(encoding="utf-8")
    assert all(n in readme for n in names)
    assert not [p for p in exports.iterdir() if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- whole runs

STAMP = '''import json, os, time
from pathlib import Path
from rfm_helpers.report import summary
t0 = time.time()
time.sleep({sleep})
{fail}
Path(run_dir, "{name}.times").write_text(json.dumps([t0, time.time()]))
summary.record("{name}", {value}, "{name}")
'''


def _set(folder: Path, fail: str = "") -> Path:
    """01 alone, then 02 (sleeps 8 s) and 03 (1 s) marked to run beside others, then 04 alone."""
    for name, sleep, beside in (("01_first", 0, False), ("02_left", 8, True), ("03_right", 1, True),
                                ("04_last", 0, False)):
        path = make_notebook(folder / f"{name}.ipynb", name, [STAMP.format(
            sleep=sleep, name=name, value=int(name[:2]),
            fail="raise RuntimeError('broken on purpose')" if name == fail else "")])
        if beside:
            nb = nbformat.read(path, as_version=4)
            nb.metadata["rfm"] = {"runs_beside_others": True}
            nbformat.write(nb, path)
    return folder


def _times(month_dir: Path) -> dict[str, tuple[float, float]]:
    return {p.stem: tuple(json.loads(p.read_text())) for p in month_dir.glob("*.times")}


@pytest.mark.parametrize("jobs", ["2", "1"])
def test_marked_notebooks_overlap_and_the_report_is_the_same(tmp_path, monkeypatch, jobs):
    monkeypatch.setenv(JOBS_ENV, jobs)
    month = run_month("2024-12", reports_dir=tmp_path / "r", notebooks_dir=_set(tmp_path / "nb"), progress=False)
    t = _times(month)
    if jobs == "2":  # 03 ran while 02 slept (its kernel had 8 s to come up)
        assert t["03_right"][0] < t["02_left"][1] and t["02_left"][0] < t["03_right"][1]
    else:
        assert t["02_left"][1] <= t["03_right"][0]
    assert t["01_first"][1] <= min(t["02_left"][0], t["03_right"][0])  # 01 before both
    assert t["04_last"][0] >= max(t["02_left"][1], t["03_right"][1])  # 04 after both
    data = json.loads((month / "summary.json").read_text(encoding="utf-8"))
    assert list(data["headline"]) == ["01_first", "02_left", "03_right", "04_last"]  # notebook order
    assert [n["name"] for n in data["run"]["notebooks"]] == [f"{n}.ipynb" for n in
                                                               ("01_first", "02_left", "03_right", "04_last")]
    assert not (month / summary.PARTS_DIR).exists()
    index = (month / "index.html").read_text(encoding="utf-8")
    assert all(f"{n}.html" in index for n in ("01_first", "02_left", "03_right", "04_last"))


def test_a_failing_notebook_stops_the_one_beside_it(tmp_path, monkeypatch):
    monkeypatch.setenv(JOBS_ENV, "2")
    folder = _set(tmp_path / "nb", fail="02_left")
    path = folder / "02_left.ipynb"  # 02 fails after 3 s, while 03 runs
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].source = nb.cells[-1].source.replace("time.sleep(8)", "time.sleep(3)")
    nbformat.write(nb, path)
    # 03 would run for a minute: the failure of 02 must stop it
    path = folder / "03_right.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].source = nb.cells[-1].source.replace("time.sleep(1)", "time.sleep(60)")
    nbformat.write(nb, path)
    t0 = time.perf_counter()
    with pytest.raises(NotebookFailed) as err:
        run_month("2024-12", reports_dir=tmp_path / "r", notebooks_dir=folder, progress=False)
    assert time.perf_counter() - t0 < 45
    assert err.value.notebook == "02_left.ipynb" and "broken on purpose" in err.value.error
    assert not (tmp_path / "r" / "2024-12").exists()  # nothing published
    kept = tmp_path / "r" / ".failed-2024-12"
    assert (kept / "02_left.ipynb").exists() and not (kept / "04_last.ipynb").exists()


def test_large_runs_go_one_at_a_time():
    from rfm_helpers.report.schedule import MAX_CUSTOMERS, MAX_CUSTOMERS_ENV, WIDE_MAX_CUSTOMERS, jobs_for_customers

    assert jobs_for_customers(2, None, {}) == 2  # size not known yet
    assert jobs_for_customers(2, MAX_CUSTOMERS, {}) == 2
    assert jobs_for_customers(2, MAX_CUSTOMERS + 1, {}) == 1
    assert jobs_for_customers(2, 10**9, {MAX_CUSTOMERS_ENV: "0"}) == 2  # no limit
    # three at once up to WIDE_MAX_CUSTOMERS, two above it, unless RFM_REPORT_JOBS says so
    assert jobs_for_customers(3, WIDE_MAX_CUSTOMERS, {}) == 3
    assert jobs_for_customers(3, WIDE_MAX_CUSTOMERS + 1, {}) == 2
    assert jobs_for_customers(3, WIDE_MAX_CUSTOMERS + 1, {JOBS_ENV: "3"}) == 3
    assert jobs_for_customers(3, MAX_CUSTOMERS + 1, {JOBS_ENV: "3"}) == 1
    assert jobs_for_customers(3, None, {}) == 3
    assert jobs_for_customers(2, 1001, {MAX_CUSTOMERS_ENV: "1_000"}) == 1
    with pytest.raises(ValueError, match=MAX_CUSTOMERS_ENV):
        jobs_for_customers(2, 5, {MAX_CUSTOMERS_ENV: "many"})


def test_a_run_above_the_customers_limit_runs_its_notebooks_one_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setenv(JOBS_ENV, "2")
    monkeypatch.setenv("RFM_REPORT_JOBS_MAX_CUSTOMERS", "100")
    folder = _set(tmp_path / "nb")
    first = folder / "01_first.ipynb"  # 01 records 101 customers, as the RFM notebook does
    nb = nbformat.read(first, as_version=4)
    nb.cells[-1].source += '\nsummary.record("customers", 101, "Customers", fmt="int")\n'
    nbformat.write(nb, first)
    month = run_month("2024-12", reports_dir=tmp_path / "r", notebooks_dir=folder, progress=False)
    t = _times(month)
    assert t["02_left"][1] <= t["03_right"][0]


def test_a_priority_must_be_a_whole_number(tmp_path):
    path = make_notebook(tmp_path / "01_x.ipynb", "x", ["x = 1"])
    nb = nbformat.read(path, as_version=4)
    for bad in ("high", 1.5, True):
        nb.metadata["rfm"] = {"runs_beside_others": True, "priority": bad}
        nbformat.write(nb, path)
        with pytest.raises(ValueError, match="01_x.ipynb: metadata rfm.priority"):
            start_priority(path)


def test_no_spare_kernel_at_scale():
    from rfm_helpers.report.schedule import SPARE_MAX_CUSTOMERS, spare_kernels

    assert spare_kernels(None) == 1 and spare_kernels(SPARE_MAX_CUSTOMERS) == 1
    assert spare_kernels(SPARE_MAX_CUSTOMERS + 1) == 0
