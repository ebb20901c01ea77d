"""Moved to :mod:`rfm_helpers.report.summary` (the report layer); this name is an alias of
that module, kept while notebooks still import it from here."""
import sys

from .report import summary as _moved

sys.modules[__name__] = _moved
