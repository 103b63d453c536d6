"""A run's model behind a SageMaker endpoint: `deploy`, `invoke`, `undeploy`, `endpoints`.

deploy    exports model.keras as a TensorFlow Serving SavedModel (runner.export), uploads
          `model.tar.gz` to s3://<bucket>/<prefix>/models/<profile>/<run>/<sha>/, then creates
          Model -> EndpointConfig -> Endpoint (serverless by default: it scales to zero and
          costs nothing idle; --instance-type for a real-time instance) and waits for it.
invoke    decodes images exactly as `predict` does, sends them as TensorFlow Serving JSON
          ({"instances": [...]}) and prints the top-k; it says where the endpoint's answer
          differs from the local model's.
undeploy  deletes the endpoint, its configuration and its model (and any left by a deploy that
          failed half-way); repeating it deletes nothing and succeeds.
endpoints lists what this project has deployed, found by its `msl-study:endpoint` tag.

The endpoint is named `<prefix>-<profile>-<run>`. Settings are the Processing jobs' own
(runner.sagemaker: SAGEMAKER_ROLE, SAGEMAKER_BUCKET, AWS_REGION, SAGEMAKER_PREFIX), plus
SAGEMAKER_SERVING_IMAGE to override the TensorFlow Serving image.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analysis import paths
from runner import predict
from runner import sagemaker as sm

SERVING_IMAGE_ENV = "SAGEMAKER_SERVING_IMAGE"
# AWS's Deep Learning Containers registry, used when the SDK's image table is not installed.
DLC_PATTERN = "763104351884.dkr.ecr.{region}.amazonaws.com/tensorflow-inference:{version}-{proc}"
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
VARIANT = "AllTraffic"
REQUEST_BYTES = 4_000_000  # a serverless request carries at most 4 MB (real-time: 6 MB)
NAME_MAX = 63
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized"}
TAG_KEY = f"{sm.TAG}endpoint"  # every resource deploy creates carries it; `endpoints` reads it


class ServeError(Exception):
    """One message, and the exit status: 2 bad input or settings, 1 AWS refused or failed."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def boto_session(region: str):
    """The one place AWS sessions are made (credentials are boto3's own)."""
    import boto3

    return boto3.Session(region_name=region)


def region_from_env(env=os.environ) -> str:
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        try:
            region = boto_session(None).region_name
        except ImportError:
            raise ServeError(
                "the endpoint commands need the AWS packages: `.venv/bin/pip install -e '.[aws]'`",
                2,
            ) from None
    if not region:
        raise ServeError("set AWS_REGION (or AWS_DEFAULT_REGION) to the SageMaker region", 2)
    return region


def prefix_from_env(env=os.environ) -> str:
    return str(env.get("SAGEMAKER_PREFIX") or sm.DEFAULT_PREFIX).strip("/") or sm.DEFAULT_PREFIX


def endpoint_name(prefix: str, profile: str, run: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9]+", "-", f"{prefix}-{profile}-{run}").strip("-")
    return name[:NAME_MAX].rstrip("-")


def serving_image(region: str, instance_type: str | None, tf_version: str | None = None) -> str:
    """AWS's TensorFlow Serving image for the region: the installed TensorFlow's version, or
    the newest AWS publishes below it (a SavedModel of these layers loads in an older
    TensorFlow Serving), resolved through the SDK's image table like the Processing image."""
    want = tf_version or sm.tensorflow_version()
    # Serverless endpoints run on CPUs; a CPU instance family picks the CPU build.
    itype = instance_type or "ml.c5.large"
    proc = "gpu" if re.match(r"ml\.[gp]\d", itype) else "cpu"

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".")[:2])

    try:
        from sagemaker.core import image_uris

        versions = image_uris.config_for_framework("tensorflow")["inference"]["versions"]
        usable = sorted({".".join(v.split(".")[:2]) for v in versions}, key=key)
        version = max((v for v in usable if key(v) <= key(want)), key=key, default=usable[-1])
        return image_uris.retrieve(
            "tensorflow",
            region=region,
            version=version,
            instance_type=itype,
            image_scope="inference",
        )
    except ImportError:
        return DLC_PATTERN.format(region=region, version=".".join(want.split(".")[:2]), proc=proc)
    except ValueError as exc:
        raise ServeError(
            f"no AWS TensorFlow Serving image for {itype} in {region} ({exc}); set "
            f"{SERVING_IMAGE_ENV} (or --image) to an image URI",
            2,
        ) from None


def _tags(artifact: predict.Artifact, name: str, serving: str, sha: str) -> list[dict]:
    values = {
        "endpoint": name,
        "run": artifact.run,
        "profile": artifact.profile,
        "model-sha256": sha[:16],
        "serving": serving,
    }
    return [{"Key": f"{sm.TAG}{k}", "Value": v} for k, v in values.items()]


class Endpoints:
    """SageMaker's endpoint API for one region; every AWS error becomes one ServeError."""

    def __init__(self, region: str, poll_s: float = 15.0):
        self.region = region
        self.poll_s = poll_s
        self.sleep = time.sleep
        self.session = boto_session(region)
        self.sm = self.session.client("sagemaker")
        self.runtime = self.session.client("sagemaker-runtime")

    def call(self, client, operation: str, **params):
        """client.<operation>(**params), with AWS's refusal said in one line."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        try:
            return getattr(client, method)(**params)
        except NoCredentialsError:
            raise ServeError(
                "no AWS credentials found (environment, AWS_PROFILE, SSO or instance role)", 2
            ) from None
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, message = err.get("Code", "?"), err.get("Message", str(exc))
            service = client.meta.service_model.signing_name
            if code in DENIED:
                raise ServeError(
                    f"AWS denied {service}:{operation} ({code}: {message}); the caller needs "
                    "the permissions listed in the README, 'Serve the model'",
                    2,
                ) from None
            raise ServeError(f"{service}:{operation} failed: {code}: {message}") from None
        except BotoCoreError as exc:
            raise ServeError(f"{operation} failed: {exc}") from None

    def describe(self, name: str) -> dict | None:
        """DescribeEndpoint, or None when there is no such endpoint."""
        try:
            return self.call(self.sm, "DescribeEndpoint", EndpointName=name)
        except ServeError as exc:
            if re.search(r"Could not find|does not exist|not found", str(exc)):
                return None
            raise

    # --- deploy -------------------------------------------------------------------------------

    def deploy(
        self,
        artifact: predict.Artifact,
        settings: sm.Settings,
        image: str,
        instance_type: str | None = None,
        memory_mb: int = 2048,
        max_concurrency: int = 2,
        wait_s: float = 1800,
        name: str | None = None,
        log=print,
    ) -> dict:
        from runner import export

        name = name or endpoint_name(settings.prefix, artifact.profile, artifact.run)
        existing = self.describe(name)
        if existing:
            raise ServeError(
                f"endpoint {name} already exists in {self.region} "
                f"({existing.get('EndpointStatus')}); remove it first with `python -m runner "
                f"undeploy --run {artifact.run} --profile {artifact.profile}`",
                2,
            )
        sha = export.sha256(artifact.file)
        key = f"{settings.prefix}/models/{artifact.profile}/{artifact.run}/{sha[:16]}/model.tar.gz"
        with tempfile.TemporaryDirectory(prefix="msl-export-") as work:
            tarball = export.package(artifact, Path(work))
            log(
                f"deploy: {artifact.file} as a TensorFlow Serving SavedModel -> s3://"
                f"{settings.bucket}/{key} ({tarball.stat().st_size / 1e6:.1f} MB)"
            )
            s3 = self.session.client("s3")
            with open(tarball, "rb") as body:
                self.call(s3, "PutObject", Bucket=settings.bucket, Key=key, Body=body)
        serving = instance_type or f"serverless {memory_mb} MB"
        tags = _tags(artifact, name, serving, sha)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        part = f"{name[: NAME_MAX - len(stamp) - 1].rstrip('-')}-{stamp}"
        self.call(
            self.sm,
            "CreateModel",
            ModelName=part,
            ExecutionRoleArn=self.role_arn(settings.role),
            PrimaryContainer={"Image": image, "ModelDataUrl": f"s3://{settings.bucket}/{key}"},
            Tags=tags,
        )
        variant = {"VariantName": VARIANT, "ModelName": part}
        if instance_type:
            variant.update(InstanceType=instance_type, InitialInstanceCount=1)
        else:
            variant["ServerlessConfig"] = {
                "MemorySizeInMB": memory_mb,
                "MaxConcurrency": max_concurrency,
            }
        self.call(
            self.sm,
            "CreateEndpointConfig",
            EndpointConfigName=part,
            ProductionVariants=[variant],
            Tags=tags,
        )
        self.call(self.sm, "CreateEndpoint", EndpointName=name, EndpointConfigName=part, Tags=tags)
        log(f"deploy: creating endpoint {name} ({serving}, image {image}) in {self.region}")
        described = self.wait(name, wait_s, log)
        return {
            "endpoint": name,
            "model": part,
            "config": part,
            "status": "InService",
            "model_data": f"s3://{settings.bucket}/{key}",
            "serving": serving,
            "arn": described.get("EndpointArn"),
        }

    def role_arn(self, role: str) -> str:
        """An ARN as given; a bare role name is looked up in IAM."""
        if role.startswith("arn:"):
            return role
        iam = self.session.client("iam")
        return self.call(iam, "GetRole", RoleName=role)["Role"]["Arn"]

    def wait(self, name: str, wait_s: float, log=print) -> dict:
        """Until the endpoint is InService; its FailureReason when it fails."""
        start, last = time.monotonic(), None
        while True:
            d = self.describe(name) or {"EndpointStatus": "Deleted"}
            status = d.get("EndpointStatus")
            if status != last:
                log(f"  {name}: {status} after {time.monotonic() - start:.0f} s")
                last = status
            if status == "InService":
                return d
            if status in {"Failed", "Deleted", "OutOfService"}:
                raise ServeError(
                    f"endpoint {name} {status}: "
                    f"{d.get('FailureReason') or 'no failure reason given'}; its configuration "
                    "and model are kept for inspection: `python -m runner undeploy` removes them"
                )
            if time.monotonic() - start > wait_s:
                raise ServeError(
                    f"endpoint {name} still {status} after {wait_s:.0f} s; "
                    "`python -m runner endpoints` shows when it is ready"
                )
            self.sleep(self.poll_s)

    # --- invoke -------------------------------------------------------------------------------

    def invoke(self, name: str, x: np.ndarray) -> np.ndarray:
        """Probabilities from the endpoint for prepared images, in requests under the size
        limit. The body is TensorFlow Serving's JSON; values are sent as floats because the
        SavedModel's input is float32."""
        if not len(x):
            return np.zeros((0, 0), "float32")
        per_image = len(json.dumps(x[0].astype("float32").tolist())) + 2
        batch = max(1, (REQUEST_BYTES - 100) // per_image)
        out = []
        for i in range(0, len(x), batch):
            body = json.dumps({"instances": x[i : i + batch].astype("float32").tolist()})
            answer = self.call(
                self.runtime,
                "InvokeEndpoint",
                EndpointName=name,
                ContentType="application/json",
                Accept="application/json",
                Body=body.encode(),
            )
            out.append(parse_answer(name, answer["Body"].read(), len(x[i : i + batch])))
        return np.concatenate(out)

    # --- undeploy and list ----------------------------------------------------------------------

    def tagged(self, kind: str) -> list[tuple[str, dict]]:
        """(name, tags) of every `kind` (Endpoint, EndpointConfig, Model) deploy created."""
        items, token = [], None
        while True:
            page = self.call(self.sm, f"List{kind}s", **({"NextToken": token} if token else {}))
            items += page.get(f"{kind}s", [])
            token = page.get("NextToken")
            if not token:
                break
        out = []
        for item in items:
            arn = item[f"{kind}Arn"]
            tags = self.call(self.sm, "ListTags", ResourceArn=arn).get("Tags", [])
            tags = {t["Key"].removeprefix(sm.TAG): t["Value"] for t in tags}
            if "endpoint" in tags:
                out.append((item[f"{kind}Name"], {**tags, "status": item.get("EndpointStatus")}))
        return out

    def undeploy(self, name: str, log=print) -> list[str]:
        """Delete the endpoint, its configuration and model, and any configuration or model a
        failed deploy left under this endpoint's tag; the deleted resources' descriptions."""
        deleted = []
        d = self.describe(name)
        configs, models = set(), set()
        if d:
            configs.add(d["EndpointConfigName"])
            self.call(self.sm, "DeleteEndpoint", EndpointName=name)
            deleted.append(f"endpoint {name}")
        configs |= {n for n, t in self.tagged("EndpointConfig") if t["endpoint"] == name}
        for config in sorted(configs):
            try:
                c = self.call(self.sm, "DescribeEndpointConfig", EndpointConfigName=config)
            except ServeError:
                continue  # deleted by another undeploy in the meantime
            models |= {v["ModelName"] for v in c.get("ProductionVariants", [])}
            self.call(self.sm, "DeleteEndpointConfig", EndpointConfigName=config)
            deleted.append(f"endpoint configuration {config}")
        models |= {n for n, t in self.tagged("Model") if t["endpoint"] == name}
        for model in sorted(models):
            try:
                self.call(self.sm, "DeleteModel", ModelName=model)
                deleted.append(f"model {model}")
            except ServeError as exc:
                if not re.search(r"Could not find|does not exist|not found", str(exc)):
                    raise
        return deleted


def parse_answer(name: str, raw: bytes, n: int) -> np.ndarray:
    """TensorFlow Serving's answer, {"predictions": [[p, ...], ...]}, as an (n, classes) array."""
    try:
        probs = np.asarray(json.loads(raw)["predictions"], dtype="float64")
        if probs.ndim != 2 or len(probs) != n:
            raise ValueError(f"expected {n} rows of probabilities, got shape {probs.shape}")
    except (ValueError, KeyError, TypeError) as exc:
        text = raw[:200].decode("utf-8", "replace")
        raise ServeError(
            f"endpoint {name} did not answer with TensorFlow Serving predictions ({exc}): {text!r}"
        ) from None
    return probs


# --- the commands -------------------------------------------------------------------------------


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
    # The Processing jobs' settings (role, bucket, region, prefix); their job image is not
    # used here, so a placeholder keeps from_env from resolving one.
    settings = sm.SageMakerBackend.from_env(paths.data_dir(), image="unused").settings
    image = (
        args.image
        or os.environ.get(SERVING_IMAGE_ENV)
        or serving_image(settings.region, args.instance_type)
    )
    api = Endpoints(settings.region, poll_s=settings.poll_s)
    try:
        out = api.deploy(
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
    api = Endpoints(region_from_env())
    remote = api.invoke(name, artifact.prepare(x)) if len(x) else np.zeros((0, 0))
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
    api = Endpoints(region_from_env())
    deleted = api.undeploy(name)
    if deleted:
        print("deleted " + ", ".join(deleted))
    else:
        print(f"nothing to delete: no endpoint, configuration or model {name} in {api.region}")
    return 0


def endpoints_command(args) -> int:
    api = Endpoints(region_from_env())
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
