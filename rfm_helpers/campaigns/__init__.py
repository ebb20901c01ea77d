"""Evaluate campaigns: from a sent list to a measured, decided campaign, month after month.

Modules: ``data`` (assignment files, validation, outcome tables from the engine), ``sql``
(the per-customer SQL, the transactions in an engine, the instrumented fetch), ``stats`` (the tests), ``planning``
(power, sizes, ROI), ``analysis`` (everything measured about one campaign), ``verdict``
(rules fixed at registration -> roll out / do not / inconclusive / harmful), ``registry``
(``reports/campaigns/<id>/``), ``assign`` (stratified hold-out), ``create`` (sending creates
the experiment), ``migration`` (where the audience moved), ``evaluate`` (a month's campaigns),
``demo`` (the simulated campaign of the bundled sample).

At scale: the per-customer work of the whole base (scoring before sending and now, outcomes,
segment sizes, migrations) runs in the run's engine; pandas receives aggregates and the
population of each evaluated campaign, which the bootstrap, the rank test and the regression
adjustments need customer by customer (a campaign is a sample of the base).
"""
from .analysis import AnalysisSettings, CampaignReport, Guardrail, analyse_campaign
from .data import CampaignData, CampaignError, CampaignWarning, prepare_campaign, read_campaign
from .evaluate import MonthCampaigns, RunContext, evaluate_month, evaluate_registered
from .registry import CampaignSpec, RegistryError, list_campaigns, load_spec, register
from .verdict import VERDICTS, DecisionRules, decide

__all__ = ["AnalysisSettings", "CampaignReport", "Guardrail", "analyse_campaign", "CampaignData", "CampaignError",
           "CampaignWarning", "prepare_campaign", "read_campaign", "MonthCampaigns", "RunContext", "evaluate_month",
           "evaluate_registered", "CampaignSpec", "RegistryError", "list_campaigns", "load_spec", "register",
           "VERDICTS", "DecisionRules", "decide"]
