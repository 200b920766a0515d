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
    lab starts at most twice, unless a test on it fails: that test's leftovers (a Swarm, a mount, files on CephFS)
    would fail the next ones, so the lab is taken down and the next test starts a fresh one."""

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


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


def _lab_for(the_lab: Lab, request: pytest.FixtureRequest, size: int):
    yield the_lab.at(size)
    if request.node.stash.get(_FAILED, False):
        print(f"\n{request.node.name} failed: the lab goes down, the next test on it starts a fresh one")
        the_lab.down()


@pytest.fixture
def lab_nodes(the_lab, request):
    """The lab's three Swarm nodes (one manager), from lab/lab.sh up."""
    yield from _lab_for(the_lab, request, 3)


@pytest.fixture
def lab5_nodes(the_lab, request):
    """The 5-node lab (three managers, two workers)."""
    yield from _lab_for(the_lab, request, 5)


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
