import pytest

from lab import stack_config
from lab.program import run_stack
from lab.steps import lab


@pytest.fixture(scope="session")
def dev_run():
    return run_stack("dev")


@pytest.fixture(scope="session")
def prod_run():
    return run_stack("prod")


class Lab:
    """The one lab of the session: started at the size a test asks for (a different size means down, then up) and
    taken down at the session's end. Tests on the 5-node lab run after those on the 3-node one (see below), so the
    lab starts at most twice."""

    def __init__(self):
        self.size: int | None = None

    def at(self, size: int) -> list[tuple[str, str, str]]:
        if self.size != size:
            if self.size is not None:
                self.down()
            up = lab("up", size)
            assert (
                up.returncode == 0
            ), f"lab/lab.sh up (LAB_SIZE={size}) failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
            self.size = size
        return stack_config.lab_nodes(size)

    def down(self) -> None:
        down = lab("down", self.size or 3)
        assert down.returncode == 0, down.stderr
        self.size = None


@pytest.fixture(scope="session")
def the_lab():
    running = Lab()
    yield running
    running.down()


@pytest.fixture
def lab_nodes(the_lab):
    """The lab's three Swarm nodes (one manager), from lab/lab.sh up."""
    return the_lab.at(3)


@pytest.fixture
def lab5_nodes(the_lab):
    """The 5-node lab (three managers, two workers)."""
    return the_lab.at(5)


def pytest_collection_modifyitems(items):
    """Tests on the 5-node lab last (a stable sort: the order is otherwise unchanged)."""
    items.sort(key=lambda item: "lab5_nodes" in getattr(item, "fixturenames", ()))


_seconds_by_file: dict[str, float] = {}


def pytest_runtest_logreport(report):
    """Sum every phase (setup, call, teardown: the lab's start and stop count where they happen) per test file."""
    path = report.nodeid.split("::", 1)[0]
    _seconds_by_file[path] = _seconds_by_file.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    terminalreporter.section("time per test file")
    for path, seconds in sorted(_seconds_by_file.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
