"""Fixtures shared by the tests that talk to AWS APIs (loaded by tests/conftest.py): only
loopback connections and the request check (`pytest.mark.usefixtures("loopback_only",
"aws_rules")` in the module), and one moto server on 127.0.0.1 per test module."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest

from tests import aws_rules as rules


@pytest.fixture
def loopback_only(monkeypatch):
    """Any connection to an address other than 127.0.0.1 fails the test."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] != "127.0.0.1":
            raise AssertionError(f"a test tried to connect to {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    yield f"http://127.0.0.1:{port}"
    server.stop()


class RequestCheck:
    """What the request check refused during one test; a test that expects refusals takes
    them with `take()`, and any left at the end fail the test."""

    def __init__(self, log: Path):
        self.log = log
        self.start_refused, self.start_called = len(rules.REFUSED), len(rules.CALLED)
        self.taken = 0

    def all_refused(self) -> list[dict]:
        return rules.REFUSED[self.start_refused :] + rules.read_log(self.log)[1]

    def calls(self) -> list[tuple[str, str]]:
        return rules.CALLED[self.start_called :] + rules.read_log(self.log)[0]

    def take(self) -> list[dict]:
        """The refusals since the last take()."""
        refused = self.all_refused()
        new, self.taken = refused[self.taken :], len(refused)
        return new


@pytest.fixture
def aws_rules(monkeypatch, tmp_path):
    """Every boto3 request of the test, here and in the runner processes it starts, checked
    against the service's rules (tests/aws_rules.py); every action the runner called must be
    granted by the README's caller policy."""
    rules.install()
    log = tmp_path / "aws-rules.jsonl"
    monkeypatch.setenv("STUDY_AWS_RULES", str(log))
    site = str(Path(rules.__file__).parent / "aws_site")
    path = [site, str(rules.ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    check = RequestCheck(log)
    yield check
    left = check.all_refused()[check.taken :]
    assert not left, f"requests the service would refuse: {left}"
    caller = rules.granted(rules.readme_policies()["caller"])
    missing = sorted(
        {rules.iam_action(*c) for c in check.calls()}
        - {a for a in caller if "*" not in a}
        - rules.NO_PERMISSION
    )
    missing = [a for a in missing if not rules.allows(caller, a)]
    assert not missing, f"the README's caller policy does not grant {missing}"


TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def prepare_account(region: str, role: str | None, image: str | None, trust=TRUST) -> None:
    """In moto: the execution role (trusted by SageMaker unless `trust` says otherwise) and the
    job image in ECR, as preflight expects them."""
    import json

    import boto3

    if role:
        boto3.client("iam", region_name=region).create_role(
            RoleName=role, AssumeRolePolicyDocument=json.dumps(trust)
        )
    if image:
        repo, tag = image.split("/", 1)[1].split(":")
        ecr = boto3.client("ecr", region_name=region)
        ecr.create_repository(repositoryName=repo)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": "sha256:" + "0" * 64},
            "layers": [],
        }
        ecr.put_image(repositoryName=repo, imageManifest=json.dumps(manifest), imageTag=tag)


@pytest.fixture
def quotas(monkeypatch):
    """Service Quotas for SageMaker on 127.0.0.1 (tests/fake_quotas.py), 4 of the usual
    processing instance types; a test changes `quotas.quotas`."""
    from tests.fake_quotas import FakeQuotas

    server = FakeQuotas(
        {
            f"{kind} for processing job usage": 4
            for kind in ("ml.m5.xlarge", "ml.m5.large", "ml.g5.xlarge", "ml.g4dn.xlarge")
        }
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_SERVICE_QUOTAS", server.endpoint)
    yield server
    server.close()
