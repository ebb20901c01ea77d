"""Does a lock file still cover pyproject.toml?  ``python requirements/check_lock.py LOCK [--extras ...]``

Every requirement of the project (the main dependencies, plus the named extras) must be
pinned in the lock, at a version its bound allows (for this interpreter, where the lock pins
different versions per Python version). Otherwise the install would silently miss a package
(the Makefile installs the package itself with ``--no-deps``): exit 1 naming what is missing
and the fix, ``make lock``.

Standard library only (plus the ``packaging`` that pip vendors), because it runs before
anything is installed.
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

try:  # pragma: no cover - whichever is there
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.version import Version
except ImportError:  # pragma: no cover - a bare venv: pip's own copy
    from pip._vendor.packaging.markers import Marker
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;\s*(.+))?$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(extras: list[str], pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"pyproject.toml has no extra {extra!r}")
        reqs += optional[extra]
    return [Requirement(r) for r in reqs]


def lock_pins(lock: Path) -> dict[str, str]:
    """``{name: version}`` of the pins that apply to this interpreter."""
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = _PIN.match(line.strip())
        if not m:
            continue
        name, version, marker = m.groups()
        if marker and not Marker(marker).evaluate():
            continue
        pins[norm(name)] = version
    return pins


def problems(lock: Path, extras: list[str], pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    if not lock.exists():
        return [f"{lock} does not exist"]
    pins = lock_pins(lock)
    out = []
    for req in project_requirements(extras, pyproject):
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        name = norm(req.name)
        if name not in pins:
            out.append(f"{req} is in pyproject.toml but not pinned in {lock.name}")
        elif req.specifier and not req.specifier.contains(Version(pins[name]), prereleases=True):
            out.append(f"{lock.name} pins {name}=={pins[name]}, outside pyproject.toml's bound {req}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lock", type=Path)
    ap.add_argument("--extras", nargs="*", default=[])
    args = ap.parse_args(argv)
    found = problems(args.lock, args.extras)
    for p in found:
        print(f"lock out of date: {p}", file=sys.stderr)
    if found:
        print("Run `make lock` (then commit requirements/*.txt) to re-resolve the lock files "
              "from pyproject.toml.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
