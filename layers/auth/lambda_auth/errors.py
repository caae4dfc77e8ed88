"""The domain's typed errors. `api.error_response` is the one place that shapes them."""

from __future__ import annotations


class AuthError(Exception):
    """An error the client caused or may see: it carries Xano's code, message and payload."""

    status = 400
    code = "ERROR_CODE_BAD_REQUEST"
    message = "Bad request."

    def __init__(self, message: str | None = None, payload: dict[str, object] | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message
        self.payload = payload

    def headers(self) -> dict[str, str]:
        return {}


class InputError(AuthError):
    """A body that is not a JSON object, or a field that is missing or invalid."""

    status = 400
    code = "ERROR_CODE_INPUT_ERROR"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message, {"param": param} if param else None)
        self.param = param


class Unauthorized(AuthError):
    """No usable token, or a token whose user is gone."""

    status = 401
    code = "ERROR_CODE_UNAUTHORIZED"
    message = "Invalid token."

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason  # for logs and tests; clients always see the same message


class AccessDenied(AuthError):
    """Credentials refused, or an account that already exists."""

    status = 403
    code = "ERROR_CODE_ACCESS_DENIED"
    message = "Access denied."


class NotFound(AuthError):
    status = 404
    code = "ERROR_CODE_NOT_FOUND"
    message = "Unable to locate request."


class TooManyRequests(AuthError):
    status = 429
    code = "ERROR_CODE_TOO_MANY_REQUESTS"
    message = "Too many requests. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


INVALID_CREDENTIALS = "Invalid Credentials."
INVALID_CODE = "Invalid or expired code."
ACCOUNT_IN_USE = "This account is already in use."
