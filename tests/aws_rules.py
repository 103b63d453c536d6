"""The request check of the AWS tests: every boto3 call's parameters against the service's own
rules, before moto (which accepts nearly anything) sees them.

From botocore's service model, for every member of the request: required members, `min` and
`max` (string and blob length, list and map size, number value), `pattern` (matched in full;
`\\p{L}`, `\\p{N}`, `\\p{Z}` read as Unicode letters, digits, spaces) and `enum`. Plus the
documented rules the model does not carry (RULES below): Processing local paths under
/opt/ml/processing/, each used once and without `..`, unique input and output names,
ServerlessConfig excludes InstanceType and InitialInstanceCount and takes memory in 1 GB steps,
an invoke body of at most 4 MB (serverless endpoints' limit), and in any request that tags: no
key with the reserved `aws:` prefix, no key twice.

A refused request fails as SageMaker would refuse it: a ClientError ValidationException that
the code under test sees. Every refusal and every call of the code under test (a stack frame in
runner/) is recorded: in this process (REFUSED, CALLED), and in the file STUDY_AWS_RULES names,
for runner processes the tests start (tests/aws_site/sitecustomize.py installs the check
there). The `aws_rules` fixture (tests/aws.py) fails a test that made a refused request it did
not expect, or called an action that the README's IAM policies do not grant.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = str(ROOT / "runner") + os.sep
INVOKE_BODY_MAX = 4_000_000  # bytes: serverless InvokeEndpoint (real-time: 6 MB)
PROCESSING_PATH = "/opt/ml/processing/"
SERVERLESS_MEMORY_STEP = 1024  # MB: serverless memory comes in 1 GB steps
RESERVED_TAG_PREFIX = "aws:"  # tag keys AWS keeps for itself

REFUSED: list[dict] = []  # {"service", "operation", "problems"}, in this process
CALLED: list[tuple[str, str]] = []  # (service, operation) the runner's code called


# --- the service model ----------------------------------------------------------------------

_CLASSES = {
    r"\p{L}": "^\\W\\d_",  # letters: word characters less digits and underscore (negated)
    r"\p{N}": "\\d",
    r"\p{Z}": "\\s",
}


@functools.cache
def compiled(pattern: str):
    """A model pattern as a Python regular expression; None when Python's `re` cannot read it
    (such a member goes unchecked)."""
    text = pattern
    # A class holding \p{L}: letters are "not (non-word, digit or underscore)", which only a
    # class of its own can say, so the class becomes an alternation.
    if r"\p{L}" in text:
        text = re.sub(
            r"\[([^\]]*\\p\{L\}[^\]]*)\]",
            lambda m: "(?:[^\\W\\d_]|[" + m.group(1).replace(r"\p{L}", "") + "])",
            text,
        )
    for p, cls in _CLASSES.items():
        text = text.replace(p, cls if p != r"\p{L}" else "[^\\W\\d_]")
    try:
        return re.compile(text)
    except re.error:
        return None


def check_shape(shape, value, path: str, out: list[str]) -> None:
    md = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return  # botocore's own validation says it
        for name in shape.required_members:
            if name not in value:
                out.append(f"{path}.{name}: required")
        for name, member in shape.members.items():
            if name in value:
                check_shape(member, value[name], f"{path}.{name}", out)
        return
    if kind == "list" and isinstance(value, list | tuple):
        _size(md, len(value), path, "items", out)
        for i, item in enumerate(value):
            check_shape(shape.member, item, f"{path}[{i}]", out)
        return
    if kind == "map" and isinstance(value, dict):
        _size(md, len(value), path, "entries", out)
        for k, v in value.items():
            check_shape(shape.key, k, f"{path} key {k!r}", out)
            check_shape(shape.value, v, f"{path}[{k!r}]", out)
        return
    if kind == "string" and isinstance(value, str):
        _size(md, len(value), path, "characters", out)
        if "enum" in md and value not in md["enum"]:
            out.append(f"{path}: {value!r} is not one of the {len(md['enum'])} allowed values")
        if "pattern" in md:
            rx = compiled(md["pattern"])
            if rx is not None and not rx.fullmatch(value):
                out.append(f"{path}: {value!r} does not match {md['pattern']!r}")
        return
    if kind == "blob" and isinstance(value, bytes | bytearray | str):
        _size(md, len(value), path, "bytes", out)
        return
    if kind in ("integer", "long", "float", "double") and isinstance(value, int | float):
        if "min" in md and value < md["min"]:
            out.append(f"{path}: {value} is below the minimum {md['min']}")
        if "max" in md and value > md["max"]:
            out.append(f"{path}: {value} is above the maximum {md['max']}")


def _size(md: dict, n: int, path: str, unit: str, out: list[str]) -> None:
    if "min" in md and n < md["min"]:
        out.append(f"{path}: {n} {unit}, fewer than the minimum {md['min']}")
    if "max" in md and n > md["max"]:
        out.append(f"{path}: {n} {unit}, more than the maximum {md['max']}")


# --- the documented rules the model does not carry ------------------------------------------


def _processing_job(p: dict) -> list[str]:
    out = []
    inputs = p.get("ProcessingInputs", [])
    outputs = p.get("ProcessingOutputConfig", {}).get("Outputs", [])
    paths = [(f"ProcessingInputs[{i}]", x.get("S3Input", {})) for i, x in enumerate(inputs)]
    paths += [(f"Outputs[{i}]", x.get("S3Output", {})) for i, x in enumerate(outputs)]
    for where, item in paths:
        local = item.get("LocalPath")
        if local is not None and not local.startswith(PROCESSING_PATH):
            out.append(f"{where}.LocalPath {local!r}: must be under {PROCESSING_PATH}")
    locals_ = [item.get("LocalPath") for _, item in paths if item.get("LocalPath")]
    for local in sorted({p for p in locals_ if locals_.count(p) > 1}):
        out.append(f"LocalPath {local!r} is used more than once: each must be unique")
    for where, item in paths:
        local = item.get("LocalPath") or ""
        if ".." in local.split("/"):
            out.append(f"{where}.LocalPath {local!r}: '..' is not allowed in a local path")
    for kind, items, key in (("input", inputs, "InputName"), ("output", outputs, "OutputName")):
        names = [x.get(key) for x in items]
        for name in sorted({n for n in names if names.count(n) > 1}):
            out.append(f"{kind} name {name!r} is used more than once: {key}s must be unique")
    return out


def _endpoint_config(p: dict) -> list[str]:
    out = []
    for i, variant in enumerate(p.get("ProductionVariants", [])):
        memory = variant.get("ServerlessConfig", {}).get("MemorySizeInMB")
        if isinstance(memory, int) and memory % SERVERLESS_MEMORY_STEP:
            out.append(
                f"ProductionVariants[{i}].ServerlessConfig.MemorySizeInMB {memory}: must be "
                f"a multiple of {SERVERLESS_MEMORY_STEP} (1024, 2048, ... 6144)"
            )
        if "ServerlessConfig" in variant:
            both = [k for k in ("InstanceType", "InitialInstanceCount") if k in variant]
            if both:
                out.append(
                    f"ProductionVariants[{i}]: ServerlessConfig excludes {' and '.join(both)}"
                )
    return out


def _tags(p: dict) -> list[str]:
    """Every request that tags: no key with AWS's reserved prefix, no key twice."""
    tags = p.get("Tags")
    if not isinstance(tags, list):
        return []
    keys = [t.get("Key") for t in tags if isinstance(t, dict)]
    out = [
        f"Tags key {k!r}: the prefix {RESERVED_TAG_PREFIX!r} is reserved for AWS"
        for k in keys
        if isinstance(k, str) and k.lower().startswith(RESERVED_TAG_PREFIX)
    ]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    return out + [f"Tags key {k!r} is used more than once" for k in twice]


def _invoke(p: dict) -> list[str]:
    body = p.get("Body")
    size = len(body) if isinstance(body, bytes | bytearray | str) else 0
    if size > INVOKE_BODY_MAX:
        return [f"Body: {size} bytes, above the {INVOKE_BODY_MAX}-byte limit of an invocation"]
    return []


RULES = {
    ("sagemaker", "CreateProcessingJob"): _processing_job,
    ("sagemaker", "CreateEndpointConfig"): _endpoint_config,
    ("sagemaker-runtime", "InvokeEndpoint"): _invoke,
}


@functools.cache
def operation(service: str, name: str):
    """botocore's model of one operation."""
    import botocore.session

    return botocore.session.get_session().get_service_model(service).operation_model(name)


def problems(operation_model, params: dict) -> list[str]:
    """What the service would refuse in this request; empty when it is valid."""
    out: list[str] = []
    if operation_model.input_shape is not None:
        check_shape(operation_model.input_shape, params, operation_model.name, out)
    service = operation_model.service_model.service_name
    rule = RULES.get((service, operation_model.name))
    if rule is not None:
        out += rule(params)
    return out + _tags(params)


# --- the hook on every client -----------------------------------------------------------------


def _called_by_runner() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(RUNNER):
            return True
        frame = frame.f_back
    return False


_to_file = False  # a runner process the tests started: its records go to STUDY_AWS_RULES


def _record(entry: dict) -> None:
    log = os.environ.get("STUDY_AWS_RULES")
    if log and _to_file:
        with open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")


def before_parameter_build(params, model, **_):
    from botocore.exceptions import ClientError

    service = model.service_model.service_name
    if _called_by_runner():
        CALLED.append((service, model.name))
        _record({"called": [service, model.name]})
    found = problems(model, params)
    if found:
        entry = {"service": service, "operation": model.name, "problems": found}
        REFUSED.append(entry)
        _record({"refused": entry})
        raise ClientError(
            {
                "Error": {
                    "Code": "ValidationException",
                    "Message": f"refused by the request check: {'; '.join(found)}",
                },
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            model.name,
        )


_installed = False


def install(to_file: bool = False) -> None:
    """Every botocore client made from now on, in this process, checks its requests; with
    `to_file` (a runner process), what it sees goes to the file STUDY_AWS_RULES names."""
    global _installed, _to_file
    _to_file = _to_file or to_file
    if _installed:
        return
    import botocore.session

    create = botocore.session.Session.create_client

    @functools.wraps(create)
    def create_client(self, *args, **kwargs):
        client = create(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build.*.*", before_parameter_build)
        return client

    botocore.session.Session.create_client = create_client
    _installed = True


def read_log(path: Path) -> tuple[list[tuple[str, str]], list[dict]]:
    """(calls, refusals) a runner process recorded in `path`."""
    calls, refused = [], []
    if path.exists():
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if "called" in entry:
                calls.append(tuple(entry["called"]))
            else:
                refused.append(entry["refused"])
    return calls, refused


# --- the README's IAM policies ----------------------------------------------------------------

ACTION = {  # API operation -> IAM action, where the names differ
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "AbortMultipartUpload"): "s3:AbortMultipartUpload",
    ("sagemaker-runtime", "InvokeEndpoint"): "sagemaker:InvokeEndpoint",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
}
PREFIX = {"service-quotas": "servicequotas"}  # botocore's service name -> IAM's prefix
# Needs no permission: AWS answers GetCallerIdentity even when every action is denied.
NO_PERMISSION = {"sts:GetCallerIdentity"}


def iam_action(service: str, operation: str) -> str:
    return ACTION.get((service, operation), f"{PREFIX.get(service, service)}:{operation}")


def readme_policies(readme: Path = ROOT / "README.md") -> dict[str, dict]:
    """The JSON policies of the README's IAM section, by the name in the line before each."""
    text = readme.read_text()
    out = {}
    for m in re.finditer(r"<!-- policy: ([\w-]+) -->\s*```json\n(.*?)```", text, re.S):
        out[m.group(1)] = json.loads(m.group(2))
    return out


def granted(policy: dict) -> list[str]:
    actions = []
    for statement in policy.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        a = statement.get("Action", [])
        actions += [a] if isinstance(a, str) else a
    return actions


def allows(actions: list[str], action: str) -> bool:
    service, name = action.split(":")
    for a in actions:
        s, _, pat = a.partition(":")
        if s == service and re.fullmatch(re.escape(pat).replace(r"\*", ".*"), name):
            return True
    return False
