import pytest

from lab.program import run_stack
from lab.stack_config import LAB_NODES
from lab.steps import lab


@pytest.fixture(scope="session")
def dev_run():
    return run_stack("dev")


@pytest.fixture(scope="session")
def prod_run():
    return run_stack("prod")


@pytest.fixture(scope="session")
def lab_nodes():
    """The lab's three Swarm nodes, up for the session (lab/lab.sh up), down at its end."""
    up = lab("up")
    assert up.returncode == 0, f"lab/lab.sh up failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
    yield LAB_NODES
    down = lab("down")
    assert down.returncode == 0, down.stderr


_seconds_by_file: dict[str, float] = {}


def pytest_runtest_logreport(report):
    """Sum every phase (setup, call, teardown: the lab's start and stop count where they happen) per test file."""
    path = report.nodeid.split("::", 1)[0]
    _seconds_by_file[path] = _seconds_by_file.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    terminalreporter.section("time per test file")
    for path, seconds in sorted(_seconds_by_file.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
