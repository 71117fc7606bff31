"""`aws-es template`: write the SAM template that deploys the modules of `AWS_ES_MODULES` (handlers/template/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.app import App


def register_template(commands: Any) -> None:
    from handlers.template.stack import API_TYPES

    command = commands.add_parser(
        "template", help="write the SAM template for the modules of AWS_ES_MODULES",
        description="Write the AWS SAM template that deploys the modules of AWS_ES_MODULES: every aggregate's events "
        "table, every projection's tables, the control and idempotency tables, the snapshot bucket, the stream "
        "projector with one stream mapping per events table that feeds projections, the commands and queries APIs "
        "with the routes each module declares in ROUTES, the rebuild state machine and its worker, each function "
        "with least-privilege permissions, alarms and a dashboard. SNAPSHOT_EVERY and PROJECTION_COUNTER_SHARDS "
        "set their defaults. The routes are served on API Gateway's REST API (the default: WAF-attachable, X-Ray "
        "on the API, IAM or Cognito authorization) or, with --api http, on its HTTP API (cheaper; IAM or a JWT "
        "of any OIDC issuer). The same modules and settings always give the same text; `make template` writes "
        "this repository's template.yaml (the loans module, REST API). Then `sam build` (with the same "
        "AWS_ES_MODULES and PYTHONPATH: lambda/Makefile ships the modules' source) and `sam deploy --guided`.",
    )
    command.add_argument("--output", "-o", type=Path, default=None, metavar="PATH",
                         help="the file to write (default: standard output)")
    command.add_argument("--code-uri", default=None, metavar="DIR",
                         help="the functions' CodeUri, the folder of lambda/Makefile (default: this checkout's "
                         "lambda/, relative to the output's folder)")
    command.add_argument("--api", choices=API_TYPES, default="rest",
                         help="the API the routes are served on: rest (API Gateway's REST API, the default) or http "
                         "(its HTTP API); the README's Deployment section compares them")
    command.set_defaults(run=run_template)


def run_template(app: App, args: argparse.Namespace) -> int:
    from handlers.template import code_uri, generate

    settings = app.settings
    folder = args.output.parent if args.output is not None else Path.cwd()
    text = generate(app.registry, settings, args.code_uri or code_uri(folder), args.api)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"{args.output}: the template of {', '.join(settings.modules)} ({args.api.upper()} API)")
    return 0
