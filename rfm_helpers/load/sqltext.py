"""Small helpers to write SQL text safely (identifiers and literals quoted)."""
from __future__ import annotations

#: Text values treated as "no value" in any column (compared lower-cased and trimmed).
NULL_TOKENS = ("", "nan", "none", "null", "n/a", "na", "#n/a", "nat", "-", "—", "?", "(null)", "<na>")
#: SQL test "the text {x} is a null marker" (``{x}`` already trimmed or not: trimmed here).
NULL_SQL = "({x} IS NULL OR lower(trim({x})) IN (" + ", ".join("'" + t + "'" for t in NULL_TOKENS) + "))"


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def lit(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def staged(stages: list[dict[str, str]], select: str = "*", base: str = "raw") -> str:
    """SQL that computes named expressions stage by stage over ``base`` (each stage may use
    the names of earlier stages), then ``SELECT {select}``."""
    ctes = [f"t0 AS (SELECT * FROM {base})"]
    for i, stage in enumerate(stages, start=1):
        if stage:
            cols = ", ".join(f"{expr} AS {ident(name)}" for name, expr in stage.items())
            ctes.append(f"t{i} AS (SELECT *, {cols} FROM t{len(ctes) - 1})")
        else:
            ctes.append(f"t{i} AS (SELECT * FROM t{len(ctes) - 1})")
    return "WITH " + ",\n".join(ctes) + f"\nSELECT {select} FROM t{len(ctes) - 1}"
