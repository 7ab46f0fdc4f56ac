"""pytest fixtures for the compat suite: one shared broker for the client tests (crash
tests start their own), an AdminClient on it, and the broker's output attached to every
failing test's report."""

from __future__ import annotations

import pytest

from broker import Broker
from helpers import admin_client

# Brokers alive right now, so a failing test's report can show what the broker said.
LIVE: list[Broker] = []

# Started with these so describe_configs can check a static broker config is reported.
SHARED_OVERRIDES = {"log.retention.hours": "170", "auto.create.topics.enable": "true", "num.partitions": "1"}


@pytest.fixture(scope="session")
def broker():
    b = Broker(overrides=SHARED_OVERRIDES)
    b.start()
    LIVE.append(b)
    yield b
    LIVE.remove(b)
    assert b.running(), f"the shared broker died during the session:\n{b.output_tail()}"
    code = b.stop()
    b.close()
    assert code is not None, "broker ignored SIGTERM for 30 s and had to be SIGKILLed"
    assert code == 0, f"broker exited {code} on SIGTERM (negative = died of the signal), expected a graceful exit 0"


@pytest.fixture
def fresh_broker(request):
    """A broker of this test's own, for tests that kill or restart it. Extra overrides come
    from `@pytest.mark.parametrize("overrides", ...)`-style indirect params or none."""
    overrides = getattr(request, "param", None) or {}
    b = Broker(overrides=overrides)
    LIVE.append(b)
    try:
        yield b
    finally:
        LIVE.remove(b)
        b.close()


@pytest.fixture(scope="session")
def admin(broker):
    return admin_client(broker.bootstrap)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for b in LIVE:
            state = "running" if b.running() else "NOT RUNNING"
            report.sections.append((f"broker {b.bootstrap} ({state})", b.output_tail(80)))
