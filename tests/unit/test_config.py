"""The App: every client is built in one place, at the configured endpoint, and a missing region says what to
set."""

from __future__ import annotations

import pytest

from core import ConfigurationError
from handlers.app import App
from handlers.settings import Settings

NO_REGION = r"no AWS region for the \w+ client: set AWS_DEFAULT_REGION \(or AWS_REGION\), or run `aws-es local`"


@pytest.fixture
def no_region(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))  # no region from a shared config file


def test_a_missing_region_is_a_configuration_error_from_every_client_builder(no_region):
    from core.config import default_client

    app = App(Settings())
    builders = [lambda: app.dynamodb, lambda: app.sqs, lambda: app.s3, lambda: app.streams,
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


def test_aws_region_counts_when_aws_default_region_is_unset(no_region):
    assert App.from_env({"AWS_REGION": "eu-west-1"}).dynamodb.meta.region_name == "eu-west-1"
    both = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}  # the one botocore reads wins
    assert App.from_env(both).dynamodb.meta.region_name == "us-west-2"


def test_every_client_goes_to_the_configured_endpoint_with_the_configured_credentials():
    app = App(Settings(region="eu-west-1", endpoint="http://127.0.0.1:9", credentials=("local-key", "local-secret")))
    for client in (app.dynamodb, app.sqs, app.s3, app.streams):
        assert client.meta.endpoint_url == "http://127.0.0.1:9"
        assert client._request_signer._credentials.access_key == "local-key"
    assert app.s3.meta.config.s3["addressing_style"] == "path"  # a local endpoint has no bucket DNS
    split = App(Settings(region="eu-west-1", endpoint="http://127.0.0.1:9", s3_endpoint="http://127.0.0.1:8"))
    assert (split.dynamodb.meta.endpoint_url, split.s3.meta.endpoint_url) == ("http://127.0.0.1:9", "http://127.0.0.1:8")


def test_settings_read_the_endpoint_from_the_environment_given():
    settings = Settings.from_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert (settings.endpoint, settings.s3_endpoint, settings.credentials) == ("http://127.0.0.1:9",) * 2 + (None,)
    assert App(settings).dynamodb.meta.endpoint_url == "http://127.0.0.1:9"
    assert "credentials" not in repr(App(Settings(credentials=("k", "s"))).settings)
