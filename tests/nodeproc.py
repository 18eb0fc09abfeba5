"""Test support: real node data directories and real ``cordon serve`` processes on free ports."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from node.config import read_settings, write_settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cordon(*args, data_dir=None, check=True, input=None, env=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "node.cli", *map(str, args)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, input=input, env=full_env)
    if check and result.returncode != 0:
        raise AssertionError(f"cordon {' '.join(map(str, args))} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def init_node(data_dir: Path, node_id: str, name: str, port: int, role: str = "member"):
    return cordon("init", "--node-id", node_id, "--name", name, "--url", f"http://127.0.0.1:{port}",
                  "--role", role, data_dir=data_dir)


def create_client(data_dir: Path, name: str, *scopes: str) -> tuple[str, str]:
    args = ["clients", "create", name]
    for scope in scopes:
        args += ["--scope", scope]
    out = cordon(*args, data_dir=data_dir).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if line.startswith("client_"))
    return fields["client_id"].strip(), fields["client_secret"].strip()


class NodeProcess:
    """One ``cordon serve`` subprocess with its own data directory."""

    def __init__(self, data_dir: Path, node_id: str, name: str, port: int | None = None, role: str = "member",
                 warm_start: bool = False):
        # Tests start many nodes: unless asked, a node loads the name data on its first screening
        # (setting screening_warm_start) instead of spending ~11 s of CPU at every start.
        self.warm_start = warm_start
        self.data_dir = Path(data_dir)
        self.node_id = node_id
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"{node_id}-{self.port}.log"
        if not (self.data_dir / "cordon.toml").exists():
            init_node(self.data_dir, node_id, name, self.port, role)

    def start(self, timeout: float = 20.0) -> "NodeProcess":
        settings = read_settings(self.data_dir)
        if settings.screening_warm_start != self.warm_start:
            write_settings(self.data_dir, dataclasses.replace(settings, screening_warm_start=self.warm_start))
        if self.warm_start:
            timeout += 180.0  # the name data loads before the node listens
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "serve", "--data-dir", str(self.data_dir)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"node {self.node_id} exited: {self.log_path.read_text()}")
            try:
                if requests.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"node {self.node_id} did not answer within {timeout}s")

    def stop(self, sig=signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def kill(self):
        return self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cli(self, *args, check=True):
        return cordon(*args, data_dir=self.data_dir, check=check)

    def token(self, *scopes: str, name: str | None = None) -> str:
        client_id, secret = create_client(self.data_dir, name or f"t{free_port()}", *scopes)
        response = requests.post(self.url + "/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(client_id, secret), timeout=10)
        response.raise_for_status()
        return response.json()["access_token"]

    def session(self, *scopes: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + self.token(*scopes)
        return session
