"""Forward-looking customer value (issue 13): buy-till-you-die models from PyMC-Marketing.

features   per-customer frequency / recency / T / monetary value in DuckDB SQL (calendar days)
models     BG/NBD or modified BG/NBD + Gamma-Gamma: MAP (default) or MCMC on a bounded sample
formulas   the models' closed forms in numpy/scipy (P(alive), expected purchases, spend, CLV)
scoring    every customer scored from the fitted parameters, in chunks, with intervals
store      the per-customer tables in DuckDB / Parquet: pandas sees samples and aggregates only
backtest   fit up to a cut-off, predict the next period, compare with a naive baseline
segments   value per segment / cluster, slipping customers, value at risk, data sufficiency
analysis   the whole stage in one call (notebook 06) and the per-customer export
groups     notebook 06's segments and clusters of every customer in the run's engine, as a Parquet file

PyMC-Marketing is imported on first fit (a few seconds), not when this package is imported;
scoring does not need it.
"""
from .analysis import ValueAnalysis, analyse_value
from .backtest import Backtest, run_backtest
from .features import compute_holdout, compute_value_summary
from .models import FittedValueModels, ModelNotIdentified, fit_value_models, warm_up
from .scoring import probability_alive, score_customers
from .segments import Sufficiency, p_alive_histogram, sufficiency, value_by_group, value_headline
from .store import ValueStore

__all__ = ["ValueAnalysis", "analyse_value", "Backtest", "run_backtest",
           "compute_holdout", "compute_value_summary", "FittedValueModels", "ModelNotIdentified", "fit_value_models",
           "probability_alive", "score_customers", "Sufficiency", "p_alive_histogram", "sufficiency", "warm_up",
           "value_by_group", "value_headline", "ValueStore"]


#: The purchase model notebook 06 fits unless told otherwise (its ``value_model`` parameter).
NOTEBOOK_TRANSACTION_MODEL = "mbgnbd"


def __kernel_warm_up__() -> None:
    """Import PyMC-Marketing and compile the log-likelihoods of notebook 06's default models
    now: the report runner calls this in the kernel it starts for notebook 06 while the notebook
    before it runs (:data:`rfm_helpers.report.kernels.KERNEL_WARM_UP`), so that the notebook
    does not wait for them (measured at 1e6 customers on a busy machine: import 6.5 s, loading
    the compiled purchase model 4 s; a run with another ``value_model`` compiles its own)."""
    from .models import _clv_module, purchase_loglik, spend_loglik

    _clv_module()
    purchase_loglik(NOTEBOOK_TRANSACTION_MODEL)
    spend_loglik()
