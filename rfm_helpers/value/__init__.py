"""Forward-looking customer value (issue 13): buy-till-you-die models from PyMC-Marketing.

features   per-customer frequency / recency / T / monetary value in DuckDB SQL (calendar days)
models     BG/NBD or modified BG/NBD + Gamma-Gamma: MAP (default) or MCMC, intervals per figure
backtest   fit up to a cut-off, predict the next period, compare with a naive baseline
segments   value per segment / cluster, slipping customers, value at risk, data sufficiency
analysis   the whole stage in one call (notebook 06) and the per-customer export

PyMC-Marketing is imported on first use (a few seconds), not when this package is imported.
"""
from .analysis import ValueAnalysis, analyse_value, write_value_export
from .backtest import Backtest, run_backtest
from .features import compute_holdout, compute_value_summary
from .models import FittedValueModels, fit_value_models, probability_alive, score_customers
from .segments import Sufficiency, slipping_customers, sufficiency, value_by_group, value_headline

__all__ = ["ValueAnalysis", "analyse_value", "write_value_export", "Backtest", "run_backtest",
           "compute_holdout", "compute_value_summary", "FittedValueModels", "fit_value_models",
           "probability_alive", "score_customers", "Sufficiency", "slipping_customers", "sufficiency",
           "value_by_group", "value_headline"]
