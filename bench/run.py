"""`make bench`: every route measured against the floor of its unavoidable work, in one run.

It starts moto's server (DynamoDB and Secrets Manager) in a process of its own, times each
route and its floor in alternation on this machine, prints one table (median, p95, the
floor, their ratio, and whether the goal holds), the throughput of `lambda-auth serve`
for /auth/me, and the sizing estimates for the memory sizes in template.yaml. It exits
with status 1 when a goal is not met.

- cold_starts.py: fresh interpreters, the built artifact's (the goals) and the
  development environment's (for reference), and what each imports;
- warm.py: warm calls in this process, and `lambda-auth serve` under load;
- sizing.py: durations and prices in Lambda at each memory size, and the layer's size;
- report.py: the rows and the printed table.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from lambda_auth_cli.artifact import Artifact

from . import cold_starts, servers, sizing, warm
from .environment import Environment, status
from .report import Results, print_report


def main() -> int:
    started = time.monotonic()
    artifact = Artifact.native()
    status("starting moto's server")
    with tempfile.TemporaryDirectory(prefix="lambda-auth-bench-") as workdir, servers.moto_server() as endpoint:
        env = Environment(endpoint, Path(workdir), artifact)
        env.prepare()
        results = Results()
        status("authorizer cold starts, the artifact's")
        cold_starts.artifact_authorizer(env, results, rounds=15)
        status("cold starts of me, login, signup, the artifact's")
        cold_starts.artifact_http(env, results, rounds=11)
        status("imports of each function")
        cold_starts.import_hygiene(env, results)
        status("cold starts in the development environment")
        cold_starts.venv(env, results, authorizer_rounds=7, runs=3)
        status("authorizer, warm")
        warm.authorizer(env, results, tokens_count=2000, hits=20_000)
        status("/auth/me, warm")
        warm.me(env, results, rounds=300)
        status("login and signup, warm")
        warm.login_and_signup(env, results, rounds=30)
        status("login and password reset, enumeration")
        warm.enumeration(env, results, rounds=21)
        status("the lifecycle routes, warm")
        warm.lifecycle(env, results, rounds=21)
        status("lambda-auth serve under load")
        warm.serve_throughput(env, results, seconds=5.0)
        tables = sizing.sizing_tables(results, artifact)
    print_report(results, tables, artifact.python, time.monotonic() - started)
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
