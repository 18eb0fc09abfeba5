"""The sharing policy in force: ``policy.yaml`` in the data directory.

A new node starts with the shipped default (share nothing, accept nothing).
A policy is applied only after it checks clean; the file is re-read when it
changes on disk, so ``cordon policy apply`` takes effect in a running node.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from policies import Policy, load_policy

POLICY_NAME = "policy.yaml"


def shipped_policy(name: str = "default.yaml") -> Path:
    import policies

    return Path(policies.__file__).resolve().parent / name


def install_default(data_dir: Path) -> None:
    target = Path(data_dir) / POLICY_NAME
    shutil.copyfile(shipped_policy(), target)
    target.chmod(0o600)


class PolicyStore:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / POLICY_NAME
        self._lock = threading.Lock()
        self._policy: Policy | None = None
        self._stamp: tuple | None = None

    def current(self) -> Policy:
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if self._policy is None or stamp != self._stamp:
                self._policy = load_policy(self.path if stamp else shipped_policy())
                self._stamp = stamp
            return self._policy
