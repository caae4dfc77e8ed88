"""Run & Debug in a real browser: headless Chromium (Debian's package, driven by Playwright)
opens /docs on the local server, signs a user up through Swagger UI, picks that user, and
runs /auth/me with the token the picker put into Authorize; asks for a password reset,
reads its code in the Mail panel, sets a new password with it and logs in with that.

Every test fails on a console error, an uncaught page error, a failed request, or any
request to a host other than the local server (the page loads nothing from a CDN).
Set LAMBDA_AUTH_SCREENSHOT=PATH to keep the screenshot there too (docs/run-and-debug.png
is made so: `make screenshot`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import RunningServer, call

pytestmark = pytest.mark.e2e

PASSWORD = "analytical1"
NEW_PASSWORD = "difference engine 2"
SCREENSHOT_VARIABLE = "LAMBDA_AUTH_SCREENSHOT"
WAIT_MS = 30_000  # the longest any step may take: Playwright polls until then
VIEWPORT = {"width": 1280, "height": 900}
STATUS_CODE = re.compile(r"^\s*\d{3}\s*$")
# Chromium, unasked, calls Google's hosts for updates, sync, safe browsing and more: none of that here.
CHROMIUM_ARGUMENTS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str | None:
    """Debian's Chromium, if installed."""
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@dataclass
class Watch:
    """What a page did that a test must see: the hosts it asked, and everything that went wrong."""

    origin: str  # the local server's host:port
    hosts: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("request", lambda request: self.hosts.add(urlsplit(request.url).netloc))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: self.problems.append(f"request failed: {request.url}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)
        assert self.hosts == {self.origin}, f"requests to other hosts: {sorted(self.hosts - {self.origin})}"


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium with a fresh profile, for this module."""
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium: install Debian's chromium package (.ci/run does so when it runs as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    sync_api.expect.set_options(timeout=WAIT_MS)  # assertions poll up to this long (Playwright's default: 5 s)
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGUMENTS,
            viewport=VIEWPORT,
        )
        context.set_default_timeout(WAIT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def docs(browser_context: Any, server: RunningServer) -> Iterator[tuple[Any, Watch]]:
    """A new tab on the server's /docs, watched; the API description loaded."""
    from playwright.sync_api import expect

    page = browser_context.new_page()
    watch = Watch(urlsplit(server.origin).netloc)
    watch.attach(page)
    try:
        page.goto(f"{server.origin}/docs")
        expect(operation_block(page, "me")).to_be_visible()
        yield page, watch
    finally:
        page.close()


def run(operation: Any) -> tuple[str, dict[str, Any]]:
    """Run an expanded operation and return the status and JSON body of the live response."""
    from playwright.sync_api import expect

    operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table .response").first
    expect(live.locator(".response-col_status")).to_have_text(STATUS_CODE)
    status = (live.locator(".response-col_status").text_content() or "").strip()
    body = live.locator(".response-col_description .microlight").first.text_content() or "{}"
    return status, json.loads(body)


def operation_block(page: Any, operation_id: str) -> Any:
    """Swagger UI's block of an operation; its id is `operations-<tag>-<operationId>`."""
    return page.locator(f"div.opblock[id$='-{operation_id}']")


def try_it(page: Any, operation_id: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Open an operation, put `body` in its request body, run it: the status and JSON body of the answer."""
    operation = operation_block(page, operation_id)
    operation.locator(".opblock-summary").click()
    operation.locator("textarea.body-param__text").fill(json.dumps(body))
    return run(operation)


def pick(page: Any, email: str, carrier: str) -> None:
    """Find `email` in the picker and get a token for it, sent as `carrier`."""
    from playwright.sync_api import expect

    page.select_option("#rd-carrier", carrier)
    page.fill("#rd-query", email)
    row = page.locator(f"#rd-users tr[data-email='{email}']")
    row.locator("button.rd-use").click()
    expect(page.locator("#rd-status")).to_contain_text(f"Authorized as {email}")
    expect(row).to_have_class("rd-chosen")


def save_screenshot(page: Any, path: Path, last: Any) -> None:
    """The page from the top down to `last` (an element), as a PNG at `path`. Every place
    that shows the token is masked: a screenshot may be committed, a token never is."""
    box = last.bounding_box()
    scrolled = page.evaluate("window.scrollY")
    height = box["y"] + scrolled + box["height"] + 16
    page.screenshot(
        path=str(path),
        full_page=True,
        clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height},
        mask=[page.locator("#rd-token"), page.locator(".curl-command")],
        mask_color="#d8dde3",
    )


def test_a_user_signed_up_on_the_page_is_picked_authorized_and_runs_me(docs: tuple[Any, Watch], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page, watch = docs
    email = f"lin.{uuid.uuid4().hex[:8]}@example.com"

    signup = operation_block(page, "signup")
    signup.locator(".opblock-summary").click()
    signup.locator("textarea.body-param__text").fill(json.dumps({"name": "Lin", "email": email, "password": PASSWORD}))
    status, answer = run(signup)
    assert status == "200" and list(answer) == ["authToken"], answer

    pick(page, email, "bearerAuth")
    page.locator(".auth-wrapper button.authorize").click()
    bearer = page.locator(".dialog-ux .auth-container").filter(has_text="bearerAuth")
    expect(bearer).to_contain_text("Authorized")  # the token is in Authorize, for the bearer header
    page.locator(".dialog-ux button.close-modal").click()

    me = operation_block(page, "me")
    expect(me.locator("button.execute")).to_be_visible()  # picking a user opened GET /auth/me
    status, profile = run(me)
    assert status == "200", profile
    assert profile["email"] == email and profile["name"] == "Lin"
    expect(me.locator(".curl-command")).to_contain_text("Authorization: Bearer ")

    signup.locator(".opblock-summary").click()  # folded, so that the screenshot shows the picker and me
    expect(signup.locator("button.execute")).to_have_count(0)
    screenshot = tmp_path / "run-and-debug.png"
    save_screenshot(page, screenshot, me.locator(".live-responses-table"))
    assert screenshot.stat().st_size > 10_000
    if os.environ.get(SCREENSHOT_VARIABLE):
        shutil.copyfile(screenshot, os.environ[SCREENSHOT_VARIABLE])
    watch.assert_clean()


def test_the_picker_can_send_the_token_in_the_authtoken_query_parameter(
    docs: tuple[Any, Watch], server: RunningServer
) -> None:
    from playwright.sync_api import expect

    page, watch = docs
    email = f"ida.{uuid.uuid4().hex[:8]}@example.com"
    signup = call(f"{server.base_url}/auth/signup", "POST", {"name": "Ida", "email": email, "password": PASSWORD})
    assert signup.status == 200

    pick(page, email, "authtokenQuery")
    me = operation_block(page, "me")
    status, profile = run(me)
    assert status == "200" and profile["email"] == email
    url = me.locator(".request-url pre").text_content() or ""
    assert parse_qs(urlsplit(url).query)["authtoken"] == [page.input_value("#rd-token")]
    expect(me.locator(".curl-command")).not_to_contain_text("Authorization: Bearer")
    watch.assert_clean()


def test_a_password_reset_asked_on_the_page_shows_its_code_in_the_mail_panel_which_sets_a_new_password(
    docs: tuple[Any, Watch], server: RunningServer
) -> None:
    from playwright.sync_api import expect

    page, watch = docs
    email = f"ada.{uuid.uuid4().hex[:8]}@example.com"
    assert call(f"{server.base_url}/auth/signup", "POST", {"email": email, "password": PASSWORD}).status == 200

    status, answer = try_it(page, "requestPasswordReset", {"email": email})
    assert (status, answer) == ("200", {})
    mail = page.locator(f"#rd-mails tr[data-to='{email}']")
    expect(mail).to_have_count(1)  # the panel looked again until the mailer's message came
    expect(mail.locator("td").nth(2)).to_have_text("Your password reset code")
    code = mail.locator(".rd-code").text_content() or ""
    assert re.fullmatch(r"\d{8}", code), code
    mail.locator("summary").click()
    expect(mail.locator("pre")).to_contain_text(f"Your password reset code is {code}.")

    status, answer = try_it(page, "confirmPasswordReset", {"email": email, "code": code, "new_password": NEW_PASSWORD})
    assert status == "200" and list(answer) == ["authToken"], answer
    status, answer = try_it(page, "login", {"email": email, "password": NEW_PASSWORD})
    assert status == "200" and list(answer) == ["authToken"], answer
    old = call(f"{server.base_url}/auth/login", "POST", {"email": email, "password": PASSWORD})
    assert old.status == 403
    watch.assert_clean()


def test_mail_sent_from_elsewhere_shows_on_refresh(docs: tuple[Any, Watch], server: RunningServer) -> None:
    from playwright.sync_api import expect

    page, watch = docs
    email = f"kay.{uuid.uuid4().hex[:8]}@example.com"
    assert call(f"{server.base_url}/auth/signup", "POST", {"email": email, "password": PASSWORD}).status == 200
    expect(page.locator("#rd-mail-status")).not_to_be_empty()  # the panel's first look is done
    assert call(f"{server.base_url}/auth/password-reset", "POST", {"email": email}).status == 200
    wait_for_mail(server, email)
    mail = page.locator(f"#rd-mails tr[data-to='{email}']")
    expect(mail).to_have_count(0)  # the panel does not poll on its own
    page.locator("#rd-mail-refresh").click()
    expect(mail.locator(".rd-code")).to_have_text(re.compile(r"^\d{8}$"))
    watch.assert_clean()


def wait_for_mail(server: RunningServer, email: str, timeout: float = 20.0) -> None:
    """Until the outbox holds a message to `email` (the mailer runs after the reset request is answered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = call(f"{server.origin}/_local/outbox?limit=1000").json()["messages"]
        if any(message["to"] == email for message in messages):
            return
        time.sleep(0.05)
    pytest.fail(f"no mail to {email} within {timeout} s")
