"""The service's settings (`policyc serve` flags, docs/serve.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8321


@dataclass
class ServeConfig:
    files: dict[str, Path] = field(default_factory=dict)  # name -> bundle file
    folders: list[Path] = field(default_factory=list)  # every *.pbundle, by stem
    default: str | None = None  # the policy `/v1/check` decides with
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    verify_keys: Any = None  # `signing.VerifyKeys`, or None: no signature check
    decision_log: Path | None = None
    log_text: bool = False
    log_max_bytes: int = 100 << 20
    log_backups: int = 5
    log_salt: bytes | None = None
    max_body: int = 8 << 20  # bytes
    max_text: int = 262_144  # characters of one event's text
    max_batch: int = 100_000  # events in one batch
    timeout: float = 1.0  # seconds for the model bindings of one request
    body_timeout: float = 30.0  # seconds to receive one request's body (then 408)
    token: str | None = None  # bearer token required on /v1/* and /metrics
    watch_interval: float = 1.0  # seconds between two polls of the bundle files
    workers: int = 2  # threads running model bindings
    graceful_timeout: float = 30.0  # seconds to finish in-flight requests on SIGTERM
