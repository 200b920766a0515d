"""Node-side shell scripts and how they are turned into one command line (pure functions, no Pulumi)."""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent
_LIB_LINE = '. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"'
# A line sourcing a helper file beside the script (lib.sh, lib-microceph.sh): each is inlined in its place.
_SOURCE_LINE = re.compile(r'^\. "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)/(lib[\w-]*\.sh)"$', re.MULTILINE)


@cache
def script_text(name: str) -> str:
    """The script ``name`` (e.g. ``swarm-join.sh``) made self-contained: each line sourcing a helper file (lib.sh,
    and lib-microceph.sh for the MicroCeph scripts) is replaced by that file, so the text can run with ``bash -c``
    on a host that has none of these files."""
    text = (SCRIPTS_DIR / name).read_text()
    if _LIB_LINE not in text:
        raise ValueError(f"{name} does not source lib.sh the expected way")
    return _SOURCE_LINE.sub(lambda line: (SCRIPTS_DIR / line.group(1)).read_text(), text)


def script_command(name: str, *args: object, sudo: bool = False) -> str:
    """A command line that runs script ``name`` with ``args`` under bash (via ``sudo -n`` for non-root users).

    Only non-secret values may be passed as ``args``: they are visible in the remote process list. Secrets go on
    the command's stdin."""
    argv = ["sudo", "-n"] if sudo else []
    argv += ["bash", "-c", script_text(name), name, *(str(a) for a in args)]
    return shlex.join(argv)
