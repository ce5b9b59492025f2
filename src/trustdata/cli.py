"""The ``trustdata`` command line: check the config, run the quick start, run Airflow.

trustdata check-config            validate the trust config, write nothing
trustdata warehouse               start/migrate the warehouse and print its URL
trustdata sync ACADEMY [--full]   run one academy's streams without Airflow
trustdata backfill YEAR [ACADEMY...]  re-read an academic year; watermarks stay put
trustdata reconcile [ACADEMY...]  full reads compared with the warehouse, within a threshold
trustdata status [ACADEMY]        how fresh each feed is; exit 1 if a latest run failed
trustdata release ACADEMY         send quarantined rows through audit and publish again
trustdata relay [--once]          relay stored MIS events to Airflow as asset events
trustdata quality-docs [--out DIR]  Great Expectations Data Docs of the latest validations
trustdata build                   run dbt over the warehouse
trustdata api-client create|list|rotate|revoke  the read API's clients and their keys
trustdata airflow ARGS...         the airflow CLI on the quick-start setup
trustdata demo                    the whole demo: sandbox MIS, DAG runs, dbt, API
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from trustdata.config.settings import get_settings
from trustdata.config.trust import ConfigError, TrustConfig, load_trust_config
from trustdata.orchestration.credentials import CredentialError

log = logging.getLogger("trustdata")


def _config(args: argparse.Namespace) -> TrustConfig:
    path = Path(args.config) if args.config else get_settings().trust_config
    return load_trust_config(path)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the trust config; print a one-line summary."""
    config = _config(args)
    print(f"ok: trust {config.id}: {len(config.hubs)} hubs, {len(config.academies)} academies")
    return 0


def cmd_warehouse(args: argparse.Namespace) -> int:
    """Start (embedded) or reach the warehouse, migrate it, sync the trust structure."""
    from trustdata import orchestration
    from trustdata.warehouse.engine import warehouse_url

    _config(args)
    orchestration.prepare_warehouse(config_path=args.config)
    print(warehouse_url())
    return 0


def _sync_academy(
    args: argparse.Namespace, academy_id: str, *, full: bool, academic_year: str | None
) -> None:
    """Land, audit and publish each stream of one academy, printing each stream's summary."""
    from trustdata import orchestration
    from trustdata.adapters.base import Stream
    from trustdata.adapters.registry import adapter_class

    kind = _config(args).academy(academy_id).adapter.kind
    for stream in (s for s in Stream if s in adapter_class(kind).streams):
        landed = orchestration.land_stream(
            academy_id=academy_id,
            stream=stream.value,
            config_path=args.config,
            full=full,
            academic_year=academic_year,
        )
        audited = orchestration.audit_stream(batch_id=landed["batch_id"], config_path=args.config)
        published = orchestration.publish_stream(
            batch_id=landed["batch_id"], config_path=args.config
        )
        print(json.dumps({**landed, **audited, **published}))


def cmd_sync(args: argparse.Namespace) -> int:
    """Land, audit and publish each stream of one academy, in process."""
    from trustdata import orchestration

    _config(args).academy(args.academy)
    orchestration.prepare_warehouse(config_path=args.config)
    _sync_academy(args, args.academy, full=args.full, academic_year=None)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    """Re-read one academic year for some academies (all by default); watermarks stay put."""
    from trustdata import orchestration
    from trustdata.orchestration.tasks import academic_year_dates

    try:
        academic_year_dates(args.year)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = _config(args)
    academies = args.academies or [a.id for a in config.academies]
    for academy_id in academies:
        config.academy(academy_id)  # every id checked before anything is read
    orchestration.prepare_warehouse(config_path=args.config)
    for academy_id in academies:
        _sync_academy(args, academy_id, full=True, academic_year=args.year)
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Reconcile academies (default: all); 1 if any was blocked by its threshold."""
    from trustdata import orchestration
    from trustdata.orchestration.reconciliation import reconcile_academy
    from trustdata.pipeline.publish import BatchBlocked

    config = _config(args)
    academies = args.academies or [a.id for a in config.academies]
    for academy_id in academies:
        config.academy(academy_id)  # every id checked before anything is read
    orchestration.prepare_warehouse(config_path=args.config)
    blocked = 0
    for academy_id in academies:
        try:
            outcome = reconcile_academy(
                academy_id=academy_id, config_path=args.config, academic_year=args.year
            )
        except BatchBlocked as exc:
            blocked += 1
            print(f"{academy_id}: BLOCKED {exc}")
            continue
        if "skipped" in outcome:
            print(f"{academy_id}: skipped: {outcome['skipped']}")
        for stream in ("pupils", "attendance"):
            if stream in outcome:
                print(
                    f"{academy_id} {stream}: {outcome[stream]['status']}: {outcome[stream]['message']}"
                )
    return 1 if blocked else 0


def cmd_release(args: argparse.Namespace) -> int:
    """Release an academy's quarantined rows of a stream; print what happened to them."""
    from trustdata import orchestration
    from trustdata.adapters.base import Stream
    from trustdata.orchestration.quarantine import release_quarantined
    from trustdata.pipeline.release import RELEASABLE, NotReleasable

    _config(args).academy(args.academy)
    if args.stream not in {s.value for s in Stream}:
        print(
            f"error: no stream {args.stream!r}; release one of: {', '.join(s.value for s in RELEASABLE)}",
            file=sys.stderr,
        )
        return 2
    orchestration.prepare_warehouse(config_path=args.config)
    try:
        outcome = release_quarantined(
            academy_id=args.academy,
            stream=args.stream,
            checks=args.check or None,
            config_path=args.config,
        )
    except NotReleasable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not outcome["released"]:
        print(f"{args.academy} {args.stream}: no quarantined rows are waiting")
        return 0
    print(
        f"{args.academy} {args.stream}: {outcome['released']} rows released in batch "
        f"{outcome['batch_id']}: {outcome['rows_published']} published, "
        f"{outcome['quarantined_again']} quarantined again (still failing)"
    )
    return 0


def cmd_quality_docs(args: argparse.Namespace) -> int:
    """Render the Data Docs site of the latest validations; print where it is."""
    from trustdata import orchestration
    from trustdata.orchestration.tasks import quality_docs_folder
    from trustdata.quality.docs import build_data_docs
    from trustdata.warehouse.engine import get_engine, warehouse_url

    if args.academy is not None:
        _config(args).academy(args.academy)
    if args.per_feed < 1:
        print("error: --per-feed must be 1 or more", file=sys.stderr)
        return 2
    orchestration.prepare_warehouse(config_path=args.config)
    out = Path(args.out) if args.out else quality_docs_folder(args.academy)
    index, rendered = build_data_docs(
        get_engine(warehouse_url()), out, academy_id=args.academy, per_feed=args.per_feed
    )
    print(f"Data Docs of {rendered} validation(s): {index.resolve().as_uri()}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print each feed's last successful publish and latest run; 1 if any latest run failed."""
    from datetime import UTC, datetime

    from trustdata import orchestration
    from trustdata.orchestration.freshness import freshness, render

    config = _config(args)
    if args.academy is not None:
        config.academy(args.academy)  # an unknown id is an error naming the known ones
    orchestration.prepare_warehouse(config_path=args.config)
    from trustdata.orchestration.outbox import pending
    from trustdata.warehouse.engine import get_engine, warehouse_url

    rows = freshness(args.academy)
    print(render(rows, datetime.now(UTC)))
    for row in pending(get_engine(warehouse_url())):
        if args.academy in (None, row["academy_id"]):
            print(
                f"{row['academy_id']}: {row['events']} MIS event(s) not yet relayed to Airflow "
                f"(oldest {row['oldest']:%Y-%m-%d %H:%M}); last error: {row['last_error']}"
            )
    return 0 if all(row["healthy"] for row in rows) else 1


def cmd_relay(args: argparse.Namespace) -> int:
    """Relay the outbox's MIS events to Airflow's API, once or until stopped."""
    from datetime import timedelta

    from trustdata.orchestration.outbox import AirflowApi, pending, relay_due, run_relay
    from trustdata.warehouse.engine import get_engine, warehouse_url

    settings = get_settings()
    api = AirflowApi.from_settings(settings)
    if api is None:
        print(
            "error: set TRUSTDATA_AIRFLOW_API_URL to Airflow's API server "
            "(e.g. http://localhost:8080), and TRUSTDATA_AIRFLOW_USERNAME/PASSWORD",
            file=sys.stderr,
        )
        return 2
    engine = get_engine(warehouse_url(settings))
    try:
        if not args.once:
            run_relay(
                engine,
                api,
                interval=settings.relay_interval_seconds,
                max_backoff=timedelta(seconds=settings.relay_max_backoff_seconds),
            )
            return 0
        report = relay_due(
            engine, api, max_backoff=timedelta(seconds=settings.relay_max_backoff_seconds)
        )
    finally:
        api.close()
    waiting = pending(engine)
    print(
        f"delivered {report.delivered} event(s) as {report.asset_events} asset event(s); "
        f"{sum(row['events'] for row in waiting)} waiting"
    )
    for row in waiting:
        print(f"  {row['academy_id']}: {row['events']} waiting, last error: {row['last_error']}")
    return 0 if report.failed == 0 else 1


def cmd_onboard(args: argparse.Namespace) -> int:
    """Rehearse an academy's feed: config, credential, connection, samples, checks."""
    from trustdata.onboarding import onboard

    path = Path(args.config) if args.config else get_settings().trust_config
    report = onboard(args.academy, config_path=path, sample=args.sample)
    print(report.render())
    return 0 if report.ready else 1


def cmd_build(args: argparse.Namespace) -> int:
    """Run dbt build over the warehouse."""
    from trustdata import orchestration

    orchestration.prepare_warehouse(config_path=args.config)
    summary = orchestration.build_warehouse(select=args.select, full_refresh=args.full_refresh)
    print(json.dumps(summary))
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:
    """Run the airflow CLI with the quick start's environment (and keep the warehouse up)."""
    from trustdata.airflow_env import airflow_command, airflow_environment
    from trustdata.warehouse.engine import warehouse_url

    settings = get_settings()
    env = airflow_environment(settings, warehouse_url(settings))
    return subprocess.call(airflow_command(*args.airflow_args), env=env)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo end to end (see ``trustdata.demo``)."""
    from trustdata.demo import DemoError, run_demo

    try:
        return run_demo(
            config_path=args.config,
            serve=not args.no_serve,
            api_port=args.api_port,
            scale=args.scale,
        )
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``trustdata`` command."""
    parser = argparse.ArgumentParser(prog="trustdata", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="trust config file or folder (default: infra/trust.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check-config", help="validate the trust config").set_defaults(
        func=cmd_check_config
    )
    sub.add_parser("warehouse", help="start/migrate the warehouse").set_defaults(func=cmd_warehouse)
    sync = sub.add_parser("sync", help="sync one academy without Airflow")
    sync.add_argument("academy")
    sync.add_argument("--full", action="store_true", help="ignore the watermark: pull everything")
    sync.set_defaults(func=cmd_sync)
    onboard = sub.add_parser("onboard", help="rehearse an academy's MIS feed, writing nothing")
    onboard.add_argument("academy")
    onboard.add_argument("--sample", type=int, default=2000, help="attendance marks to sample")
    onboard.set_defaults(func=cmd_onboard)
    backfill = sub.add_parser(
        "backfill", help="re-read one academic year, leaving the incremental watermarks alone"
    )
    backfill.add_argument("year", help="academic year as YYYY-YY, e.g. 2024-25")
    backfill.add_argument("academies", nargs="*", help="academy ids (default: every academy)")
    backfill.set_defaults(func=cmd_backfill)
    reconcile = sub.add_parser(
        "reconcile", help="compare full reads with the warehouse and remove what the MIS dropped"
    )
    reconcile.add_argument("academies", nargs="*", help="academy ids (default: every academy)")
    reconcile.add_argument("--year", help="academic year of marks, YYYY-YY (default: current)")
    reconcile.set_defaults(func=cmd_reconcile)
    release = sub.add_parser(
        "release", help="send an academy's quarantined rows through audit and publish again"
    )
    release.add_argument("academy")
    release.add_argument(
        "--stream",
        default="attendance",
        help="the stream whose rows to release: attendance (default), assessments or "
        "attendance_summaries",
    )
    release.add_argument(
        "--check", action="append", help="only rows of this check, e.g. pupil_known (repeatable)"
    )
    release.set_defaults(func=cmd_release)
    docs = sub.add_parser(
        "quality-docs", help="render Great Expectations Data Docs of the latest validations"
    )
    docs.add_argument(
        "--out", help="site folder, replaced (default: <data dir>/data_docs/<academy or trust>)"
    )
    docs.add_argument("--academy", help="only this academy's validations")
    docs.add_argument(
        "--per-feed", type=int, default=10, help="latest validations per academy and feed"
    )
    docs.set_defaults(func=cmd_quality_docs)
    status = sub.add_parser("status", help="how fresh each academy's feeds are")
    status.add_argument("academy", nargs="?")
    status.set_defaults(func=cmd_status)
    relay = sub.add_parser("relay", help="relay stored MIS events to Airflow as asset events")
    relay.add_argument("--once", action="store_true", help="one pass, then report and exit")
    relay.set_defaults(func=cmd_relay)
    build = sub.add_parser("build", help="run dbt build over the warehouse")
    build.add_argument("--select", help="dbt node selection")
    build.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild incremental models from scratch (after a change to the code table)",
    )
    build.set_defaults(func=cmd_build)
    from trustdata.access.commands import add_parser as add_api_client_parser

    add_api_client_parser(sub)
    airflow = sub.add_parser("airflow", help="airflow CLI on the quick-start setup")
    airflow.add_argument("airflow_args", nargs=argparse.REMAINDER)
    airflow.set_defaults(func=cmd_airflow)
    demo = sub.add_parser("demo", help="run the demo trust end to end")
    demo.add_argument("--no-serve", action="store_true", help="stop after the build")
    demo.add_argument("--api-port", type=int, default=8000)
    demo.add_argument("--scale", type=float, default=1.0, help="sandbox pupil-count multiplier")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trustdata`` command."""
    args = build_parser().parse_args(argv)
    # On SIGTERM exit normally, so the embedded PostgreSQL this process started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except (ConfigError, CredentialError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from trustdata.pipeline.land import LandingSuperseded
        from trustdata.pipeline.publish import StagingLost

        # Both say what happened and what to do, and hold no row data: one line, no traceback.
        if not isinstance(exc, LandingSuperseded | StagingLost):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
