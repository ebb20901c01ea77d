"""environment.yml (conda) and pyproject.toml (pip) must list the same packages and bounds.

The pip side is the main dependencies plus the ``test`` and ``spark`` extras; conda has a
few different names for the same package and needs a JDK for Spark, which pip users get
from the system.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda-forge name -> PyPI name, where they differ
CONDA_TO_PYPI = {"python-duckdb": "duckdb"}
# conda-only entries with no PyPI package (the interpreter, pip itself, the JDK Spark needs)
CONDA_ONLY = {"python", "pip", "openjdk"}

_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*(.*)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(req: str) -> tuple[str, str]:
    m = _REQ.match(req)
    assert m, f"cannot parse requirement {req!r}"
    return _norm(m.group(1)), m.group(2).replace(" ", "")


def pip_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("test", "spark"):
        reqs += project["optional-dependencies"][extra]
    out: dict[str, str] = {}
    for r in reqs:
        name, spec = _split(r)
        assert out.get(name, spec) == spec, f"{name} has two different bounds in pyproject.toml"
        out[name] = spec
    return out


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out: dict[str, str] = {}
    for dep in env["dependencies"]:
        assert isinstance(dep, str), "keep every package in the conda list (no pip: section)"
        name, spec = _split(dep)
        if name in CONDA_ONLY:
            continue
        out[CONDA_TO_PYPI.get(name, name)] = spec
    return out


def test_same_packages_in_environment_yml_and_pyproject():
    pip, conda = pip_requirements(), conda_requirements()
    assert sorted(set(pip) - set(conda)) == [], "in pyproject.toml but not environment.yml"
    assert sorted(set(conda) - set(pip)) == [], "in environment.yml but not pyproject.toml"


def test_same_version_bounds():
    pip, conda = pip_requirements(), conda_requirements()
    diff = {k: (pip[k], conda[k]) for k in pip if k in conda and pip[k] != conda[k]}
    assert diff == {}


def test_core_packages_of_the_product_design_are_listed():
    core = {"jupyterlab", "pandas", "seaborn", "scikit-learn", "papermill", "nbval"}
    assert core <= set(pip_requirements())


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    commands = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert commands[-1] == "make test"


# --------------------------------------------------------------------------- lock files


def _check_lock():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "requirements" / "check_lock.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_lock_files_cover_pyproject():
    """Every dependency is pinned within its bound; otherwise `make lock` (see requirements/README.md)."""
    cl = _check_lock()
    assert cl.problems(ROOT / "requirements" / "lock.txt", []) == []
    assert cl.problems(ROOT / "requirements" / "lock-test.txt", ["test", "spark"]) == []


def test_the_two_lock_files_agree():
    cl = _check_lock()
    main = cl.lock_pins(ROOT / "requirements" / "lock.txt")
    full = cl.lock_pins(ROOT / "requirements" / "lock-test.txt")
    assert set(main) <= set(full)
    assert {k: (v, full[k]) for k, v in main.items() if full[k] != v} == {}


def test_check_lock_notices_a_new_dependency_and_a_bound_outside_the_pin(tmp_path):
    cl = _check_lock()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["pandas>=2.2", "brand-new-lib>=1.0", '
                         '"numpy>=99"]\n[project.optional-dependencies]\ntest = []\n')
    found = cl.problems(ROOT / "requirements" / "lock.txt", [], pyproject)
    assert any("brand-new-lib>=1.0 is in pyproject.toml but not pinned" in p for p in found)
    assert any("outside pyproject.toml's bound numpy>=99" in p for p in found)
    assert not any("pandas" in p for p in found)


def test_makefile_installs_from_the_lock_without_resolving():
    make = (ROOT / "Makefile").read_text()
    assert "install -q -r $(LOCK)" in make and "install -q -r $(TEST_LOCK)" in make
    assert "install -q --no-deps -e ." in make
    assert "check_lock.py $(LOCK)" in make and "\nlock:" in make
    for lock in ("lock.txt", "lock-test.txt"):
        head = (ROOT / "requirements" / lock).read_text().splitlines()[:3]
        assert any("make lock" in line for line in head), f"{lock} was not made by `make lock`"
