"""The serving commands' command line: deploy, invoke, undeploy, endpoints."""

from __future__ import annotations

import os
import re
import sys

import numpy as np

from analysis import paths
from runner.backends import sagemaker as sm
from runner.serving import predict
from runner.serving.aws import (
    MAX_CONCURRENCY,
    SERVERLESS_MEMORY_MB,
    SERVING_IMAGE_ENV,
    ServeError,
    endpoint_name,
    prefix_from_env,
    region_from_env,
    serving_image,
)
from runner.serving.deploy import deploy
from runner.serving.endpoints import Endpoints


def _endpoint_args(p, run_flags: bool = True) -> None:
    if run_flags:
        p.add_argument("--run", default=predict.DEFAULT_RUN, help="run of the plan (default: cnn)")
        p.add_argument(
            "--profile", default=None, help="profile (default: the plan's published profile)"
        )
    p.add_argument(
        "--endpoint", default=None, help="endpoint name (default: <prefix>-<profile>-<run>)"
    )


def add_parsers(sub) -> None:
    p = sub.add_parser("deploy", help="serve a run's model on a SageMaker endpoint")
    _endpoint_args(p)
    p.add_argument(
        "--instance-type",
        default=None,
        help="a real-time instance such as ml.c5.large (default: serverless, nothing paid idle)",
    )
    p.add_argument(
        "--memory-mb", type=int, default=2048, choices=SERVERLESS_MEMORY_MB, help="serverless"
    )
    p.add_argument("--max-concurrency", type=int, default=2, help="serverless (default: 2)")
    p.add_argument(
        "--image",
        default=None,
        help=f"serving image URI (default: ${SERVING_IMAGE_ENV} or AWS's TensorFlow Serving image)",
    )
    p.add_argument("--wait-minutes", type=float, default=30, help="give up waiting after these")
    p.set_defaults(handler=_guarded(deploy_command))

    p = sub.add_parser("invoke", help="classify images with the deployed endpoint")
    predict.add_arguments(p)
    _endpoint_args(p, run_flags=False)
    p.set_defaults(handler=_guarded(invoke_command))

    p = sub.add_parser("undeploy", help="delete the endpoint, its configuration and model")
    _endpoint_args(p)
    p.set_defaults(handler=_guarded(undeploy_command))

    p = sub.add_parser("endpoints", help="list this project's SageMaker endpoints")
    p.set_defaults(handler=_guarded(endpoints_command))


def _guarded(command):
    def run(args) -> int:
        try:
            return command(args)
        except ServeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.code

    return run


def _name(args, profile: str) -> str:
    return args.endpoint or endpoint_name(prefix_from_env(), profile, args.run)


def deploy_command(args) -> int:
    artifact = predict.find(args.run, args.profile)
    if args.instance_type and not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", args.instance_type):
        raise ServeError(f"--instance-type {args.instance_type!r}: expected e.g. ml.c5.large", 2)
    low, high = MAX_CONCURRENCY
    if not low <= args.max_concurrency <= high:
        raise ServeError(
            f"--max-concurrency {args.max_concurrency}: a serverless endpoint takes "
            f"{low} to {high} concurrent invocations",
            2,
        )
    # The Processing jobs' settings (role, bucket, region, prefix); their job image is not
    # used here, so a placeholder keeps from_env from resolving one.
    settings = sm.SageMakerBackend.from_env(paths.data_dir(), image="unused").settings
    image = (
        args.image
        or os.environ.get(SERVING_IMAGE_ENV)
        or serving_image(settings.region, args.instance_type)
    )
    api = Endpoints(settings.region, settings.prefix, poll_s=settings.poll_s)
    try:
        out = deploy(
            api,
            artifact,
            settings,
            image,
            instance_type=args.instance_type,
            memory_mb=args.memory_mb,
            max_concurrency=args.max_concurrency,
            wait_s=60 * args.wait_minutes,
            name=args.endpoint,
        )
    except KeyboardInterrupt:
        # What was created keeps running (and, on an instance, costing): say how to see it.
        print(
            "\ninterrupted: whatever was created is still there; `python -m runner endpoints` "
            "lists it, `python -m runner undeploy` removes it",
            file=sys.stderr,
        )
        return 3
    print(
        f"deployed {artifact.profile}/{artifact.run} as endpoint {out['endpoint']} "
        f"({out['serving']}) in {settings.region}\n"
        f"  try it:    python -m runner invoke IMAGE... --run {artifact.run} "
        f"--profile {artifact.profile}\n"
        f"  remove it: python -m runner undeploy --run {artifact.run} "
        f"--profile {artifact.profile}"
    )
    return 0


def invoke_command(args) -> int:
    artifact = predict.find(args.run, args.profile)
    name = _name(args, artifact.profile)
    files, errors = predict.collect(args.images)
    x, files, bad = predict.decode(files, artifact.image_size)
    errors += bad
    api = Endpoints(region_from_env(), prefix_from_env())
    remote = api.invoke(name, artifact.prepare(x), files) if len(x) else np.zeros((0, 0))
    local = artifact.probabilities(x) if len(x) else remote
    differ = []
    for f, r, loc in zip(files, remote, local, strict=True):
        gap = float(np.max(np.abs(r - loc))) if r.shape == loc.shape else float("inf")
        if r.shape != loc.shape or r.argmax() != loc.argmax() or gap > 1e-3:
            differ.append(
                {
                    "file": str(f),
                    "max_difference": gap,
                    "local_top": predict.top_k(loc[None], artifact, 1)[0][0],
                }
            )
    tops = predict.top_k(remote, artifact, args.top)
    code = predict.report(artifact, files, tops, errors, args.json, endpoint=name, differ=differ)
    for d in [] if args.json else differ:  # JSON: the `differ` list says it
        t = d["local_top"]
        print(
            f"differs: endpoint {name} and the local model disagree on {d['file']} (largest "
            f"probability difference {d['max_difference']:.3g}; local model: "
            f"{t['class_name']} {100 * t['probability']:.1f} %)"
        )
    if not differ and len(files):
        print(f"the endpoint's answers match the local model's ({len(files)} image(s))")
    return code


def undeploy_command(args) -> int:
    profile = args.profile or predict.published_profile()
    name = _name(args, profile)
    api = Endpoints(region_from_env(), prefix_from_env())
    deleted = api.undeploy(name)
    if deleted:
        print("deleted " + ", ".join(deleted))
    else:
        print(f"nothing to delete: no endpoint, configuration or model {name} in {api.region}")
    return 0


def endpoints_command(args) -> int:
    api = Endpoints(region_from_env(), prefix_from_env())
    endpoints = api.tagged("Endpoint")
    live = {n for n, _ in endpoints}
    for name, t in endpoints:
        print(
            f"{name}  {t['status']}  {t.get('profile')}/{t.get('run')}  {t.get('serving')}  "
            f"model sha256 {t.get('model-sha256')}"
        )
    leftovers = sorted(
        {
            f"{kind} {n}"
            for kind in ("EndpointConfig", "Model")
            for n, t in api.tagged(kind)
            if t["endpoint"] not in live
        }
    )
    for item in leftovers:
        print(f"left over (no endpoint): {item}; `python -m runner undeploy` removes it")
    if not endpoints and not leftovers:
        print(f"no endpoints of this project in {api.region}")
    return 0
