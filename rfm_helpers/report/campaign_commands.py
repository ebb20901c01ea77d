"""``rfm-report campaign create | register | list``: the campaigns registry from the command line.

``create`` loads the source (as a monthly run does), makes the list of the chosen segments with
a control group held out and registers the campaign; ``register`` adds a campaign sent with
another tool from its assignment file; ``list`` shows the registry and each campaign's state
on a date. The options are read by :mod:`rfm_helpers.report.cli`; this module does the work
and prints what a person needs (counts and file names, never customers).
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """The ``campaign`` sub-command and its own sub-commands."""
    camp = sub.add_parser("campaign", help="create, register or list the campaigns measured by the monthly runs")
    csub = camp.add_subparsers(dest="campaign_command", required=True)

    def common(p: argparse.ArgumentParser, creating: bool) -> None:
        p.add_argument("--name", required=True, help="the campaign's name")
        p.add_argument("--channel", required=True, choices=["email", "sms", "call", "other"])
        p.add_argument("--send-date", required=True, help="YYYY-MM-DD: the day the campaign is (was) sent")
        p.add_argument("--window-days", required=True, type=int, help="outcome window: days from the send date")
        p.add_argument("--segments", default="", help="segment keys, comma-separated" + (" (required)" if creating else ""))
        p.add_argument("--segment-map", default="classic")
        p.add_argument("--primary-metric", required=True, choices=["converted", "revenue", "orders"])
        p.add_argument("--min-effect", required=True, type=float,
                       help="smallest effect worth acting on: percentage points for converted (1.0 = one point), "
                            "money per customer for revenue, orders per customer for orders")
        p.add_argument("--guardrail", action="append", default=[], metavar="METRIC[:MAX]",
                       help="a metric that must not get worse (unsubscribed, returns, or a column of --outcomes), "
                            "with the tolerated worsening (repeatable)")
        p.add_argument("--alpha", type=float, default=0.05)
        p.add_argument("--power", type=float, default=0.8)
        p.add_argument("--cost-per-contact", type=float, default=0.0)
        p.add_argument("--cap-revenue-quantile", type=float, default=None,
                       help="cap each customer's revenue at this pooled quantile (e.g. 0.99)")
        p.add_argument("--reports-dir", default="reports")
        p.add_argument("--replace", action="store_true", help="replace a registered campaign with the same id")

    create = csub.add_parser("create", help="make the list with a control group held out and register the campaign")
    common(create, True)
    create.add_argument("--control-share", required=True, type=float, help="share held out as control (0.1)")
    create.add_argument("--seed", required=True, type=int, help="seed of the random hold-out")
    create.add_argument("--source-config", default="", help="YAML data-source file; default: bundled CDNOW sample")
    create.add_argument("--analysis-date", default="", help="segments as of this date; default: the last date in the data")
    create.add_argument("--language", default="en")
    create.add_argument("--currency", default=None)
    create.add_argument("--formats", default="csv,xlsx",
                        help="list files: csv, xlsx and service formats (mailchimp, unisender, amocrm)")
    create.add_argument("--dry-run", action="store_true", help="show what would happen; write nothing")

    reg = csub.add_parser("register", help="register a campaign sent with another tool, from its assignment file")
    common(reg, False)
    reg.add_argument("--assignment", required=True, help="CSV/Excel/Parquet with customer_id and group columns")
    reg.add_argument("--planned-split", required=True, help="planned shares of the groups: control:0.1,treatment:0.9")
    reg.add_argument("--control", default="control", help="name of the control group in the file")
    reg.add_argument("--outcomes", default=None, help="optional CSV: customer_id and a column per guardrail metric")

    lst = csub.add_parser("list", help="the registry and each campaign's state on a date")
    lst.add_argument("--reports-dir", default="reports")
    lst.add_argument("--analysis-date", default="", help="YYYY-MM-DD; default: today")


def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"{what} must be a date like 2026-07-01, got {text!r}") from None


def _guardrails(items: list[str]) -> list[Any]:
    from ..campaigns.registry import parse_guardrails

    return parse_guardrails(",".join(items))


def _create(args: argparse.Namespace) -> int:
    from ..params import RunParams
    from ..pipeline import prepare
    from .campaign_pages import create_from_notebook, segment_labels
    from .i18n import translator
    from .texts.campaign_registry import create_sentences

    params = RunParams.parse(source_config=args.source_config, analysis_date=args.analysis_date or None,
                             language=args.language, currency=args.currency)
    with tempfile.TemporaryDirectory(prefix="rfm-campaign-") as scratch:  # nothing of the load is kept
        p = prepare(analysis_date=params.analysis_date.isoformat() if params.analysis_date else "",
                    source_config=params.source_config, run_dir=scratch)
    result = create_from_notebook(
        p, name=args.name, segments=args.segments, channel=args.channel, send_date=_date(args.send_date, "--send-date"),
        outcome_window_days=args.window_days, control_share=args.control_share, seed=args.seed,
        primary_metric=args.primary_metric, min_effect=args.min_effect, guardrails=",".join(args.guardrail),
        cost_per_contact=args.cost_per_contact, segment_map=args.segment_map, language=params.language,
        currency=params.currency, dry_run=args.dry_run, reports_dir=args.reports_dir,
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()))
    t = translator(params.language, params.currency)
    for template, values in create_sentences(t, result, segment_labels(args.segment_map, params.language)):
        print(_plain(template.format(**values)))
    print(result.per_segment.to_string(index=False))
    if result.folder is not None:
        print(f"registered: {result.folder}")
        for f in result.files:
            print(f"  {f}")
    return 0


def _plain(text: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", text)


def _register(args: argparse.Namespace) -> int:
    from ..campaigns.data import parse_split
    from ..campaigns.registry import Analysis, CampaignSpec, Decision, campaign_id, register

    send = _date(args.send_date, "--send-date")
    spec = CampaignSpec(
        id=campaign_id(args.name, send), name=args.name, channel=args.channel, send_date=send,
        outcome_window_days=args.window_days, segments=[s.strip() for s in args.segments.split(",") if s.strip()],
        segment_map=args.segment_map, cost_per_contact=args.cost_per_contact, control=args.control,
        planned_split=parse_split(args.planned_split) or {},
        decision=Decision(primary_metric=args.primary_metric, min_effect=args.min_effect, alpha=args.alpha,
                          power=args.power, guardrails=_guardrails(args.guardrail)),
        analysis=Analysis(cap_revenue_quantile=args.cap_revenue_quantile),
        registered_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(), registered_by="register")
    folder = register(spec, args.assignment, args.reports_dir, outcomes=args.outcomes, replace=args.replace)
    print(f"registered: {folder} (evaluated by the first monthly run on or after {spec.window_end})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..campaigns.registry import CampaignSpec, list_campaigns, read_evaluation, status

    as_of = _date(args.analysis_date, "--analysis-date") if args.analysis_date else dt.date.today()
    rows = list_campaigns(args.reports_dir)
    if not rows:
        print(f"no campaign registered in {Path(args.reports_dir) / 'campaigns'}")
        return 0
    for folder, spec in rows:
        if not isinstance(spec, CampaignSpec):
            print(f"{folder.name}: ERROR {spec}")
            continue
        ev = read_evaluation(folder)
        last = f", last verdict {ev['verdict']['overall']['code']} ({ev['evaluated_at']})" if ev else ""
        page = _latest_page(Path(args.reports_dir), spec.id)
        print(f"{spec.id}: {spec.name!r}, {spec.channel}, sent {spec.send_date}, window closes {spec.window_end}: "
              f"{status(spec, as_of)} on {as_of}{last}" + (f"; page {page}" if page else ""))
    return 0


def _latest_page(reports_dir: Path, cid: str) -> Path | None:
    """The campaign's page in the latest published month (``reports/YYYY-MM/campaign-<id>.html``)."""
    from .campaign_pages import page_name

    months = sorted(p for p in reports_dir.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]") if (p / page_name(cid)).is_file())
    return months[-1] / page_name(cid) if months else None


def run(args: argparse.Namespace) -> int:
    """Run a ``campaign`` sub-command; errors are one line on stderr (exit 2)."""
    from pydantic import ValidationError

    from ..campaigns.data import CampaignError
    from ..campaigns.registry import RegistryError
    from ..load.result import DataValidationError

    try:
        return {"create": _create, "register": _register, "list": _list}[args.campaign_command](args)
    except ValidationError as exc:
        err = exc.errors()[0]
        print(f"error: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}", file=sys.stderr)
    except (RegistryError, CampaignError, DataValidationError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 2
