"""The bundled real data set: CDNOW master transactions (see data/cdnow/README.md)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

#: Column mapping / CSV options describing the bundled file for the generic loader.
CDNOW_SOURCE = {
    "format": "csv",
    "columns": {
        "customer_id": "customer_id",
        "order_date": "date",
        "amount": "dollar_value",
        "quantity": "number_of_cds",
    },
    "csv": {"sep": r"\s+", "date_format": "%Y%m%d", "encoding": "ascii"},
}

#: Last date in CDNOW: the default analysis date of the bundled report.
CDNOW_LAST_DATE = "1998-06-30"


def cdnow_path() -> Path:
    """Path of the bundled ``CDNOW_master.txt`` inside the installed package."""
    return Path(str(resources.files("rfm_helpers") / "data" / "cdnow" / "CDNOW_master.txt"))


def cdnow_source() -> dict:
    """A loader source spec (see :func:`rfm_helpers.loading.load_transactions`) for CDNOW."""
    return {**CDNOW_SOURCE, "path": str(cdnow_path()), "name": "CDNOW (bundled sample)"}


def read_cdnow_raw() -> pd.DataFrame:
    """The raw file as a DataFrame: ids stay zero-padded strings, nothing is cleaned."""
    return pd.read_csv(cdnow_path(), sep=r"\s+", dtype={"customer_id": "string"})
