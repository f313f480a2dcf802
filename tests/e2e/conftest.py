"""pytest fixtures for the Mosaic end-to-end tests (the harness is in harness.py)."""

import threading

import pytest

from harness import TEST_TIMEOUT, Mosaic, conn_registry, finish, serving


@pytest.fixture(autouse=True)
def _watchdog(request):
    """Fail a test that hangs instead of hanging the suite: after the timeout,
    cut every psycopg2 connection the test opened through the helpers."""
    marker = request.node.get_closest_marker("timeout")
    timeout = marker.args[0] if marker else TEST_TIMEOUT
    fired = threading.Event()

    def fire():
        fired.set()
        conn_registry.cut_all()

    timer = threading.Timer(timeout, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        conn_registry.close_all()
    if fired.is_set():
        pytest.fail(f"test watchdog fired after {timeout}s: connections were cut (hang?)")


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test watchdog timeout")


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def mosaic_factory():
    """Start dedicated instances inside one test; all are stopped (exit 0 checked)
    and removed afterwards."""
    made = []

    def make(start=True, **kw):
        m = Mosaic(**kw)
        made.append(m)
        if start:
            m.start()
        return m

    yield make
    errors = []
    for m in made:
        try:
            finish(m)
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture(scope="session")
def mosaic():
    """The shared instance: 3 managed nodes, trust auth, transaction pooling."""
    with serving(Mosaic(nodes=3, name="shared")) as m:
        yield m


@pytest.fixture
def conn(mosaic):
    c = mosaic.connect()
    yield c
    c.close()


_table_counter = [0]


@pytest.fixture
def table_name(request):
    """A table name unique in this run (tests share one Mosaic)."""
    _table_counter[0] += 1
    base = "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[:40]
    return f"t_{base}_{_table_counter[0]}"
