"""The composition root: every client is built in one place, and a missing region says what to set."""

from __future__ import annotations

import pytest

from core import ConfigurationError
from handlers.root import reset as reset_root
from handlers.root import root

NO_REGION = r"no AWS region for the \w+ client: set AWS_DEFAULT_REGION \(or AWS_REGION\), or run `aws-es local`"


@pytest.fixture
def no_region(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))  # no region from a shared config file
    reset_root()


def test_a_missing_region_is_a_configuration_error_from_every_client_builder(no_region):
    from core.config import default_client

    builders = [lambda: root().dynamodb, lambda: root().sqs, lambda: root().s3, lambda: root().streams,
                lambda: default_client("dynamodb")]
    for build in builders:
        with pytest.raises(ConfigurationError, match=NO_REGION) as caught:
            build()
        assert type(caught.value.__cause__).__name__ == "NoRegionError"


@pytest.mark.parametrize("argv", [["init"], ["hydrate", "loan-1"]])
def test_the_command_line_prints_one_line_that_says_which_variable_to_set(no_region, capsys, argv):
    from handlers.cli import main

    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"aws-es {argv[0]}: no AWS region") and "AWS_DEFAULT_REGION (or AWS_REGION)" in err


def test_aws_region_counts_when_aws_default_region_is_unset(no_region, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    reset_root()
    assert root().dynamodb.meta.region_name == "eu-west-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")  # the one botocore reads wins when both are set
    reset_root()
    assert root().dynamodb.meta.region_name == "us-west-2"
