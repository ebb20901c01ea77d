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
