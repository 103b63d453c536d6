"""Command line: python -m runner {data,check,run,render,status} ...

Exit codes: 0 success, 1 a run failed, 2 bad input (data, plan, settings, arguments),
3 locked/interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from analysis import paths
from analysis.data.index import DataError
from runner import execute
from runner.errors import ConfigError
from runner.quiet import quiet_tensorflow


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        default=os.environ.get("PROFILE", "standard"),
        help="plan profile: smoke, quick, standard, full (default: standard)",
    )
    p.add_argument("--plan", type=Path, default=paths.PLAN_FILE, help="plan file")
    p.add_argument(
        "--data-dir",
        default=None,
        help="MSL data directory (default: $DATA_DIR, else data/msl-images)",
    )


def _sagemaker_flags(p: argparse.ArgumentParser) -> None:
    """The flags `run` and `preflight` share (they override the SAGEMAKER_* environment)."""
    p.add_argument(
        "--backend", choices=["local", "sagemaker"], default=os.environ.get("BACKEND", "local")
    )
    p.add_argument(
        "--instance-type",
        default=None,
        help="SageMaker instance type (default: $SAGEMAKER_INSTANCE_TYPE or ml.m5.xlarge)",
    )
    p.add_argument(
        "--image",
        default=None,
        help="SageMaker container image URI (default: $SAGEMAKER_IMAGE or AWS's TensorFlow image)",
    )
    p.add_argument(
        "--max-jobs",
        default=None,
        help="SageMaker jobs running at once, 1 to 16; the rest wait for a slot "
        "(default: $SAGEMAKER_MAX_JOBS or 4)",
    )
    p.add_argument(
        "--max-runtime",
        default=None,
        help="SageMaker: seconds after which every job is stopped (default: "
        "$SAGEMAKER_MAX_RUNTIME, else each run's expected time with a margin)",
    )
    p.add_argument(
        "--resubmit-stopped",
        action="store_true",
        default=None,
        help="SageMaker: submit again a run whose earlier job was found Stopped "
        "(default: report it and leave it; $SAGEMAKER_RESUBMIT_STOPPED)",
    )


def sagemaker_backend(args, data_dir: Path):
    """The SageMaker backend for `run`, after the preflight checks (preflight.py): nothing is
    uploaded or billed when one fails (PreflightFailed: one line each, exit 2)."""
    from runner.backends.sagemaker import SageMakerBackend
    from runner.backends.sagemaker.preflight import preflight

    backend = SageMakerBackend.from_env(
        data_dir=data_dir,
        instance_type=args.instance_type,
        image=args.image,
        max_jobs=args.max_jobs,
        max_runtime_s=args.max_runtime,
        resubmit_stopped=getattr(args, "resubmit_stopped", None),
    )
    backend.settings = preflight(backend.settings)
    return backend


def data_dir_hint(data_dir: Path) -> str:
    """When DATA_DIR is one level too high: the subfolder that holds the data set."""
    try:
        inside = sorted(p for p in data_dir.iterdir() if (p / paths.SYNSET_FILE).is_file())
    except OSError:
        return ""
    if not inside or (data_dir / paths.SYNSET_FILE).exists():
        return ""
    return f"; the data set is in {inside[0]}: use DATA_DIR={inside[0]} (or --data-dir)"


def main(argv: list[str] | None = None) -> int:
    quiet_tensorflow(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m runner",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="download and verify the data set if it is missing")
    p.add_argument("--data-dir", default=None)

    p = sub.add_parser(
        "check", help="validate the data directory (decoding every image) and the plan"
    )
    _common(p)
    p.add_argument("--skip-bad-entries", action="store_true")

    p = sub.add_parser("run", help="execute the runs that are not up to date")
    _common(p)
    p.add_argument("runs", nargs="*", help="run names (default: every run of the plan)")
    p.add_argument("--force", action="store_true", help="rerun even when up to date")
    p.add_argument("--keep-going", action="store_true", help="after a failure, run the others")
    p.add_argument(
        "--skip-bad-entries",
        action="store_true",
        help="skip malformed split-list lines instead of stopping (they are listed)",
    )
    _sagemaker_flags(p)
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the full Papermill and kernel log instead of one line per run",
    )

    p = sub.add_parser(
        "preflight",
        help="check the SageMaker settings, role, bucket, quota, image and lock; sends nothing",
    )
    _sagemaker_flags(p)

    p = sub.add_parser("render", help="render report/ pages from results/<profile>")
    _common(p)
    p.add_argument("--report-dir", type=Path, default=paths.REPORT_DIR)
    p.add_argument(
        "--allow-failed",
        action="store_true",
        help="render even when a run failed; its pages are marked as failed",
    )

    p = sub.add_parser("status", help="list runs and whether each is up to date")
    _common(p)
    p.add_argument(
        "--why",
        metavar="RUN",
        action="append",
        default=[],
        help="for a run that is not up to date: what changed since it was computed "
        "(the definitions, parameters, data), one line per cause",
    )

    p = sub.add_parser(
        "adopt",
        help="move runs recorded under the old fingerprint (file bytes) to the code print "
        "when their code computes the same, and runs recorded under one print (figures "
        "included) to the training print when their training code is today's; retrains nothing",
    )
    _common(p)
    p.add_argument("--dry-run", action="store_true", help="list what would move, write nothing")
    p.add_argument(
        "--against",
        default="HEAD",
        metavar="REV",
        help="runs up to date at this revision whose changed code only builds their networks "
        "move when their networks build the same, seed for seed (default: HEAD)",
    )

    # Serving the trained models: predict, deploy, invoke, undeploy, endpoints (issue 12).
    from runner import restore
    from runner.serving import commands, predict

    predict.add_parser(sub)
    commands.add_parsers(sub)
    restore.add_parser(sub)

    args = parser.parse_args(argv)
    execute.install_signal_handlers()
    from runner.plan import PlanError

    try:
        return _dispatch(args)
    except DataError as exc:
        hint = ""
        if args.command in ("data", "check", "run"):
            hint = data_dir_hint(paths.data_dir(getattr(args, "data_dir", None)))
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 2
    except (PlanError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are kept; rerun to resume", file=sys.stderr)
        return 3


def _dispatch(args) -> int:
    if getattr(args, "handler", None):  # the commands of runner/serving/
        return args.handler(args)
    from runner.plan import PlanError, load

    data_dir = paths.data_dir(getattr(args, "data_dir", None))
    if args.command == "preflight":
        if args.backend != "sagemaker":
            print(f"preflight: the {args.backend} backend needs no account: nothing to check")
            return 0
        sagemaker_backend(args, data_dir)
        print("preflight: every check passed; nothing was uploaded")
        return 0
    if args.command == "data":
        from analysis.data.download import ensure

        ensure(data_dir)
        print(f"data set ready in {data_dir}")
        return 0
    try:
        plan = load(args.plan, args.profile)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from runner import execute, layout, state

    if args.command == "check":
        from analysis.data.index import load_index
        from runner import datacheck

        index = load_index(data_dir, skip_bad=args.skip_bad_entries)
        decoded = datacheck.check(index, plan)
        sizes = ", ".join(f"{k} {len(v)}" for k, v in index.splits.items())
        print(
            f"data ok: {data_dir} ({sizes}; {len(index.skipped)} entries skipped; "
            f"all {decoded} images decode)"
        )
        print(f"plan ok: {args.plan} profile {args.profile}: {', '.join(plan.runs)}")
        return 0

    if args.command == "status":
        unknown = [n for n in args.why if n not in plan.runs]
        if unknown:
            print(f"error: no run {unknown[0]!r} in {args.plan}", file=sys.stderr)
            return 2
        now = state.inputs(plan.runs.values(), data_dir)
        for run in plan.runs.values():
            if args.why and run.name not in args.why:
                continue
            folder = layout.run_dir(plan.profile, run.name)
            current = state.is_current(folder, now[run.name].fingerprint)
            # a run whose figure code alone changed is redrawn from its record, not trained
            redraw = current and state.figures_why(folder, now[run.name])
            label = "figures to redraw" if redraw else "up to date" if current else "to run"
            print(f"{label:>10}  {plan.profile}/{run.name}")
            if run.name in args.why:
                lines = redraw or state.why(run, folder, now[run.name])
                for line in lines:
                    print(f"{'':>12}{line}")
        return 0

    if args.command == "adopt":
        from runner import adopt, equivalence

        verdicts = adopt.adopt(plan, data_dir, write=not args.dry_run)
        for v in verdicts:
            print(f"{'adopted' if v.adopted else 'stale':>10}  {plan.profile}/{v.run}: {v.reason}")
        moved = sum(v.adopted for v in verdicts)
        print(f"{moved} of {len(verdicts)} runs recorded under the old fingerprint moved")
        split = adopt.split(plan, data_dir, write=not args.dry_run)
        for v in split:
            print(f"{'adopted' if v.adopted else 'stale':>10}  {plan.profile}/{v.run}: {v.reason}")
        if split:
            print(
                f"{sum(v.adopted for v in split)} of {len(split)} runs recorded under one print "
                "(figures included) moved to the training print; `runner status` lists those "
                "whose figures are to redraw"
            )
        built = equivalence.adopt_equivalent(plan, data_dir, args.against, write=not args.dry_run)
        for v in built:
            print(f"{'adopted' if v.adopted else 'stale':>10}  {plan.profile}/{v.run}: {v.reason}")
        if built:
            print(
                f"{sum(v.adopted for v in built)} of {len(built)} runs stale since "
                f"{args.against} moved by building their networks both ways"
            )
        return 0

    if args.command == "run":
        from runner.console import Console

        # Papermill streams each cell's output (Keras' epoch lines) through logging: into each
        # run's run.log, and with -v onto the console as well.
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
        )
        logging.getLogger("traitlets").setLevel(logging.ERROR)
        # The SDK logs every failed request at ERROR (with a link to a troubleshooting page),
        # including the quota refusals the backend retries; the backend reports what matters.
        logging.getLogger("sagemaker").setLevel(logging.INFO if args.verbose else logging.CRITICAL)
        console = Console(verbose=args.verbose)
        backend = sagemaker_backend(args, data_dir) if args.backend == "sagemaker" else None
        try:
            outcome = execute.run_plan(
                plan,
                args.runs,
                data_dir,
                force=args.force,
                keep_going=args.keep_going,
                skip_bad_entries=args.skip_bad_entries,
                backend=backend,
                log=console,
            )
        except execute.RunnerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        finally:
            console.close()
        if outcome.executed or outcome.failed:
            print(execute.summary_table(outcome))
        print(
            f"{plan.profile}: {len(outcome.executed)} executed, {len(outcome.copied)} shared, "
            f"{len(outcome.skipped)} up to date"
            + (f" ({len(outcome.redrawn)} with figures redrawn)" if outcome.redrawn else "")
            + f", {len(outcome.failed)} failed"
        )
        if outcome.failed:
            print("\n".join(f"error: {m}" for m in outcome.messages), file=sys.stderr)
            return 1
        if outcome.skipped and not (outcome.executed or outcome.copied):
            print(execute.recompute_hint(plan, outcome.skipped))
        return 0

    if args.command == "render":
        from runner.report.render import RenderError, render

        try:
            pages = render(plan, args.report_dir, allow_failed=args.allow_failed)
        except RenderError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"rendered {len(pages)} pages into {args.report_dir} from results/{plan.profile}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
