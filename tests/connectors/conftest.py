"""Fixtures shared by the connector tests: serve any sandbox emulator on an ephemeral port."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from connectors.sandbox.server import RunningSandbox, SandboxApp, start_sandbox


@pytest.fixture
def serve_sandbox() -> Iterator[Callable[[SandboxApp], RunningSandbox]]:
    """``serve_sandbox(app)`` serves ``app`` on 127.0.0.1 and stops it after the test."""
    running: list[RunningSandbox] = []

    def serve(app: SandboxApp) -> RunningSandbox:
        sandbox = start_sandbox(app)
        running.append(sandbox)
        return sandbox

    yield serve
    for sandbox in running:
        sandbox.stop()
