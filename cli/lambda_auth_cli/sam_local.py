"""`lambda-auth sam-local`: `sam local start-api` on Docker, with moto standing in for DynamoDB and Secrets Manager.

It runs what `make artifact` built for this machine (the layer needs its build), with:
- a Docker engine (docker_engine: the running one, or dockerd started here and stopped
  at the end) and the image the functions run in: the local one (invoke_image), or AWS's,
  which SAM CLI pulls;
- the embedded moto of `lambda-auth serve`, on the Docker bridge's address, where the
  containers reach this machine (never on every address), with the users table and the
  token keys' secret created as the template creates them;
- three files in the state folder, removed when it stops: the env vars file that points
  the functions at moto (`--env-vars`: sam local overrides only variables the template
  declares), the SAM CLI config file with every other option, and the moto's key for this
  run. The key cannot travel in the env vars file: Lambda reserves AWS_ACCESS_KEY_ID and
  AWS_SECRET_ACCESS_KEY, so no template declares them, and SAM CLI hands the containers
  the credentials of its own environment instead. The same files serve `sam local invoke`
  from another terminal (see `invoke_hint`).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import docker_engine, invoke_image, local_aws, template
from .artifact import Artifact, ArtifactMissing
from .console import PROGRAM, CliError, Stop, say

PINNED_SAM = template.PROJECT_ROOT / ".tools" / "sam" / "bin" / "sam"  # what the Makefile installs
SECRET_NAME = "lambda-auth-token-keys"  # noqa: S105 - a name, the keys are generated
REGION = template.DEFAULT_REGION
# sam local keeps one container per function once it has been called, as Lambda keeps an
# instance warm: a second request costs milliseconds, not a container's start.
WARM_CONTAINERS = "LAZY"
STOP_SECONDS = 60  # for sam local to stop and remove its containers


def sam_command() -> str:
    """SAM CLI: the Makefile's pinned one, else `sam` on PATH."""
    if PINNED_SAM.is_file():
        return str(PINNED_SAM)
    found = shutil.which("sam")
    if found is None:
        raise CliError("SAM CLI is not installed: `make sam-local` installs it into .tools/sam")
    return found


@dataclass(frozen=True)
class RunFiles:
    """The files a run writes for SAM CLI, in its state folder."""

    folder: Path

    @property
    def env_vars(self) -> Path:
        return self.folder / "env.json"

    @property
    def config(self) -> Path:
        return self.folder / "samconfig.toml"

    @property
    def credentials(self) -> Path:
        return self.folder / "credentials.sh"

    def write(self, variables: dict[str, str], options: dict[str, object], key: local_aws.LocalCredentials) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env_vars.write_text(json.dumps({"Parameters": variables}, indent=2) + "\n")
        sections = []
        for command in ("local_start_api", "local_invoke"):
            chosen = {
                name: value
                for name, value in options.items()
                if command == "local_start_api" or name != "warm_containers"
            }
            lines = [f"{name} = {json.dumps(value)}" for name, value in chosen.items()]
            sections.append(f"[default.{command}.parameters]\n" + "\n".join(lines))
        header = f"# Written by `{PROGRAM} sam-local` for the run now going; removed when it stops.\nversion = 0.1\n"
        self.config.write_text(header + "\n" + "\n\n".join(sections) + "\n")
        # Owner-only from its creation: it holds the moto's key.
        descriptor = os.open(self.credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as credentials:
            credentials.write(
                f"# The embedded moto's key for the `{PROGRAM} sam-local` run now going; removed when it stops.\n"
                + "".join(f"export {name}={value}\n" for name, value in sam_credentials(key).items())
                + "unset AWS_PROFILE AWS_SESSION_TOKEN\n"
            )

    def remove(self) -> None:
        for path in (self.env_vars, self.config, self.credentials):
            path.unlink(missing_ok=True)


def sam_credentials(key: local_aws.LocalCredentials) -> dict[str, str]:
    """What SAM CLI's environment needs to hand the containers the moto's key and region."""
    return {
        "AWS_ACCESS_KEY_ID": key.access_key_id,
        "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }


def _check_port(port: int) -> None:
    """Fail now, before Docker and moto start, if sam local could not listen on the port."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CliError(f"port {port} on 127.0.0.1 is in use; stop what holds it or pass --port") from None
            raise CliError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None


def _moto_ready(moto: local_aws.EmbeddedDynamoDB) -> str:
    """The users table and the token keys' secret on the moto, as the template creates them; the secret's ARN."""
    import boto3

    local_aws.use_endpoint(moto.endpoint_url, template.LOCAL_TABLE_NAME, moto.credentials)
    local_aws.apply({"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION})  # the containers' region
    local_aws.ensure_table(template.LOCAL_TABLE_NAME, moto.endpoint_url)
    secrets = boto3.client("secretsmanager", endpoint_url=moto.endpoint_url)
    created = secrets.create_secret(Name=SECRET_NAME, SecretString=template.first_token_keys())
    return str(created["ARN"])


# A request line in the access log of sam local's server, with its query string, where a
# token may travel (`?authtoken=`): the log shows the path alone, as `lambda-auth serve` does.
_QUERY_IN_REQUEST_LINE = re.compile(r"([A-Z]+ [^\s?]+)\?\S* (HTTP/)")


def without_query_strings(line: str) -> str:
    """A line of sam local's output, with the query string of any request line in it removed."""
    return _QUERY_IN_REQUEST_LINE.sub(r"\1 \2", line)


@contextmanager
def _running(command: list[str], environment: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A process in a session of its own, its output relayed through `without_query_strings`, stopped
    with SIGTERM (sam local then removes its containers)."""
    process = subprocess.Popen(  # noqa: S603 - SAM CLI, fixed arguments
        command,
        cwd=template.PROJECT_ROOT,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    relay = threading.Thread(target=_relay, args=(process.stdout,), daemon=True)
    relay.start()
    try:
        yield process
    finally:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        relay.join(5)


def _relay(stream: TextIO) -> None:
    for line in stream:
        sys.stdout.write(without_query_strings(line))
        sys.stdout.flush()


def invoke_hint(files: RunFiles, function: str = "SignupFunction", event: str = "events/signup.json") -> str:
    """The command that runs `sam local invoke` against this run, from the project's folder."""
    folder, sam = _shown(files.folder), _shown(Path(sam_command()))
    return (
        f"(. {folder}/credentials.sh && {sam} local invoke {function} -e {event} --config-file {folder}/samconfig.toml)"
    )


def _shown(path: Path) -> Path:
    """`path` relative to the project's folder, where it is inside it."""
    return path.relative_to(template.PROJECT_ROOT) if path.is_relative_to(template.PROJECT_ROOT) else path


def command(args: argparse.Namespace) -> int:
    """Run sam local start-api on Docker against a moto, until Ctrl-C or SIGTERM."""
    try:
        artifact = Artifact.native()
    except ArtifactMissing as error:
        raise CliError(str(error)) from None
    sam = sam_command()
    _check_port(args.port)
    files = RunFiles(args.state_dir.resolve())
    # SAM CLI's own environment, taken before this process points its clients at the moto;
    # without a profile or session token, so that the moto's key is the one it hands on.
    environment = {
        name: value for name, value in os.environ.items() if name not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")
    }
    with docker_engine.running(files.folder / "dockerd.log"):
        image = (
            invoke_image.ensure(artifact.architecture, files.folder / "invoke-image.log")
            if args.images == "local"
            else None
        )
        with local_aws.embedded_dynamodb(docker_engine.bridge_gateway()) as moto:
            secret_arn = _moto_ready(moto)
            variables = {
                "AWS_ENDPOINT_URL_DYNAMODB": moto.endpoint_url,
                "AWS_ENDPOINT_URL_SECRETSMANAGER": moto.endpoint_url,
                "AUTH_TABLE_NAME": template.LOCAL_TABLE_NAME,
                "AUTH_JWKS_SECRET_ARN": secret_arn,
            }
            options: dict[str, object] = {
                "template_file": str(artifact.build_dir / "template.yaml"),
                "env_vars": str(files.env_vars),
                "parameter_overrides": f"Architecture={artifact.architecture}",
                "container_host_interface": "127.0.0.1",  # the containers' ports, for SAM CLI alone
                "warm_containers": WARM_CONTAINERS,
            }
            if image is not None:
                options.update(invoke_image=[image], skip_pull_image=True)
            environment.update(sam_credentials(moto.credentials), SAM_CLI_TELEMETRY="0")
            start_api = [sam, "local", "start-api", "--config-file", str(files.config), "--port", str(args.port)]
            try:
                files.write(variables, options, moto.credentials)
                say(_banner(args, moto, files, image))
                with _running(start_api, environment) as sam_local:
                    status = sam_local.wait()
                raise CliError(f"sam local start-api stopped with status {status}")
            except (KeyboardInterrupt, Stop):
                say(f"{PROGRAM}: stopped")
            finally:
                files.remove()
                if image is not None:
                    invoke_image.prune_derived()
    return 0


def _banner(args: argparse.Namespace, moto: local_aws.EmbeddedDynamoDB, files: RunFiles, image: str | None) -> str:
    images = f"{image}, built here (--images aws: AWS's, pulled)" if image else "AWS's, which SAM CLI pulls"
    return "\n".join(
        [
            f"{PROGRAM}: sam local start-api on Docker, the functions on a moto",
            f"  base URL  http://127.0.0.1:{args.port}   (no stage in sam local's paths: /auth/signup, /auth/login,"
            " /auth/me)",
            f"  data      moto (DynamoDB, Secrets Manager) at {moto.endpoint_url}, for the containers alone;"
            " in memory, gone when this stops",
            f"  images    {images}",
            f"  env file  {files.env_vars}",
            f"  invoke    {invoke_hint(files)}",
            "Starting sam local start-api (each function's first request starts its container: seconds; Ctrl-C stops)",
        ]
    )
