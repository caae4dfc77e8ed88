"""`lambda-auth invoke`: one function of the template, run with an event file, as `sam local invoke` does."""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import redirect_stdout
from typing import Any

from . import local_aws, template
from .console import CliError, say
from .jwks_file import JwksFile
from .lambda_runtime import FunctionError
from .roles import Roles
from .serve import start_functions, stop_functions
from .server import lambda_endpoint


def _event(args: argparse.Namespace) -> object:
    try:
        return json.loads(args.event.read_text(encoding="utf-8"))
    except OSError as error:
        raise CliError(f"cannot read the event file {args.event}: {error.strerror}", exit_code=2) from None
    except ValueError as error:
        raise CliError(f"the event file {args.event} is not JSON: {error}", exit_code=2) from None


def invoke(args: argparse.Namespace) -> int:
    """Run one function with an event file; print its result (or Lambda's error object) as JSON."""
    app = template.application(overrides=dict(args.parameter_overrides))
    if args.function not in app.functions:
        names = ", ".join(sorted(app.functions))
        raise CliError(f"no function {args.function!r} in template.yaml; its functions: {names}", exit_code=2)
    event = _event(args)
    roles = Roles(app)
    keys = JwksFile(args.jwks)
    keys.ensure()
    output = sys.stdout
    lambda_api = local_aws.LambdaInvokeApi({}, roles, app.region)
    functions = {}
    try:
        with local_aws.local_table(roles) as table, lambda_endpoint(lambda_api) as endpoint:
            request_id = f"local-{int(time.time() * 1000)}"
            # The functions' logs go to stderr, so that stdout holds only the result. Only this one starts now;
            # another (the mailer a reset hands over to) starts when it is invoked.
            with redirect_stdout(sys.stderr):
                functions = start_functions(app, keys, roles, table, args.verbose, endpoint, [args.function], True)
                lambda_api.functions = functions
                try:
                    result: Any = functions[args.function].invoke(event, request_id)
                except FunctionError as error:
                    say(json.dumps(error.payload(request_id), indent=2, ensure_ascii=False), output)
                    raise CliError(f"{args.function} raised {error.error_type}: {error.error_message}") from None
                except ValueError as error:
                    raise CliError(f"{args.function} returned a value Lambda cannot send as JSON: {error}") from None
            say(json.dumps(result, indent=2, ensure_ascii=False), output)
    finally:
        stop_functions(functions)
    return 0
