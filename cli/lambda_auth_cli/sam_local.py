"""`lambda-auth sam-local`: `sam local start-api` on Docker against the embedded moto (DynamoDB, Secrets Manager,
SES), and `sam local start-lambda` for the functions one function invokes, on what `make artifact` built.

The moto listens on the Docker bridge's address, where the containers reach this machine (never on every address).
Its key cannot travel in the env vars file (sam local overrides only variables the template declares, and Lambda
reserves AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): SAM CLI hands the containers its own environment's instead.
start-lambda, which runs any function with any event for whoever asks, listens on a Unix socket in an owner-only
folder, which no web page can reach; what the containers call is the guard in front of it (`LambdaForwarder`).
"""

from __future__ import annotations

import argparse
import errno
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

from lambda_auth import mail

from . import docker_engine, invoke_image, local_aws, template
from .artifact import Artifact
from .console import PROGRAM, CliError, Stop, say
from .gateway import Request, Response
from .server import lambda_endpoint

PINNED_SAM = template.PROJECT_ROOT / ".tools" / "sam" / "bin" / "sam"  # what the Makefile installs
SECRET_NAME = "lambda-auth-token-keys"  # noqa: S105 - a name, the keys are generated
REGION = template.DEFAULT_REGION
REGION_VARIABLES = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}  # the containers' region
STOP_SECONDS = 60  # for sam local to stop and remove its containers
LISTEN_SECONDS = 60  # for sam local start-lambda to listen
INVOKE_SECONDS = 120  # a RequestResponse invocation waits for its container's start (seconds) and its run
MAIL_SENDER = "no-reply@example.com"  # the run's MailSenderAddress, verified in the moto's SES as SES requires


def sam_command() -> str:
    found = str(PINNED_SAM) if PINNED_SAM.is_file() else shutil.which("sam")
    if found is None:
        raise CliError("SAM CLI is not installed: `make sam-local` installs it into .tools/sam")
    return found


class RunFiles:
    """The files a run writes for SAM CLI in its state folder, and its outbox (what the functions mailed)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env_vars = folder / "env.json"
        self.config = folder / "samconfig.toml"
        self.credentials = folder / "credentials.sh"
        self.outbox = folder / local_aws.OUTBOX_NAME
        self.all = (self.env_vars, self.config, self.credentials, self.outbox)

    def write(
        self,
        variables: Mapping[str, str],
        options: Mapping[str, object],
        key: local_aws.LocalCredentials,
        functions: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """The env vars file (`variables` for every function, `functions` for the functions they name),
        SAM CLI's config with `options` (but warm_containers for invoke), the key, and an empty outbox."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env_vars.write_text(json.dumps({"Parameters": variables, **(functions or {})}, indent=2) + "\n")
        config = f"# Written by `{PROGRAM} sam-local` for the run now going; removed when it stops.\nversion = 0.1\n"
        for command in ("local_start_api", "local_start_lambda", "local_invoke"):
            config += f"\n[default.{command}.parameters]\n"
            for name, value in options.items():
                if (command, name) != ("local_invoke", "warm_containers"):
                    config += f"{name} = {json.dumps(value)}\n"
        self.config.write_text(config)
        # Owner-only from its creation: it holds the moto's key.
        with os.fdopen(os.open(self.credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as credentials:
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
    return {"AWS_ACCESS_KEY_ID": key.access_key_id, "AWS_SECRET_ACCESS_KEY": key.secret_access_key, **REGION_VARIABLES}


def _local_port(port: int) -> int:
    """`port` on 127.0.0.1 if it is free now, else a CliError; for 0, a free one."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CliError(f"port {port} on 127.0.0.1 is in use; stop what holds it or pass --port") from None
            raise CliError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None
        return int(probe.getsockname()[1])


def _moto_ready(moto: local_aws.EmbeddedDynamoDB) -> dict[str, str]:
    """The table, keys' secret and mail sender made on the moto as the template makes them; the functions' variables."""
    import boto3

    local_aws.use_endpoint(moto.endpoint_url, template.LOCAL_TABLE_NAME, moto.credentials)
    local_aws.apply(REGION_VARIABLES)
    local_aws.ensure_table(template.LOCAL_TABLE_NAME, moto.endpoint_url)
    secrets = boto3.client("secretsmanager", endpoint_url=moto.endpoint_url)
    created = secrets.create_secret(Name=SECRET_NAME, SecretString=template.first_token_keys())
    boto3.client("sesv2", endpoint_url=moto.endpoint_url).create_email_identity(EmailIdentity=MAIL_SENDER)
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": moto.endpoint_url,
        "AWS_ENDPOINT_URL_SECRETSMANAGER": moto.endpoint_url,
        "AUTH_TABLE_NAME": template.LOCAL_TABLE_NAME,
        "AUTH_JWKS_SECRET_ARN": str(created["ARN"]),
    }


class OutboxCopy:
    """The mail sent through the moto's SES, copied into the outbox one line per recipient (`mail.to_outbox`): called
    after each request the moto answered, while no other runs, each message is copied once, in order."""

    def __init__(self, outbox: Path):
        self.outbox = outbox
        self._copied = 0

    def __call__(self) -> None:
        from moto.backends import get_backend
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.ses.models import Message

        sent = get_backend("ses")[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        new, self._copied = sent[self._copied :], len(sent)
        for message in new:
            if isinstance(message, Message):  # SendEmail's; the mailer sends no raw or templated mail
                for address in message.destinations.get("ToAddresses", []):
                    mail.to_outbox(self.outbox, mail.Message(address, message.subject, message.body))


class LambdaForwarder:
    """Lambda's Invoke API for sam local's containers, passed on to `sam local start-lambda` as it answers.

    start-lambda checks no signature, Host or Origin: on a TCP port, any web page open on this machine could have
    it run any function with any event. So it listens on a Unix socket (`start_lambda`, in an owner-only folder),
    which a page cannot reach and a container need not, and this, on the bridge's address, passes it each request
    the moto would answer: signed with the run's key within five minutes, to a loopback Host or its own address,
    without an Origin.
    """

    PASSED_HEADERS = ("Content-Type", "X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context")
    ANSWER_HEADERS = ("Content-Type", "X-Amz-Function-Error", "X-Amz-Executed-Version")

    def __init__(self, start_lambda: Path, credentials: local_aws.LocalCredentials, address: str):
        self._socket = start_lambda
        self._credentials = credentials
        self._address = address

    handles = staticmethod(local_aws.LambdaInvokeApi.handles)

    def handle(self, request: Request) -> Response:
        def refused(status: int, kind: str, message: str) -> Response:
            body = json.dumps({"Type": kind, "message": message}).encode()
            return Response(status, [("Content-Type", "application/json")], body)

        signed_url = local_aws.LambdaInvokeApi.signed_url(request.path, request.query)
        reason = local_aws.refusal(
            "the local Lambda",
            request.method,
            signed_url,
            request.header,
            request.body,
            self._credentials,
            self._address,
        )
        if reason is not None:
            return refused(403, "User", reason)
        headers = {name: value for name in self.PASSED_HEADERS if (value := request.header(name)) is not None}
        try:
            with closing(UnixHTTPConnection(self._socket, INVOKE_SECONDS)) as connection:
                url = request.path + (f"?{request.query}" if request.query else "")
                connection.request("POST", url, body=request.body, headers=headers)
                answer = connection.getresponse()
                body = answer.read()
        except (OSError, http.client.HTTPException) as error:
            return refused(502, "Service", f"sam local start-lambda did not answer: {type(error).__name__}")
        kept = [(name, value) for name in self.ANSWER_HEADERS if (value := answer.getheader(name)) is not None]
        return Response(answer.status, kept, body)

    def finish(self, timeout: float) -> None:
        """Nothing to wait for: start-lambda runs the asynchronous invocations, and stops with them."""


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP to a server on a Unix socket (start-lambda's)."""

    def __init__(self, path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(self.timeout)
            self.sock.connect(str(self._path))
        except OSError:
            self.sock.close()
            raise


def _listens(path: Path) -> bool:
    """Whether a server accepts connections on the Unix socket `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


# A request line in the access log of sam local's server, with its query string, where a
# token may travel (`?authtoken=`): the log shows the path alone, as `lambda-auth serve` does.
_QUERY_IN_REQUEST_LINE = re.compile(r"([A-Z]+ [^\s?]+)\?\S* (HTTP/)")


def without_query_strings(line: str) -> str:
    return _QUERY_IN_REQUEST_LINE.sub(r"\1 \2", line)


@contextmanager
def _running(
    command: list[str], environment: dict[str, str], listening: Path | None = None
) -> Iterator[subprocess.Popen[str]]:
    """`command` in a session of its own, listening on the Unix socket `listening` (if given) by the block's start,
    its output shown `without_query_strings`, stopped with SIGTERM (sam local then removes its containers)."""
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

    def relay() -> None:
        for line in process.stdout or ():
            print(without_query_strings(line), end="", flush=True)

    relay_thread = threading.Thread(target=relay, daemon=True)
    relay_thread.start()
    try:
        deadline = time.monotonic() + LISTEN_SECONDS
        while listening is not None and not _listens(listening):
            if process.poll() is not None:
                raise CliError(f"sam local {command[2]} stopped with status {process.returncode}")
            if time.monotonic() > deadline:
                raise CliError(f"sam local {command[2]} did not listen on {listening} within {LISTEN_SECONDS} s")
            time.sleep(0.2)
        yield process
    finally:
        docker_engine.stop(process, STOP_SECONDS)
        relay_thread.join(5)


def invoke_hint(files: RunFiles, function: str = "SignupFunction", event: str = "events/signup.json") -> str:
    """The command that runs `sam local invoke` against this run, from the project's folder."""
    folder, sam = _shown(files.folder), _shown(Path(sam_command()))
    return (
        f"(. {folder}/credentials.sh && {sam} local invoke {function} -e {event} --config-file {folder}/samconfig.toml)"
    )


def _shown(path: Path) -> Path:
    return path.relative_to(template.PROJECT_ROOT) if path.is_relative_to(template.PROJECT_ROOT) else path


def command(args: argparse.Namespace) -> int:
    """Run sam local start-api (and start-lambda) on Docker against a moto, until Ctrl-C or SIGTERM."""
    artifact = Artifact.native()
    sam = sam_command()
    _local_port(args.port)
    files = RunFiles(args.state_dir.resolve())
    # SAM CLI's environment, taken before the moto's is set here, without a profile or session token to outrank its key.
    environment = {
        name: value for name, value in os.environ.items() if name not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")
    }
    with ExitStack() as stack:
        stack.enter_context(docker_engine.running(files.folder / "dockerd.log"))
        image = None
        if args.images == "local":
            image = invoke_image.ensure(artifact.architecture, files.folder / "invoke-image.log")
        bridge = docker_engine.bridge_gateway()
        moto = stack.enter_context(local_aws.embedded_dynamodb(bridge, after_request=OutboxCopy(files.outbox)))
        variables = _moto_ready(moto)
        # mkdtemp's folder is its owner's alone; not in --state-dir, whose path may be longer than a Unix socket's
        # may be (about 100 bytes).
        private = Path(tempfile.mkdtemp(prefix="lambda-auth-sam-"))
        stack.callback(shutil.rmtree, private, ignore_errors=True)
        lambda_socket = private / "start-lambda.sock"
        forwarder = LambdaForwarder(lambda_socket, moto.credentials, bridge)
        lambda_url = stack.enter_context(lambda_endpoint(forwarder, host=bridge))
        functions = {  # by logical id, as SAM's format names them
            # Every request reads its session, as `lambda-auth serve` does: a logout refuses its token at once.
            "AuthorizerFunction": {"AUTH_SESSION_CHECK_SECONDS": "0"},
            "PasswordResetFunction": {"AWS_ENDPOINT_URL_LAMBDA": lambda_url},
            "PasswordResetMailerFunction": {"AWS_ENDPOINT_URL_SESV2": moto.endpoint_url},
        }
        options: dict[str, object] = {
            "template_file": str(artifact.build_dir / "template.yaml"),
            "env_vars": str(files.env_vars),
            "parameter_overrides": f"Architecture={artifact.architecture} MailSenderAddress={MAIL_SENDER}",
            "container_host_interface": "127.0.0.1",  # the containers' ports, for SAM CLI alone
            "warm_containers": "LAZY",  # a function's container, once started, kept warm as Lambda keeps an instance
        }
        if image is not None:
            options.update(invoke_image=[image], skip_pull_image=True)
        environment.update(sam_credentials(moto.credentials), SAM_CLI_TELEMETRY="0")
        config = ["--config-file", str(files.config)]
        images = f"{image}, built here (--images aws: AWS's, pulled)" if image else "AWS's, which SAM CLI pulls"
        try:
            files.write(variables, options, moto.credentials, functions)
            say(
                f"{PROGRAM}: sam local start-api on Docker, the functions on a moto\n"
                f"  base URL  http://127.0.0.1:{args.port}   (no stage in sam local's paths: /auth/signup, /auth/login,"
                " /auth/me, ...)\n"
                f"  data      moto (DynamoDB, Secrets Manager, SES) at {moto.endpoint_url}, for the containers alone;"
                " in memory, gone when this stops\n"
                f"  lambda    {lambda_url} for the containers (signed requests alone), passed on to sam local"
                f" start-lambda on its socket {lambda_socket} (a reset request invokes the mailer)\n"
                f"  mail      {_shown(files.outbox)}, from {MAIL_SENDER} through the moto's SES;"
                " removed when this stops\n"
                f"  images    {images}\n"
                f"  env file  {files.env_vars}\n"
                f"  invoke    {invoke_hint(files)}\n"
                "Starting sam local start-lambda and start-api (each function's first request starts its container:"
                " seconds; Ctrl-C stops)"
            )
            start_lambda = [sam, "local", "start-lambda", *config, "--host", f"unix://{lambda_socket}"]
            start_api = [sam, "local", "start-api", *config, "--port", str(args.port)]
            with (
                _running(start_lambda, environment, lambda_socket) as lambda_service,
                _running(start_api, environment) as api,
            ):
                services = {"start-api": api, "start-lambda": lambda_service}
                while not (stopped := [name for name, run in services.items() if run.poll() is not None]):
                    time.sleep(0.5)
            raise CliError(f"sam local {stopped[0]} stopped with status {services[stopped[0]].returncode}")
        except (KeyboardInterrupt, Stop):
            say(f"{PROGRAM}: stopped")
        finally:
            files.remove()
            if image is not None:
                invoke_image.prune_derived()
    return 0
