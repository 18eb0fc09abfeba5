"""Node settings: the ``cordon.toml`` file in the data directory.

Settings are read when a command or the app factory asks for them, never on
import. Every setting is documented in ``docs/configuration.md``; a test keeps
the two in step.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from pathlib import Path
from urllib.parse import urlparse

from federation.identity import NODE_ID_RE
from policies.node_ids import node_id_problem

from .errors import DataDirError, ValidationFailed

CONFIG_NAME = "cordon.toml"
MAX_TOKEN_TTL = 3600
MAX_SERVER_WORKERS = 16
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The numeric settings: (lowest, highest, what the highest stands for); docs/configuration.md lists them.
_RANGES = {
    "max_body_bytes": (1024, 1 << 30, " bytes"),
    "token_ttl_seconds": (60, MAX_TOKEN_TTL, " seconds"),
    "server_threads": (1, 256, ""),
    "server_workers": (1, MAX_SERVER_WORKERS, ""),
    "review_years": (1, 20, " years"),
    "consultation_days": (1, 365, " days"),
    "sync_interval_seconds": (5, 86_400, " seconds"),
    "push_interval_seconds": (1, 3_600, " seconds"),
    "request_window_seconds": (30, 3_600, " seconds"),
    "peer_timeout_seconds": (0.5, 300, " seconds"),
    "sync_batch_size": (1, 5000, " (what a peer answers in one pull)"),
}
_FRACTIONAL = frozenset(("peer_timeout_seconds",))
_LISTEN = re.compile(r"(?:[^\s:\[\]]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}")


@dataclasses.dataclass(frozen=True)
class Settings:
    node_id: str
    name: str
    base_url: str
    role: str = "member"
    listen: str = ""
    max_body_bytes: int = 1_048_576
    token_ttl_seconds: int = 900
    server_threads: int = 8
    server_workers: int = 1
    review_years: int = 3
    consultation_days: int = 30
    sync_interval_seconds: int = 60
    push_interval_seconds: int = 2
    request_window_seconds: int = 300
    peer_timeout_seconds: float = 5.0
    sync_batch_size: int = 500
    log_level: str = "INFO"
    screening_warm_start: bool = True

    def __post_init__(self):
        problems = {}
        # Any id an identity document may carry; a new member's must also be one a policy can name
        # (member_id_problem, checked by ``initialise``), which a node set up before that rule keeps.
        if not (isinstance(self.node_id, str) and NODE_ID_RE.match(self.node_id)):
            problems["node_id"] = "must be 2-32 characters A-Z, 0-9 and '-' (MT, OSCE-CPC)"
        if not (self.name or "").strip():
            problems["name"] = "must not be empty"
        url = urlparse(self.base_url or "")
        if url.scheme not in ("http", "https") or not url.hostname:
            problems["base_url"] = "must be an http(s) URL such as http://127.0.0.1:8701"
        if self.role not in ("member", "coordinator"):
            problems["role"] = "must be 'member' or 'coordinator'"
        for name, (low, high, unit) in _RANGES.items():
            value = getattr(self, name)
            number_ok = type(value) is int or (name in _FRACTIONAL and type(value) is float and math.isfinite(value))
            if not number_ok or not low <= value <= high:
                kind = "a number" if name in _FRACTIONAL else "a whole number"
                problems[name] = f"must be {kind} from {low} to {high}{unit}"
        if not isinstance(self.screening_warm_start, bool):
            problems["screening_warm_start"] = "must be true or false"
        if self.log_level not in LOG_LEVELS:
            problems["log_level"] = f"must be one of {', '.join(LOG_LEVELS)}"
        if not isinstance(self.listen, str) or (self.listen and not _LISTEN.fullmatch(self.listen)):
            problems["listen"] = ("must be host:port (127.0.0.1:8701, [::1]:8701), or empty for the host and port "
                                  "of base_url")
        if problems:
            raise ValidationFailed("invalid settings", fields=problems)

    def member_id_problem(self) -> str | None:
        """Why this node's id cannot be a new member's (no sharing policy could name it), or None."""
        return None if self.role == "coordinator" else node_id_problem(self.node_id)

    @property
    def listen_host(self) -> str:
        if self.listen:
            return self.listen.rsplit(":", 1)[0].strip("[]")
        return urlparse(self.base_url).hostname or "127.0.0.1"

    @property
    def listen_port(self) -> int:
        if self.listen:
            return int(self.listen.rsplit(":", 1)[1])
        url = urlparse(self.base_url)
        return url.port or (443 if url.scheme == "https" else 80)

    def to_toml(self) -> str:
        lines = ["# Cordon node settings; see docs/configuration.md for every key."]
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool):
                rendered = "true" if value else "false"
            elif isinstance(value, (int, float)):
                rendered = repr(value)
            else:
                rendered = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            lines.append(f"{field.name} = {rendered}")
        return "\n".join(lines) + "\n"


def read_settings(data_dir: Path) -> Settings:
    path = Path(data_dir) / CONFIG_NAME
    if not path.exists():
        raise DataDirError(
            f"{data_dir} is not an initialised Cordon data directory "
            f"(no {CONFIG_NAME}); run 'cordon init' first"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DataDirError(f"{path}: {exc}") from None
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValidationFailed(
            f"{path}: unknown setting(s)", fields={k: "unknown setting" for k in unknown}
        )
    return Settings(**raw)


def write_settings(data_dir: Path, settings: Settings) -> None:
    path = Path(data_dir) / CONFIG_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(settings.to_toml())
