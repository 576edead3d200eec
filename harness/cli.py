"""The ``harness`` command line.

harness up [--backend B] [--json]      provision servers and reference services; up until SIGINT/SIGTERM
harness verify [...]                   run the verification suites and write reports/
harness probe [...]                    discover a target's surface, draft a target profile
harness mutants [--only NAME] [--fast]  verify each mutant; the mutation score
harness schemas generate|check|diff    schema tooling
harness asyncapi generate|check|diff   the AsyncAPI 3.0 document of the bus
harness topology check [...]           compare a live broker with the expected topology
harness dlq list|show|replay [...]     operate the dead-letter queue
harness report [--reports DIR]         rebuild reports/index.html from the last run's files
harness can-i-deploy --pacticipant N --version V [--to ENV]   may V be deployed? (contract matrix)
harness record-deployment --pacticipant N --version V --environment E
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from harness.config import OPTIONS, Settings

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help_text: str) -> Callable[[Command], Command]:
    """Register a sub-command; its parser is filled by a function named ``<func>_args`` if it exists."""

    def register(func: Command) -> Command:
        if name in _COMMANDS:
            raise ValueError(f"sub-command {name!r} registered twice")
        args = globals().get(f"{func.__name__}_args", lambda parser: None)
        _COMMANDS[name] = (func, args, help_text)
        return func

    return register


def add_target_options(parser: argparse.ArgumentParser, exclude: Sequence[str] = ()) -> None:
    """The options every command that targets a stack takes (env equivalents in parentheses)."""
    for name, (var, help_text) in OPTIONS.items():
        if name in exclude:
            continue
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": f"{help_text} (env {var})"}
        if name == "backend":
            kwargs["choices"] = ("auto", "local", "docker", "external")
        parser.add_argument(f"--{name.replace('_', '-')}", **kwargs)


def add_tls_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tls",
        action="store_true",
        help="local backend: RabbitMQ speaks amqps only, with a CA and certificate made for the run; the "
        "reference services connect over TLS (env HARNESS_RABBITMQ_TLS=1)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    if getattr(args, "tls", False):  # read by the local backend, here and in the pytest session
        os.environ["HARNESS_RABBITMQ_TLS"] = "1"
    return Settings.resolve({name: getattr(args, name, None) for name in OPTIONS})


class _Stop(Exception):
    """Raised in the main thread by SIGINT/SIGTERM, so that teardown runs as on a normal exit."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def install_stop_signals() -> None:
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def up_args(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)
    add_tls_option(parser)
    parser.add_argument(
        "--json", action="store_true", help="print exactly one JSON line with the URLs on stdout"
    )
    parser.add_argument(
        "--no-services",
        action="store_true",
        help="only the servers: do not start the reference Bloodbank and Candystore",
    )
    parser.add_argument(
        "--proxied",
        action="store_true",
        help="also hand out AMQP/database URLs through fault proxies and a fault control URL: start your "
        "own services on the proxied URLs, then `harness verify --suite faults --fault-control URL`",
    )
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="also start a private Prometheus scraping the services and RabbitMQ with the SLO rules "
        "loaded (prometheus_url)",
    )


@command("up", "provision RabbitMQ + PostgreSQL (and the reference services); stay up until SIGINT/SIGTERM")
def up(args: argparse.Namespace) -> int:
    from harness.stack import Stack

    settings = settings_from(args)
    install_stop_signals()
    stack = Stack(
        settings,
        with_services=not args.no_services,
        progress=None if args.json else _say,
        prometheus=args.prometheus,
    )
    control = None
    try:
        stack.start()
        info = stack.info()
        if args.proxied:
            from harness.faults import FaultControl

            assert stack.backend is not None
            control = FaultControl(stack.backend).start()
            info.update(control.info())
        if args.json:
            print(json.dumps(info, sort_keys=True), flush=True)
        else:
            _say("harness is up (Ctrl-C to stop):")
            keys = ("backend", "amqp_url", "database_url", "bloodbank_url", "candystore_url")
            keys += ("proxied_amqp_url", "proxied_database_url", "fault_control_url", "prometheus_url")
            for key in keys:
                if info.get(key):
                    _say(f"  {key:20} {info[key]}")
        threading.Event().wait()  # until a signal raises _Stop
    except _Stop:
        pass
    except Exception as exc:  # one clear line (the message carries the log tail when there is one)
        _say(f"harness up: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if control is not None:
            control.stop()
        stack.stop()
    return 0


def verify_args(parser: argparse.ArgumentParser) -> None:
    from harness.verify import SUITES

    add_target_options(parser)
    add_tls_option(parser)
    parser.add_argument(
        "--suite",
        action="append",
        choices=sorted(SUITES),
        dest="suites",
        help="run only this suite (repeatable); default: every suite",
    )
    parser.add_argument(
        "--reports", default="reports", help="directory for summary.json, report.md, junit.xml"
    )
    parser.add_argument(
        "--fuzz-profile",
        choices=("ci", "deep"),
        default=None,
        help="ci: deterministic, bounded (default); deep: >= 10,000 examples",
    )
    parser.add_argument(
        "--consumer-version", help="version of the consumers whose pacts are verified (default: git commit)"
    )
    parser.add_argument(
        "--provider-version", help="version of the providers under test (default: git commit)"
    )
    parser.add_argument(
        "--no-coverage",
        dest="coverage",
        action="store_false",
        help="do not measure line/branch coverage (reports/coverage.xml, reports/coverage/)",
    )
    parser.add_argument(
        "--no-screenshot",
        dest="screenshot",
        action="store_false",
        help="do not open reports/index.html in headless Chromium (console check, reports/index.png)",
    )
    parser.add_argument(
        "--no-allure",
        dest="allure",
        action="store_false",
        help="do not write reports/allure-results/ nor render reports/allure/",
    )
    from harness.loadplan import PROFILES

    parser.add_argument(
        "--load",
        choices=sorted(PROFILES),
        default=None,
        help="after the suites, a `harness load --profile PRESET` run (e.g. smoke); its SLIs join the report",
    )
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="the load run (--load; smoke when not given) runs with a private Prometheus scraping the stack "
        "with the SLO rules; Prometheus's own SLIs go beside the load verdict's in the report",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")


@command("verify", "run the verification suites against the embedded stack or the given URLs; write reports/")
def verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.verify import run_verify

    if args.prometheus:
        from harness.prometheus import PrometheusUnavailable, find_binary

        try:
            find_binary()
        except PrometheusUnavailable as exc:
            _say(f"harness verify: --prometheus: {exc}")
            return 2
        if args.load is None:
            args.load = "smoke"
    return run_verify(
        settings_from(args),
        suites=args.suites,
        reports=Path(args.reports),
        fuzz_profile=args.fuzz_profile,
        extra=args.pytest_args,
        consumer_version=args.consumer_version,
        provider_version=args.provider_version,
        coverage=args.coverage,
        screenshot=args.screenshot,
        allure=args.allure,
        load=args.load,
        prometheus=args.prometheus,
    )


def schemas_args(parser: argparse.ArgumentParser) -> None:
    from holyfields.cli import add_arguments

    add_arguments(parser)


@command("schemas", "generate and drift-check the typed models; classify a schema change (patch/minor/major)")
def schemas(args: argparse.Namespace) -> int:
    from holyfields.cli import run

    return run(args)


def load_args(parser: argparse.ArgumentParser) -> None:
    from harness.loadplan import DEFAULT_MIX, PROFILES

    add_target_options(parser, exclude=("profile",))
    presets = "; ".join(f"{p.name}: {p.rate:g}/s for {p.duration:g} s" for p in PROFILES.values())
    parser.add_argument(
        "--profile",
        default=None,
        metavar="PRESET|FILE",
        help=f"a load preset ({presets}; default smoke), or a target profile .toml (env HARNESS_PROFILE)",
    )
    parser.add_argument(
        "--target-profile",
        default=None,
        metavar="FILE",
        help="the target profile when --profile names a preset",
    )
    parser.add_argument(
        "--rate", type=float, default=None, help="TOTAL target arrival rate of publish events/s (open model)"
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds of load")
    parser.add_argument(
        "--mix", default=None, help=f"percent of each kind of traffic (default {DEFAULT_MIX})"
    )
    parser.add_argument("--stream-watchers", type=int, default=None, help="WebSocket stream watchers")
    parser.add_argument(
        "--fault",
        default=None,
        metavar="NAME@SECONDS",
        help="inject a fault mid-run on a stack of its own (rabbitmq-restart, postgres-down-10s, "
        "candystore-sigkill, bloodbank-sigkill, cut-candystore-rabbitmq, cut-candystore-postgres)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run the users in K local locust worker processes (default: here)",
    )
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="embedded stack: a private Prometheus scrapes the services and RabbitMQ during the run; its own "
        "SLIs (the SLO recording rules) go beside the load verdict's in REPORTS/load/summary.json",
    )
    parser.add_argument("--reports", default="reports", help="outputs go to REPORTS/load/ (default reports)")


@command("load", "open-model load (locust) through the stack with a verdict on the service levels (SPEC §5)")
def load(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from harness._layout import suites_root
    from harness.loadplan import PROFILES, LoadConfigError, parse_fault, plan_for
    from harness.loadrun import FaultInjector, fault_actions, run_runner
    from harness.stack import Stack

    preset, target_profile = None, args.target_profile
    if args.profile in PROFILES:
        preset = args.profile
    elif args.profile:
        if not Path(args.profile).is_file():
            _say(
                f"harness load: --profile {args.profile!r} is neither a load preset ({', '.join(PROFILES)}) "
                "nor an existing target profile file"
            )
            return 2
        target_profile = args.profile
    try:
        plan = plan_for(
            preset, rate=args.rate, duration=args.duration, mix=args.mix, stream_watchers=args.stream_watchers
        )
        fault = parse_fault(args.fault, plan.duration) if args.fault else None
    except LoadConfigError as exc:
        _say(f"harness load: {exc}")
        return 2
    args.profile = target_profile
    settings = dataclasses.replace(settings_from(args), rate_limited=False)
    if fault is not None and (settings.external_services or settings.backend == "external"):
        _say(
            "harness load: --fault runs on the embedded stack only; for your own services use "
            "`harness up --proxied` and `harness verify --suite faults`"
        )
        return 2
    install_stop_signals()
    if fault is not None:
        from harness.backends import create_backend
        from harness.faults import FaultStack

        backend = create_backend(settings.backend, amqp_url=None, database_url=None)
        stack: Any = FaultStack(settings, backend=backend)
    else:
        stack = Stack(settings, progress=_say, prometheus=args.prometheus)
    injector = None
    try:
        stack.start()
        if fault is not None:
            info = {
                "bloodbank_url": stack.bloodbank.url,
                "candystore_url": stack.candystore.url,
                "amqp_url": stack.backend.amqp_url,
            }
            injector = FaultInjector(fault, *fault_actions(stack, fault.name), Path(args.reports) / "load")
        else:
            info = stack.info()
        if not info.get("bloodbank_url"):
            _say(
                "harness load: needs a Bloodbank (give --bloodbank-url; --candystore-url to measure storage)"
            )
            return 2

        def command(rate: float, reports: Path) -> list[str]:
            return [
                sys.executable,
                "-m",
                "load.runner",
                f"--bloodbank-url={info['bloodbank_url']}",
                f"--candystore-url={info.get('candystore_url') or ''}",
                f"--amqp-url={info.get('amqp_url') or ''}",
                f"--target-profile={settings.profile}",
                f"--rate={rate}",
                f"--duration={plan.duration}",
                f"--mix={plan.mix.text()}",
                f"--stream-watchers={plan.stream_watchers}",
                f"--workers={args.workers}",
                f"--fault={args.fault or ''}",
                f"--reports={reports}",
            ]

        env = dict(os.environ)
        # load/ is a folder of the checkout, harness/_suites/load in the wheel
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(suites_root()), env.get("PYTHONPATH")]))
        env.update((stack.backend.topology if fault is not None else settings.topology).env())
        if settings.api_key:
            env["HARNESS_API_KEY"] = settings.api_key
        if settings.signing_keys:
            env["HARNESS_SIGNING_KEYS"] = settings.signing_keys
        _say(
            f"harness load: {plan.name}, {plan.rate:g} events/s for {plan.duration:g} s, "
            f"mix {plan.mix.text()}"
        )
        if plan.name == "capacity" and fault is None:
            from harness.loadrun import capacity_search

            pids = {name: list(p) for name, p in (info.get("pids") or {}).items()}
            pids.update({name: [pid] for name, pid in (info.get("service_pids") or {}).items()})
            reports = Path(args.reports)
            return capacity_search(
                command, env, start=plan.rate, reports=reports, pids=pids, say=_say, workers=args.workers
            )
        code = run_runner(command(plan.rate, Path(args.reports)), env, injector)
        if getattr(stack, "prometheus", None) is not None:
            from harness.prometheus import compare_with_load

            for line in compare_with_load(stack.prometheus, Path(args.reports) / "load" / "summary.json"):
                _say(line)
        return code
    except _Stop:
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()


def probe_args(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)
    parser.add_argument("--write-profile", metavar="FILE", help="write a draft target profile (TOML) here")


@command("probe", "discover what a target exposes (seconds, read-mostly) and draft a target profile")
def probe(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.discovery import discover

    settings = settings_from(args)
    if not (settings.bloodbank_url or settings.candystore_url):
        _say("harness probe: give --bloodbank-url and/or --candystore-url (and --amqp-url for the broker)")
        return 2
    found = discover(settings)
    print("harness probe: what the target exposes")
    print(found.render(), end="")
    draft = found.profile_text(settings)
    if args.write_profile:
        Path(args.write_profile).write_text(draft)
        print(f"harness probe: draft profile written to {args.write_profile}")
    else:
        print("\nharness probe: draft profile (--write-profile FILE to save it)\n")
        print(draft)
    print(f"harness probe: {found.missing} missing")
    return 1 if found.missing else 0


def mutants_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this mutant (repeatable)")
    parser.add_argument("--fast", action="store_true", help="only the fast subset CI runs")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--reports", default="reports", help="where mutants.json goes (and the score)")


@command("mutants", "prove the harness: verify each mutant (one known defect each); print the mutation score")
def mutants(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.mutants.gallery import by_name
    from harness.mutants.runner import merge_into_reports, run_mutants, table_lines

    if args.list:
        for name, mutant in by_name().items():
            print(f"  {name:26} {mutant.defect}")
        return 0
    install_stop_signals()
    try:
        result = run_mutants(args.only, fast=args.fast, progress=_say, work=Path(args.reports) / "mutants")
    except ValueError as exc:
        _say(f"harness mutants: {exc}")
        return 2
    except _Stop:
        return 130
    print("harness mutants: mutant, expected defect, named?, other error findings")
    for line in table_lines(result):
        print(line)
    merge_into_reports(result, Path(args.reports))
    complete = all(row["named"] and not row["false_positives"] for row in result["rows"])
    return 0 if complete else 1


def asyncapi_args(parser: argparse.ArgumentParser) -> None:
    from holyfields.asyncapi import add_arguments

    add_arguments(parser)


@command("asyncapi", "generate, drift-check or diff the AsyncAPI 3.0 document of the bus")
def asyncapi(args: argparse.Namespace) -> int:
    from harness.profile import Profile
    from holyfields.asyncapi import run

    profile = getattr(args, "profile", None)
    return run(args, Profile.load(profile).broker if profile else None)


def topology_args(parser: argparse.ArgumentParser) -> None:
    from harness.topology import add_arguments

    add_arguments(parser)


@command("topology", "check that a live broker has the expected exchanges, queues, arguments and bindings")
def topology(args: argparse.Namespace) -> int:
    from harness.topology import run

    return run(args)


def dlq_args(parser: argparse.ArgumentParser) -> None:
    from harness.dlq import add_arguments

    add_arguments(parser)


@command("dlq", "list, show and replay dead letters (never losing one)")
def dlq(args: argparse.Namespace) -> int:
    from harness.dlq import run

    return run(args)


def report_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reports",
        default="reports",
        help="the directory of the run (summary.json, …); index.html goes there",
    )


@command("report", "rebuild reports/index.html from the files of the last run (runs nothing)")
def report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.dashboard import ReportInputError, write_index

    try:
        path = write_index(Path(args.reports))
    except ReportInputError as exc:
        _say(f"harness report: {exc}")
        return 2
    print(f"harness report: {path}")
    return 0


def _matrix_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pacticipant", required=True, help="the service, e.g. candystore, bloodbank, candybar"
    )
    parser.add_argument("--version", required=True, help="its version (as recorded by harness verify)")
    parser.add_argument(
        "--matrix", default="reports/pact-matrix.json", help="the matrix file harness verify records into"
    )


def can_i_deploy_args(parser: argparse.ArgumentParser) -> None:
    _matrix_args(parser)
    parser.add_argument(
        "--to", metavar="ENVIRONMENT", help="against what is deployed there (default: latest)"
    )


@command("can-i-deploy", "may this version be deployed? answered from the contract matrix (exit 0 yes, 1 no)")
def can_i_deploy(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.matrix import Matrix, MatrixError, decision_lines

    path = Path(args.matrix)
    if not path.exists():
        _say(
            f"harness can-i-deploy: no, no matrix at {path}: "
            "run harness verify (it records it) or give --matrix"
        )
        return 1
    try:
        decision = Matrix.load(path).can_i_deploy(args.pacticipant, args.version, args.to)
    except MatrixError as exc:
        _say(f"harness can-i-deploy: {exc}")
        return 2
    for line in decision_lines(decision, args.pacticipant, args.version, args.to):
        print(line)
    return 0 if decision.ok else 1


def record_deployment_args(parser: argparse.ArgumentParser) -> None:
    _matrix_args(parser)
    parser.add_argument("--environment", required=True, help="where it now runs, e.g. staging, production")


@command("record-deployment", "record that a version now runs in an environment (for can-i-deploy --to)")
def record_deployment(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from harness.matrix import Matrix, MatrixError

    try:
        matrix = Matrix.load(Path(args.matrix))
        matrix.deploy(args.pacticipant, args.version, args.environment, time.time())
        matrix.save()
    except MatrixError as exc:
        _say(f"harness record-deployment: {exc}")
        return 1
    print(f"harness record-deployment: {args.pacticipant} {args.version} is deployed to {args.environment}")
    return 0


def slo_args(parser: argparse.ArgumentParser) -> None:
    from harness.slo import add_arguments

    add_arguments(parser)


@command("slo", "the SPEC §5 service levels: print the table, write or drift-check the Prometheus rules")
def slo(args: argparse.Namespace) -> int:
    from harness.slo import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="33GOD event harness")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, fill, help_text) in _COMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        fill(child)
        child.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from harness.profile import ProfileError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ProfileError as exc:
        _say(f"harness {args.command}: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
