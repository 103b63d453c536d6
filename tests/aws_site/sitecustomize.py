"""Loaded by the runner processes the AWS tests start (PYTHONPATH, tests/aws.py): installs the
request check of tests/aws_rules.py when STUDY_AWS_RULES names its log."""

import os

if os.environ.get("STUDY_AWS_RULES"):
    from tests import aws_rules

    aws_rules.install(to_file=True)
