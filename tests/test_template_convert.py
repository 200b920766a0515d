"""template-convert.sh (run on the Pulumi runner) against a stand-in for the PVE API on loopback: the template VM's
state is read by parsing PVE's JSON, so compact and spaced answers (another PVE version, a proxy, an emulator) decide
the same: a stopped VM is converted once, a template is left alone, a running one times out naming the VM."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from components.scripts import script_command

TOKEN = "root@pam!ci=00000000-0000-0000-0000-000000000000"
VM = "/api2/json/nodes/pve1/qemu/9000"
SPACINGS = {"compact": (",", ":"), "spaced": (", ", ": ")}


class FakePve(ThreadingHTTPServer):
    def __init__(self, separators: tuple[str, str]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.separators = separators
        self.status = "stopped"
        self.template = 0
        self.requests: list[str] = []
        self.tokens: set[str] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class Handler(BaseHTTPRequestHandler):
    server: FakePve

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, data: dict) -> None:
        body = json.dumps({"data": data}, separators=self.server.separators).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        self.server.tokens.add(self.headers.get("Authorization", ""))

    def do_GET(self) -> None:
        self._record()
        if self.path == f"{VM}/config":
            # PVE lists the config's keys in its own order; "template" only on a template
            config = {"name": "debian12-swarm-template", "memory": "2048", "cores": 2}
            self._answer({**config, "template": 1} if self.server.template else config)
        elif self.path == f"{VM}/status/current":
            self._answer({"vmid": 9000, "status": self.server.status, "qmpstatus": self.server.status})
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        self._record()
        if self.path == f"{VM}/template":
            self.server.template = 1
            self._answer(None)
        else:
            self.send_error(404)


@pytest.fixture(params=sorted(SPACINGS))
def pve(request) -> Iterator[FakePve]:
    server = FakePve(SPACINGS[request.param])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def convert(pve: FakePve, timeout_s: int = 20) -> subprocess.CompletedProcess:
    line = script_command("template-convert.sh", pve.endpoint, "pve1", 9000, "false", timeout_s)
    return subprocess.run(["sh", "-c", line], input=TOKEN + "\n", capture_output=True, text=True, timeout=60)


def test_a_stopped_vm_is_converted_once(pve):
    first = convert(pve)
    assert first.returncode == 0 and first.stdout == "template\n", first.stderr
    assert pve.requests == [f"GET {VM}/config", f"GET {VM}/status/current", f"POST {VM}/template"]
    assert pve.tokens == {f"PVEAPIToken={TOKEN}"}
    again = convert(pve)  # already a template: no-op
    assert again.returncode == 0 and again.stdout == "template\n", again.stderr
    assert pve.requests[3:] == [f"GET {VM}/config"]


def test_a_vm_that_stops_later_is_waited_for(pve):
    pve.status = "running"
    threading.Timer(2, lambda: setattr(pve, "status", "stopped")).start()
    done = convert(pve)
    assert done.returncode == 0, done.stderr
    assert pve.requests.count(f"GET {VM}/status/current") >= 2 and pve.requests[-1] == f"POST {VM}/template"


def test_a_running_vm_times_out_naming_it(pve):
    pve.status = "running"
    done = convert(pve, timeout_s=1)
    assert done.returncode != 0 and "VM 9000 did not power off within 1s" in done.stderr
    assert f"POST {VM}/template" not in pve.requests


def test_an_answer_that_is_not_json_is_an_error():
    class NotJson(FakePve):
        pass

    server = NotJson(SPACINGS["compact"])

    class Html(Handler):
        def do_GET(self) -> None:
            body = b"<html>proxy login</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server.RequestHandlerClass = Html
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = convert(server)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode != 0 and "is not JSON: <html>proxy login</html>" in done.stderr
