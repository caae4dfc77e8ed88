"""The token keys' secret, read with Secrets Manager's GetSecretValue through the standard-library client (`aws`).

The functions read it at cold start, the authorizer's included, and again every
`AUTH_KEYS_CACHE_SECONDS`. Each attempt is bounded by a 1 s socket timeout, a failed one
is retried once, and the whole read by a 3 s deadline that also stops an answer trickling
in; a failure names the secret, never its value.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import aws, settings

DEADLINE_SECONDS = 3.0  # the whole read, attempts and a slowly arriving answer included


class SecretsManagerError(RuntimeError):
    """The secret could not be read; the message names it and the reason, never its value."""


def get_secret_string(
    secret_id: str,
    env: Mapping[str, str] | None = None,
    timeout: float = aws.TIMEOUT_SECONDS,
    attempts: int = aws.ATTEMPTS,
    deadline_seconds: float = DEADLINE_SECONDS,
) -> str:
    """The AWSCURRENT SecretString of `secret_id` (a name or ARN), or `SecretsManagerError` naming it.

    `env` stands for the process's environment (tests pass their own).
    """
    configured = settings.aws() if env is None else settings.AwsSettings.from_environment(env)
    what = f"cannot read the secret {secret_id}"
    try:
        answer = aws.json_call(
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            {"SecretId": secret_id, "VersionStage": "AWSCURRENT"},
            aws.region_of(secret_id, configured),
            what=what,
            aws=configured,
            timeout=timeout,
            attempts=attempts,
            deadline_seconds=deadline_seconds,
        )
    except aws.AwsError as error:
        raise SecretsManagerError(str(error) if str(error).startswith(what) else f"{what}: {error}") from None
    value = answer.get("SecretString")
    if not isinstance(value, str):
        raise SecretsManagerError(f"the secret {secret_id} has no SecretString")
    return value
