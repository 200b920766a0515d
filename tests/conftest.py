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
