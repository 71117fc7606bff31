"""Build the Lambda artifact with lambda/Makefile as `sam build` does, and run its handlers as Lambda would.

Downloads are cached per dependency set under the temporary folder (`aws-es-artifact-cache/`), filled aside
and renamed into place so concurrent runs never see half a cache; a second run installs from the cached
wheels with pip's index switched off, and reuses the boto3 folder as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = ROOT / "lambda" / "Makefile"
REQUIREMENTS = ROOT / "lambda" / "requirements.txt"
TEMPLATE = ROOT / "template.yaml"
WORKER = Path(__file__).resolve().parent / "integration" / "artifact_worker.py"
CACHE = Path(tempfile.gettempdir()) / "aws-es-artifact-cache"
PIP = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]

#: What Lambda sets in every function's environment: credentials, region, and the X-Ray trace header.
LAMBDA_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
}


def run(command: list[str], **options: Any) -> str:
    """Run a command; on failure, an AssertionError that shows what it printed."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def template(path: Path = TEMPLATE) -> dict[str, Any]:
    decoded, problems = decode_str(path.read_text())
    assert not problems, problems
    return decoded


def functions(path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """The template's functions by logical id: Properties, plus `Metadata` under that key; the environment
    variables of Globals come first in each function's (as SAM merges them)."""
    source = template(path)
    shared = source.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    found = {}
    for name, resource in source["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            properties = resource["Properties"]
            variables = {**shared, **properties.get("Environment", {}).get("Variables", {})}
            found[name] = {**properties, "Environment": {"Variables": variables},
                           "Metadata": resource.get("Metadata", {})}
    return found


def makefile_default(name: str) -> str:
    match = re.search(rf"^{name}\s*\?=\s*(\S+)", MAKEFILE.read_text(), re.MULTILINE)
    assert match, f"lambda/Makefile sets no default {name}"
    return match.group(1)


def dev_only() -> list[str]:
    """lambda/Makefile's DEV_ONLY: the paths (shell patterns) of the modules the artifact leaves out."""
    match = re.search(r"^DEV_ONLY\s*:=((?:.*\\\n)*.*)$", MAKEFILE.read_text(), re.MULTILINE)
    assert match, "lambda/Makefile sets no DEV_ONLY"
    return match.group(1).replace("\\\n", " ").split()


def this_machine() -> tuple[str, str]:
    """pip's platform tag and Python version for the interpreter running the tests."""
    return f"manylinux2014_{platform.machine()}", f"{sys.version_info.major}.{sys.version_info.minor}"


def cached(name: str, fill: Callable[[Path], None]) -> Path:
    """CACHE/name, made once by `fill` in a scratch folder beside it and renamed into place."""
    target = CACHE / name
    if target.is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=CACHE))
    try:
        fill(scratch)
        scratch.rename(target)
    except OSError:
        if not target.is_dir():  # another run got there first otherwise
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def key(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def wheels(plat: str, python: str) -> Path:
    """The wheels requirements.txt resolves to for a platform and Python, downloaded once."""
    requirements = REQUIREMENTS.read_text()
    target = ["--platform", plat, "--python-version", python, "--implementation", "cp", "--only-binary=:all:",
              "--no-deps"]
    return cached(f"wheels-{key(requirements, plat, python)}", lambda folder: run(
        [*PIP, "download", *target, "--dest", str(folder), "--requirement", str(REQUIREMENTS)]))


def boto3_folder() -> Path:
    """boto3 and its dependencies alone in a folder, as the Lambda runtime provides them (same boto3 as here)."""
    pin = f"boto3=={version('boto3')}"
    return cached(f"boto3-{key(pin, *this_machine())}", lambda folder: run(
        [*PIP, "install", "--no-compile", "--root-user-action=ignore", "--target", str(folder), pin]))


def build(destination: Path, machine: tuple[str, str] | None = None, modules: dict[str, str] | None = None,
          variables: dict[str, str] | None = None) -> Path:
    """lambda/Makefile's recipe run as `sam build` runs it: from another folder, ARTIFACTS_DIR in the environment.

    Without `machine`, the Makefile's defaults (the template's platform) are used, as by `sam build`; with it,
    the bytecode is compiled by the interpreter running the tests. `modules`: the AWS_ES_MODULES and PYTHONPATH
    `sam build` runs with (default: the library's own modules). `variables`: more of the Makefile's variables.
    """
    make(destination, machine, modules, variables)
    return destination


def make(destination: Path, machine: tuple[str, str] | None = None, modules: dict[str, str] | None = None,
         variables: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`build`'s run of make; with `check` false, what it printed and its exit status, whatever they are."""
    plat, python = machine or (makefile_default("PLATFORM"), makefile_default("PYTHON_VERSION"))
    overrides = [f"PLATFORM={plat}", f"PYTHON_VERSION={python}", f"BYTECODE_PYTHON={sys.executable}"] if machine else []
    overrides += [f"{name}={value}" for name, value in (variables or {}).items()]
    environment = {**{name: value for name, value in os.environ.items() if name != "AWS_ES_MODULES"},
                   **(modules or {}), "ARTIFACTS_DIR": str(destination), "PIP_NO_INDEX": "1",
                   "PIP_FIND_LINKS": str(wheels(plat, python))}
    scratch = Path(tempfile.mkdtemp(prefix="sam-scratch-"))
    command = ["make", "--makefile", str(MAKEFILE), "build-ArtifactFunction", f"PIP={sys.executable} -m pip",
               f"PYTHON={sys.executable}", *overrides]
    try:
        if check:
            run(command, cwd=scratch, env=environment)
            return subprocess.CompletedProcess(command, 0, "", "")
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=scratch, env=environment)
    finally:
        shutil.rmtree(scratch)


def literal_environment(function: dict[str, Any]) -> dict[str, str]:
    """The function's environment variables that the template gives as plain values (references use defaults)."""
    variables = function.get("Environment", {}).get("Variables", {})
    return {name: str(value) for name, value in variables.items() if isinstance(value, (str, int))}


def api_event(method: str, path: str, body: str | None = None, query: dict[str, str] | None = None,
              key: str | None = None) -> dict:
    """An API Gateway REST proxy event, as Lambda receives it (`key`: an Idempotency-Key header)."""
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    return {"httpMethod": method, "path": path, "resource": path, "body": body, "isBase64Encoded": False,
            "headers": headers, "multiValueHeaders": {},
            "queryStringParameters": query, "multiValueQueryStringParameters": None, "pathParameters": None,
            "requestContext": {"requestId": f"{method} {path}", "stage": "Prod", "httpMethod": method}}


def reply(result: dict[str, Any]) -> tuple[int, Any]:
    return result["statusCode"], json.loads(result["body"])


def stream_event(endpoint: str, table: str = "Loans") -> dict[str, Any]:
    """Every record on the `table`'s stream, shaped as Lambda delivers them (docs/local-aws.md)."""
    arn = boto3.client("dynamodb", endpoint_url=endpoint).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint)
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator)["Records"]:
            image = dict(record["dynamodb"], ApproximateCreationDateTime=record["dynamodb"][
                "ApproximateCreationDateTime"].timestamp())
            records.append({**record, "dynamodb": image, "eventSource": "aws:dynamodb", "eventSourceARN": arn})
    return {"Records": records}


class LambdaProcess:
    """One function's interpreter: the artifact and the boto3 folder on sys.path and nothing else."""

    def __init__(self, artifact: Path, boto3: Path, environment: dict[str, str]) -> None:
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by close())
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(WORKER), str(artifact), str(boto3)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=environment)

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the function's process ended:\n{self.printed()}"
        reply = json.loads(line)
        what = request.get("handler", "import")
        assert "error" not in reply, f"{what} raised:\n{reply['error']}\nit printed:\n{self.printed()}"
        return reply

    def invoke(self, handler: str, event: dict[str, Any]) -> Any:
        return self.ask({"handler": handler, "event": event})["result"]

    def printed(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.log.close()


@contextmanager
def lambda_processes(artifact: Path, boto3: Path, endpoint: str, path: Path = TEMPLATE,
                     handlers: set[str] | None = None) -> Iterator[dict[str, LambdaProcess]]:
    """One process per function in the template (or per function of `handlers`), keyed by its handler, each
    with that function's environment."""
    started: dict[str, LambdaProcess] = {}
    try:
        for name, function in functions(path).items():
            if handlers is not None and function["Handler"] not in handlers:
                continue
            environment = {**LAMBDA_ENVIRONMENT, **literal_environment(function), "AWS_ENDPOINT_URL": endpoint,
                           "AWS_LAMBDA_FUNCTION_NAME": name, "LAMBDA_TASK_ROOT": str(artifact)}
            started[function["Handler"]] = LambdaProcess(artifact, boto3, environment)
        yield started
    finally:
        for process in started.values():
            process.close()
