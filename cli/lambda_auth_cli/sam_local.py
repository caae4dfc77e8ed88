"""`lambda-auth sam-local`: `sam local start-api` on Docker, with moto standing in for DynamoDB, Secrets Manager
and SES, and `sam local start-lambda` running the functions one function invokes.

It runs what `make artifact` built for this machine (the layer needs its build), with:
- a Docker engine (docker_engine: the running one, or dockerd started here and stopped
  at the end) and the image the functions run in: the local one (invoke_image), or AWS's,
  which SAM CLI pulls;
- the embedded moto of `lambda-auth serve`, on the Docker bridge's address, where the
  containers reach this machine (never on every address), with the users table and the
  token keys' secret created as the template creates them, and the mail sender verified
  in its SES; what the functions mail through it is copied into the run's outbox file
  (`OutboxCopy`);
- Lambda's Invoke API for the containers (the reset request hands its email to the mailer
  with an asynchronous invocation): `sam local start-lambda` on loopback runs the function
  in its container, Event invocations included, behind `LambdaForwarder` on the bridge's
  address, which checks each request as the moto does;
- files in the state folder, removed when it stops: the env vars file that points the
  functions at these (`--env-vars`: sam local overrides only variables the template
  declares), the SAM CLI config file with every other option, the moto's key for this
  run, and the outbox. The key cannot travel in the env vars file: Lambda reserves
  AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, so no template declares them, and SAM CLI
  hands the containers the credentials of its own environment instead. The same files
  serve `sam local invoke` from another terminal (see `invoke_hint`).
"""

from __future__ import annotations

import argparse
import errno
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from lambda_auth import mail

from . import docker_engine, invoke_image, local_aws, template
from .artifact import Artifact, ArtifactMissing
from .console import PROGRAM, CliError, Stop, say
from .gateway import Request, Response

PINNED_SAM = template.PROJECT_ROOT / ".tools" / "sam" / "bin" / "sam"  # what the Makefile installs
SECRET_NAME = "lambda-auth-token-keys"  # noqa: S105 - a name, the keys are generated
REGION = template.DEFAULT_REGION
# sam local keeps one container per function once it has been called, as Lambda keeps an
# instance warm: a second request costs milliseconds, not a container's start.
WARM_CONTAINERS = "LAZY"
STOP_SECONDS = 60  # for sam local to stop and remove its containers
START_LAMBDA_SECONDS = 60  # for sam local start-lambda to listen
# A RequestResponse invocation waits for the function: its container's start (seconds) and its run.
INVOKE_SECONDS = 120
# The MailSenderAddress of the run: verified in the moto's SES, as the sender must be in SES.
MAIL_SENDER = "no-reply@example.com"
# The functions the env vars file gives variables of their own (by logical id, as SAM's format names them).
AUTHORIZER = "AuthorizerFunction"
RESET_REQUEST = "PasswordResetFunction"
MAILER = "PasswordResetMailerFunction"


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

    @property
    def outbox(self) -> Path:
        """What the functions mailed during the run, one JSON line per message (`mail.to_outbox`)."""
        return self.folder / local_aws.OUTBOX_NAME

    @property
    def all(self) -> tuple[Path, ...]:
        return (self.env_vars, self.config, self.credentials, self.outbox)

    def write(
        self,
        variables: Mapping[str, str],
        options: Mapping[str, object],
        key: local_aws.LocalCredentials,
        functions: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """The env vars file (`variables` for every function, `functions` for the functions they name),
        SAM CLI's config with `options`, the key, and an empty outbox."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env_vars.write_text(json.dumps({"Parameters": variables, **(functions or {})}, indent=2) + "\n")
        sections = []
        for command in ("local_start_api", "local_start_lambda", "local_invoke"):
            chosen = {
                name: value for name, value in options.items() if command != "local_invoke" or name != "warm_containers"
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
        # Owner-only too: its reset codes reset the run's users' passwords.
        os.close(os.open(self.outbox, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))

    def remove(self) -> None:
        for path in self.all:
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
    """The users table and the token keys' secret on the moto, as the template creates them, and the mail
    sender verified in its SES; the secret's ARN."""
    import boto3

    local_aws.use_endpoint(moto.endpoint_url, template.LOCAL_TABLE_NAME, moto.credentials)
    local_aws.apply({"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION})  # the containers' region
    local_aws.ensure_table(template.LOCAL_TABLE_NAME, moto.endpoint_url)
    secrets = boto3.client("secretsmanager", endpoint_url=moto.endpoint_url)
    created = secrets.create_secret(Name=SECRET_NAME, SecretString=template.first_token_keys())
    boto3.client("sesv2", endpoint_url=moto.endpoint_url).create_email_identity(EmailIdentity=MAIL_SENDER)
    return str(created["ARN"])


class OutboxCopy:
    """The mail sent through the moto's SES, copied into the run's outbox as it is sent: one line per
    recipient, written as the functions write a local outbox (`mail.to_outbox`).

    Called after each request the moto answered (`embedded_dynamodb`'s `after_request`), while no
    other runs: each message is copied once, in the order it was sent.
    """

    def __init__(self, outbox: Path):
        self.outbox = outbox
        self._copied = 0

    def __call__(self) -> None:
        from moto.backends import get_backend
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.ses.models import Message

        sent = get_backend("ses")[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        if len(sent) == self._copied:
            return
        new, self._copied = sent[self._copied :], len(sent)
        for message in new:
            if isinstance(message, Message):  # SendEmail's; the mailer sends no raw or templated mail
                for address in message.destinations.get("ToAddresses", []):
                    mail.to_outbox(self.outbox, mail.Message(address, message.subject, message.body))


class LambdaForwarder:
    """Lambda's Invoke API for sam local's containers, passed on to `sam local start-lambda`.

    start-lambda runs the template's functions in containers, as start-api does, and takes
    Event invocations (202 at once, the function after, in a container of its own), but it
    checks no signature, and a container cannot reach its loopback address. So it listens on
    loopback, and this, on the Docker bridge's address, passes it each request that the moto
    would answer: signed with the run's key, to a loopback Host or its own address, without an
    Origin. start-lambda's answer comes back as it is.
    """

    PASSED_HEADERS = ("Content-Type", "X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context")
    ANSWER_HEADERS = ("Content-Type", "X-Amz-Function-Error", "X-Amz-Executed-Version")

    def __init__(self, start_lambda_port: int, credentials: local_aws.LocalCredentials, address: str):
        self._port = start_lambda_port
        self._credentials = credentials
        self._address = address

    def handles(self, path: str) -> bool:
        return local_aws.LambdaInvokeApi.handles(path)

    def handle(self, request: Request) -> Response:
        def refused(status: int, kind: str, message: str) -> Response:
            body = json.dumps({"Type": kind, "message": message}).encode()
            return Response(status, [("Content-Type", "application/json")], body)

        url = request.path + (f"?{request.query}" if request.query else "")
        reason = local_aws.refusal(
            "the local Lambda", request.method, url, request.header, request.body, self._credentials, self._address
        )
        if reason is not None:
            return refused(403, "User", reason)
        headers = {name: value for name in self.PASSED_HEADERS if (value := request.header(name)) is not None}
        connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=INVOKE_SECONDS)
        try:
            connection.request("POST", url, body=request.body, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
        except (OSError, http.client.HTTPException) as error:
            return refused(502, "Service", f"sam local start-lambda did not answer: {type(error).__name__}")
        finally:
            connection.close()
        kept = [(name, value) for name in self.ANSWER_HEADERS if (value := answer.getheader(name)) is not None]
        return Response(answer.status, kept, body)

    def finish(self, timeout: float) -> None:
        """Nothing to wait for: start-lambda runs the asynchronous invocations, and stops with them."""


# A request line in the access log of sam local's server, with its query string, where a
# token may travel (`?authtoken=`): the log shows the path alone, as `lambda-auth serve` does.
_QUERY_IN_REQUEST_LINE = re.compile(r"([A-Z]+ [^\s?]+)\?\S* (HTTP/)")


def without_query_strings(line: str) -> str:
    """A line of sam local's output, with the query string of any request line in it removed."""
    return _QUERY_IN_REQUEST_LINE.sub(r"\1 \2", line)


def _free_port() -> int:
    """A port free on 127.0.0.1 now, for start-lambda (which takes a number, not 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(process: subprocess.Popen[str], port: int, what: str) -> None:
    """Until something accepts connections on 127.0.0.1:`port`; a CliError if `process` stops first."""
    deadline = time.monotonic() + START_LAMBDA_SECONDS
    while True:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if process.poll() is not None:
            raise CliError(f"{what} stopped with status {process.returncode}")
        if time.monotonic() > deadline:
            raise CliError(f"{what} did not listen on 127.0.0.1:{port} within {START_LAMBDA_SECONDS} s")
        time.sleep(0.2)


def _until_one_stops(processes: Mapping[str, subprocess.Popen[str]]) -> tuple[str, int]:
    """Wait until one of `processes` stops: its name and status."""
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                return name, process.returncode
        time.sleep(0.5)


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
    """Run sam local start-api (and start-lambda) on Docker against a moto, until Ctrl-C or SIGTERM."""
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
        bridge = docker_engine.bridge_gateway()
        with local_aws.embedded_dynamodb(bridge, after_request=OutboxCopy(files.outbox)) as moto:
            secret_arn = _moto_ready(moto)
            lambda_port = _free_port()
            forwarder = LambdaForwarder(lambda_port, moto.credentials, bridge)
            with local_aws.lambda_endpoint(forwarder, host=bridge) as lambda_url:
                variables = {
                    "AWS_ENDPOINT_URL_DYNAMODB": moto.endpoint_url,
                    "AWS_ENDPOINT_URL_SECRETSMANAGER": moto.endpoint_url,
                    "AUTH_TABLE_NAME": template.LOCAL_TABLE_NAME,
                    "AUTH_JWKS_SECRET_ARN": secret_arn,
                }
                functions = {
                    # Every request reads its session, as `lambda-auth serve` does: a logout refuses its token at once.
                    AUTHORIZER: {"AUTH_SESSION_CHECK_SECONDS": "0"},
                    RESET_REQUEST: {"AWS_ENDPOINT_URL_LAMBDA": lambda_url},
                    MAILER: {"AWS_ENDPOINT_URL_SESV2": moto.endpoint_url},
                }
                options: dict[str, object] = {
                    "template_file": str(artifact.build_dir / "template.yaml"),
                    "env_vars": str(files.env_vars),
                    "parameter_overrides": f"Architecture={artifact.architecture} MailSenderAddress={MAIL_SENDER}",
                    "container_host_interface": "127.0.0.1",  # the containers' ports, for SAM CLI alone
                    "warm_containers": WARM_CONTAINERS,
                }
                if image is not None:
                    options.update(invoke_image=[image], skip_pull_image=True)
                environment.update(sam_credentials(moto.credentials), SAM_CLI_TELEMETRY="0")
                config = ["--config-file", str(files.config)]
                start_lambda = [sam, "local", "start-lambda", *config, "--host", "127.0.0.1"]
                start_lambda += ["--port", str(lambda_port)]
                start_api = [sam, "local", "start-api", *config, "--port", str(args.port)]
                try:
                    files.write(variables, options, moto.credentials, functions)
                    say(_banner(args, moto, files, image, lambda_url, lambda_port))
                    with _running(start_lambda, environment) as lambda_service:
                        _wait_listening(lambda_service, lambda_port, "sam local start-lambda")
                        with _running(start_api, environment) as api_service:
                            stopped, status = _until_one_stops(
                                {"start-api": api_service, "start-lambda": lambda_service}
                            )
                    raise CliError(f"sam local {stopped} stopped with status {status}")
                except (KeyboardInterrupt, Stop):
                    say(f"{PROGRAM}: stopped")
                finally:
                    files.remove()
                    if image is not None:
                        invoke_image.prune_derived()
    return 0


def _banner(
    args: argparse.Namespace,
    moto: local_aws.EmbeddedDynamoDB,
    files: RunFiles,
    image: str | None,
    lambda_url: str,
    lambda_port: int,
) -> str:
    images = f"{image}, built here (--images aws: AWS's, pulled)" if image else "AWS's, which SAM CLI pulls"
    return "\n".join(
        [
            f"{PROGRAM}: sam local start-api on Docker, the functions on a moto",
            f"  base URL  http://127.0.0.1:{args.port}   (no stage in sam local's paths: /auth/signup, /auth/login,"
            " /auth/me, ...)",
            f"  data      moto (DynamoDB, Secrets Manager, SES) at {moto.endpoint_url}, for the containers alone;"
            " in memory, gone when this stops",
            f"  lambda    {lambda_url} for the containers, passed on to sam local start-lambda at"
            f" http://127.0.0.1:{lambda_port} (a reset request invokes the mailer)",
            f"  mail      {_shown(files.outbox)}, from {MAIL_SENDER} through the moto's SES; removed when this stops",
            f"  images    {images}",
            f"  env file  {files.env_vars}",
            f"  invoke    {invoke_hint(files)}",
            "Starting sam local start-lambda and start-api (each function's first request starts its container:"
            " seconds; Ctrl-C stops)",
        ]
    )
