"""One Lambda function's process for the artifact test, run as `python -I -S -B artifact_worker.py DIR...`.

Standard library only: `-I -S` leave sys.path with the interpreter's standard library alone, and the folders
given as arguments (the artifact, and boto3 installed on its own as the Lambda runtime provides it) are all
that is added, so a dependency missing from the artifact fails here as it would on Lambda.

Reads one JSON request per line on stdin and answers one JSON line on the original stdout. Everything the
handlers print (powertools' logs and metrics) goes to stderr instead, so it cannot mix with the answers.
- {"handler": "module.function", "event": {...}} -> {"result": ...} or {"error": "traceback"}
- {"modules": [name, ...]} -> {"files": {name: file it was imported from}, "path": sys.path}
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any


class LambdaContext:
    """What powertools reads from Lambda's context object."""

    def __init__(self, function_name: str, request_id: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def answer(request: dict[str, Any], count: int) -> dict[str, Any]:
    if "modules" in request:
        files = {name: getattr(importlib.import_module(name), "__file__", None) for name in request["modules"]}
        return {"files": files, "path": list(sys.path)}
    module, _, name = request["handler"].rpartition(".")
    handler = getattr(importlib.import_module(module), name)
    context = LambdaContext(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function"), f"request-{count}")
    return {"result": handler(request["event"], context)}


def main() -> None:
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.path[:0] = sys.argv[1:]
    for count, line in enumerate(sys.stdin, start=1):
        try:
            reply = answer(json.loads(line), count)
        except Exception:
            reply = {"error": traceback.format_exc()}
        replies.write(json.dumps(reply, default=str) + "\n")


if __name__ == "__main__":
    main()
