"""SageMaker's endpoint API for one region: calls, waiting, invoking, listing, deleting."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import numpy as np

from runner.backends import sagemaker as sm
from runner.serving import aws
from runner.serving.aws import BODY_LIMIT, DENIED, ServeError


class Endpoints:
    """SageMaker's endpoint API for one region; every AWS error becomes one ServeError."""

    def __init__(self, region: str, prefix: str, poll_s: float = 15.0):
        self.region = region
        # Every name deploy gives starts with it; the lists are filtered by it.
        self.prefix = aws.name_prefix(prefix)
        self.poll_s = poll_s
        self.sleep = time.sleep
        self.session = aws.boto_session(region)
        self.sm, self.runtime = aws.clients(self.session, region)

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

    def invoke(self, name: str, x: np.ndarray, files: list | None = None) -> np.ndarray:
        """Probabilities from the endpoint for prepared images, in requests whose encoded
        body stays under BODY_LIMIT (batches()). The body is TensorFlow Serving's JSON; values
        are sent as floats because the SavedModel's input is float32."""
        if not len(x):
            return np.zeros((0, 0), "float32")
        out = []
        for start, stop, body in batches(x, files):
            answer = self.call(
                self.runtime,
                "InvokeEndpoint",
                EndpointName=name,
                ContentType="application/json",
                Accept="application/json",
                Body=body,
            )
            out.append(parse_answer(name, answer["Body"].read(), stop - start))
        return np.concatenate(out)

    # --- undeploy and list ----------------------------------------------------------------------

    def tagged(self, kind: str) -> list[tuple[str, dict]]:
        """(name, tags) of every `kind` (Endpoint, EndpointConfig, Model) deploy created: the
        list filtered by the name prefix (NameContains) on AWS's side, ListTags only for those
        whose name starts with it, so a busy account's other resources are never looked at."""
        items, token = [], None
        while True:
            more = {"NextToken": token} if token else {}
            page = self.call(self.sm, f"List{kind}s", NameContains=self.prefix, **more)
            items += [
                i for i in page.get(f"{kind}s", []) if i[f"{kind}Name"].startswith(self.prefix)
            ]
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


def batches(
    x: np.ndarray, files: list | None = None, limit: int = BODY_LIMIT
) -> Iterator[tuple[int, int, bytes]]:
    """(start, stop, body) of consecutive images whose TensorFlow Serving JSON body,
    {"instances": [...]}, is at most `limit` bytes: each image is encoded once and measured,
    so a bright image (longer numbers) never overfills a batch sized from a dark one. One
    image that alone exceeds the limit is a ServeError naming its file."""
    head, tail, sep = b'{"instances": [', b"]}", b", "
    rows: list[bytes] = []
    size, start = len(head) + len(tail), 0
    for i, image in enumerate(x):
        row = json.dumps(image.astype("float32").tolist()).encode()
        if len(head) + len(row) + len(tail) > limit:
            what = files[i] if files is not None else f"image {i + 1}"
            raise ServeError(
                f"{what}: its request alone would be {len(head) + len(row) + len(tail)} bytes, "
                f"above the {limit}-byte limit of one invocation (serverless endpoints accept "
                "4 MB); use a smaller image size",
                2,
            )
        extra = len(row) + (len(sep) if rows else 0)
        if rows and size + extra > limit:
            yield start, i, head + sep.join(rows) + tail
            rows, size, start = [], len(head) + len(tail), i
            extra = len(row)
        rows.append(row)
        size += extra
    if rows:
        yield start, len(x), head + sep.join(rows) + tail


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
