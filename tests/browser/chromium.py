"""The Playwright fixtures (``browser``, ``new_page``, ``screenshot``): Playwright drives Debian's
chromium against pytest-django's live server, for the browser tests (tests/browser) and the
end-to-end journeys that use a browser (tests/e2e). They are registered once, in tests/conftest.py,
so one chromium (and one Playwright loop) serves a whole run whichever directories it collects.

No browser is downloaded: the tests use the system chromium (.ci/run installs Debian's package)
and fail loudly if it is missing, rather than skip. The server listens on 127.0.0.1 only, and
every request the page makes to anywhere else is aborted, so nothing leaves the machine.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# The live server listens on 127.0.0.1, the one host the pages may reach (read when it starts).
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
]
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR", Path(__file__).resolve().parents[2] / "docs" / "screenshots")
)
_LOCAL = re.compile(r"^(http://127\.0\.0\.1[:/]|about:|data:|blob:)")


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "Browser tests need Debian's chromium (apt-get install chromium); .ci/run installs it. "
            f"Not found at {path}.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless chromium for the whole session (each test gets its own context)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run inside
    # one unless told that this is deliberate (the test code only calls synchronous services).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    executable = chromium_path()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser, live_server):
    """Open a page in a fresh context (own cookies) with a viewport; requests off 127.0.0.1 are aborted."""
    contexts = []

    def open_page(width: int = 1280, height: int = 800):
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server.url)
        context.set_default_timeout(10_000)
        context.route(lambda url: not _LOCAL.match(url), lambda route: route.abort())
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    """Save a screenshot under docs/screenshots (or $SCREENSHOTS_DIR) for the docs to link to."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str, *, full_page: bool = False) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return save
