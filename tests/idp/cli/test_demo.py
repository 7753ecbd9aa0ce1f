"""`idp demo` (what `make run` starts): it serves at the port it is given, with an issuer that
matches, and a second one started on the same port stops before touching anything, so the first
one's printed secrets keep working."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

IDP = Path(sys.executable).with_name("idp")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_second_demo_on_a_busy_port_changes_nothing_and_says_which_port_to_use(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    log = (tmp_path / "demo.log").open("w")
    first = subprocess.Popen([str(IDP), "demo", "--port", str(port)], cwd=tmp_path, env=env, stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert first.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                meta = httpx.get(f"{base}/.well-known/openid-configuration", trust_env=False, timeout=2).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
                time.sleep(0.2)
        assert meta["issuer"] == base  # not the default port's: tokens name the address served
        printed = (tmp_path / "demo.log").read_text()
        machine_id, machine_secret = re.search(r"Demo back end\s+client_id (\S+)\s+secret (\S+)", printed).groups()

        second = subprocess.run([str(IDP), "demo", "--port", str(port)], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=60, check=False)
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr and f"make run PORT={port + 1}" in second.stderr
        # The running demo's secrets were not replaced by the second start.
        token = httpx.post(f"{base}/token", auth=(machine_id, machine_secret),
                           data={"grant_type": "client_credentials"}, trust_env=False, timeout=10)
        assert token.status_code == 200, token.text
    finally:
        first.send_signal(signal.SIGINT)
        try:
            first.wait(15)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait(5)
        log.close()
