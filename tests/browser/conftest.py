"""The example blog, served on 127.0.0.1 and driven by a real headless Chromium.

Debian's ``chromium`` (``apt-get install chromium``) is driven by Playwright (``pip
install -e '.[browser]'``), never by a browser Playwright downloads. When either is
missing these tests are skipped, saying how to install it, except under CI
(``CI=true``), where they fail instead.

One blog (a fresh SQLite database in a temporary folder) and one browser serve the
whole session; every test gets its own browser context (its own cookies, so its own
user). Everything a page logs as a console error, every uncaught JavaScript error and
every 5xx response fails the test it happened in. Screenshots go to
``test-artifacts/browser/`` at the repository root, with one more for a test that
fails.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from werkzeug.serving import make_server

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Error,
        Page,
        Response,
    )

ROOT = Path(__file__).resolve().parents[2]
BLOG_DIR = ROOT / "examples" / "blog"
if str(BLOG_DIR) not in sys.path:
    sys.path.insert(0, str(BLOG_DIR))

from blog import create_app  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts" / "browser"

#: Where the browser is looked for, in this order (and then ``chromium`` on PATH).
CHROMIUM = "/usr/bin/chromium"

#: Headless, no sandbox (CI and this machine run as root), and nothing that reaches
#: out to the network. Playwright gives each launch a fresh temporary profile.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

VIEWPORT = {"width": 1000, "height": 700}

#: Milliseconds Playwright waits for an element, a navigation or an assertion.
WAIT_MS = 10_000

SERVER_STOP_TIMEOUT = 10.0


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> NoReturn:
    """Fail under CI, where the browser must be there; skip elsewhere."""
    if _on_ci():
        pytest.fail(f"CI=true, but {reason}", pytrace=False)
    pytest.skip(reason)


def _find_chromium() -> str | None:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, launched once for these tests (skipped or failed if missing).

    Module-scoped: Playwright's sync API keeps an event loop running in the main
    thread while it is started, so it must stop before other tests call
    ``asyncio.run``.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable(
            "the playwright package is not installed; "
            "install it with: pip install -e '.[browser]'"
        )
    executable = _find_chromium()
    if executable is None:
        _unavailable(
            f"Chromium is not installed ({CHROMIUM}, or `chromium` on PATH); "
            "install it with: apt-get install chromium"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Blog:
    """The blog being served: its address and where its database lives."""

    url: str
    database: Path

    def at(self, path: str) -> str:
        return self.url + path


@contextmanager
def serve_blog(instance: Path) -> Iterator[Blog]:
    """Serve the example blog on 127.0.0.1 (an ephemeral port) in a server thread.

    Its database is new, in ``instance``; with a database and a secret key given,
    the blog writes nothing to ``examples/blog/instance``. The server is stopped
    when the block ends.
    """
    database = instance / "blog.sqlite"
    app = create_app(
        {
            "DATABASE": str(database),
            "SECRET_KEY": secrets.token_hex(16),
            # A cheap hash keeps the test fast; the blog's default is scrypt.
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, name="blog server", daemon=True
    )
    thread.start()
    try:
        yield Blog(f"http://127.0.0.1:{server.server_port}", database)
    finally:
        server.shutdown()  # returns within serve_forever's poll interval (0.5 s)
        thread.join(SERVER_STOP_TIMEOUT)
        server.server_close()
    assert not thread.is_alive(), "the blog's server thread did not stop"


@pytest.fixture(scope="session")
def blog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Blog]:
    """The blog that most tests share; each test registers users of its own."""
    with serve_blog(tmp_path_factory.mktemp("blog-instance")) as blog:
        yield blog


@pytest.fixture
def fresh_blog(tmp_path: Path) -> Iterator[Blog]:
    """A blog of the test's own, with an empty database."""
    with serve_blog(tmp_path / "instance") as blog:
        yield blog


@dataclass
class Watch:
    """What went wrong in the pages of one test: console errors, uncaught
    JavaScript errors and 5xx responses.

    A page that is meant to answer 4xx (``expect_status``) logs that status as a
    console error ("Failed to load resource"); only that message, for that URL and
    status, is let through.
    """

    problems: list[str] = field(default_factory=list)
    expected: set[tuple[str, int]] = field(default_factory=set)

    def expect_status(self, url: str, status: int) -> None:
        self.expected.add((url, status))

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("response", self._on_response)

    def _on_page_error(self, error: Error) -> None:
        self.problems.append(f"uncaught JavaScript error: {error}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 500:
            self.problems.append(f"{response.status} from {response.url}")

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        found = _FAILED_LOAD.match(message.text)
        url = message.location.get("url", "")
        if found and (url, int(found[1])) in self.expected:
            return
        self.problems.append(f"console error: {message.text} (at {url or '?'})")


_FAILED_LOAD = re.compile(
    r"Failed to load resource: the server responded with a status of (\d{3}) "
)


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def new_context(
    browser: Browser, watch: Watch, artifacts: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], BrowserContext]]:
    """``new_context()``: a fresh browser context (a user) watched by ``watch``.

    When the test ends the contexts are closed; if the test failed, each open page is
    screenshotted first; then anything ``watch`` saw fails the test.
    """
    contexts: list[BrowserContext] = []

    def new_context() -> BrowserContext:
        context = browser.new_context(
            viewport=VIEWPORT,  # type: ignore[arg-type]
            color_scheme="light",
            locale="en-GB",
            timezone_id="UTC",
        )
        context.set_default_timeout(WAIT_MS)
        context.on("page", watch.attach)
        contexts.append(context)
        return context

    yield new_context

    report = request.node.stash.get(_CALL_REPORT, None)
    failed = report is not None and report.failed
    for n, context in enumerate(contexts):
        if failed:
            for m, page in enumerate(context.pages):
                name = f"FAILED-{request.node.name}-{n}-{m}.png"
                try:
                    page.screenshot(path=artifacts / name, full_page=True)
                except Exception as error:  # the page may be what broke
                    print(f"no screenshot {name}: {error}")
        context.close()
    if watch.problems:
        pytest.fail(
            "the browser saw problems:\n  " + "\n  ".join(watch.problems),
            pytrace=False,
        )


@pytest.fixture
def page(new_context: Callable[[], BrowserContext]) -> Page:
    """A page in a fresh browser context: a new visitor, not logged in."""
    return new_context().new_page()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/browser/`` at the repository root, without the screenshots
    of failures from an earlier run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("FAILED-*.png"):
        old.unlink()
    return ARTIFACTS


_CALL_REPORT = pytest.StashKey[Any]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep the outcome of the test's call, for ``new_context`` to look at."""
    report = yield
    if call.when == "call":
        item.stash[_CALL_REPORT] = report
    return report
