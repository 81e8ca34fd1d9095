"""The bundles a service serves, by name, and their reloads.

A `Source` is one bundle file (``--bundle [NAME=]PATH``) or a folder whose ``*.pbundle``
files are each served under their stem (``--bundles DIR``). `Registry.policies` is a
dict replaced whole on every change (never mutated), so a request that read it once
decides with one bundle from start to end, and a swap is one assignment.

A watcher thread polls the files' (size, mtime, inode) every `interval` seconds. A
change is loaded once the file has stayed the same for one more poll (a file being
copied in place is not read half-written; writing a temporary file and renaming it
over the old one is best), off the request path: read and verified fully (content
hash, tables, model hashes, the signature when verify keys are set), the ONNX sessions
built, and only then swapped in. A bundle that fails keeps the old one serving; the
failure is logged, counted (`policyc_reload_failures_total`) and shown by ``/health``,
and the file is tried again on its next change. A bundle file that disappears keeps
its last good bundle serving (reported by ``/health``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policyc.runtime.bundle import BundleError
from policyc.runtime.checker import Bundle, Checker

log = logging.getLogger("policyc.serve")

BUNDLE_SUFFIX = ".pbundle"


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


@dataclass(frozen=True)
class Loaded:
    """One served bundle: the checker and where it came from."""

    name: str
    checker: Checker
    path: str
    loaded_at: str
    stamp: tuple[int, int, int]
    schema: dict[str, Any] = field(compare=False)

    def describe(self) -> dict[str, Any]:
        c = self.checker
        return {"name": self.name, "policy": c.policy, "version": c.version, "hash": c.hash,
                "signer": c.data.signer, "loaded_at": self.loaded_at, "source": self.path}


@dataclass
class Status:
    """What the watcher knows about one name (for ``/health``)."""

    path: str
    error: str | None = None
    error_help: str | None = None  # the fix the bundle error names, if any
    error_at: str | None = None
    missing: bool = False
    pending: tuple[int, int, int] | None = None  # a change seen, waiting to settle
    failed_stamp: tuple[int, int, int] | None = None  # the file version that failed


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class Registry:
    """Named bundles, loaded and swapped atomically (see the module docstring)."""

    def __init__(self, files: dict[str, Path], folders: list[Path], verify_keys: Any,
                 on_loaded: Callable[[Loaded, Loaded | None], None] | None = None,
                 on_failed: Callable[[str, str], None] | None = None,
                 schema_of: Callable[[Checker], dict[str, Any]] | None = None):
        self.files = dict(files)
        self.folders = list(folders)
        self.verify_keys = verify_keys
        self.policies: dict[str, Loaded] = {}
        self.status: dict[str, Status] = {}
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._schema_of = schema_of or (lambda _: {})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._swap = threading.Lock()

    # ---- what to watch -----------------------------------------------------------------

    def watched(self) -> dict[str, Path]:
        out = dict(self.files)
        for folder in self.folders:
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            for p in entries:
                if p.suffix == BUNDLE_SUFFIX and p.stem not in out and p.is_file():
                    out[p.stem] = p
        return out

    # ---- loading -----------------------------------------------------------------------

    def load(self, name: str, path: Path) -> Loaded | None:
        """Load and verify `path` fully, then swap it in; None (old kept) on failure."""
        stamp = _stamp(path)
        status = self.status.setdefault(name, Status(str(path)))
        status.path = str(path)
        try:
            if stamp is None:
                raise BundleError(f"cannot read bundle {path}: no such file")
            checker = Bundle.load(path, verify_key=self.verify_keys if self.verify_keys
                                  else False)
            warm(checker)
        except BundleError as err:
            status.error, status.error_at = str(err), _utc(time.time())
            status.error_help = err.help
            status.failed_stamp = stamp
            log.error("bundle %s not loaded (%s): %s", name, path,
                      "the previous bundle keeps serving" if name in self.policies
                      else "not served", extra={"policy": name})
            if self._on_failed is not None:
                self._on_failed(name, str(err))
            return None
        loaded = Loaded(name, checker, str(path), _utc(time.time()), stamp,
                        self._schema_of(checker))
        with self._swap:
            previous = self.policies.get(name)
            self.policies = {**self.policies, name: loaded}
        status.error = status.error_at = status.failed_stamp = None
        status.missing = False
        log.info("bundle %s loaded: %s %s %s", name, checker.policy, checker.version,
                 checker.hash)
        if self._on_loaded is not None:
            self._on_loaded(loaded, previous)
        return loaded

    def load_all(self) -> list[str]:
        """Load every watched bundle; the names that failed."""
        failed = []
        for name, path in self.watched().items():
            if self.load(name, path) is None:
                failed.append(name)
        return failed

    def poll(self) -> None:
        """One round of the watcher: load what changed and has settled."""
        for name, path in self.watched().items():
            stamp = _stamp(path)
            status = self.status.setdefault(name, Status(str(path)))
            current = self.policies.get(name)
            if stamp is None:
                status.missing = True
                status.pending = None
                continue
            status.missing = False
            if (current is not None and current.stamp == stamp and current.path == str(path)) \
                    or stamp == status.failed_stamp:
                status.pending = None
                continue
            if status.pending != stamp:  # changed since the last poll: let it settle
                status.pending = stamp
                continue
            status.pending = None
            self.load(name, path)

    # ---- the watcher thread ---------------------------------------------------------------

    def start(self, interval: float) -> None:
        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.poll()
                except Exception:  # pragma: no cover - never let the watcher die
                    log.exception("bundle watcher")

        self._thread = threading.Thread(target=run, name="policyc-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---- readiness ----------------------------------------------------------------------

    def ready(self) -> bool:
        return all(name in self.policies for name in self.watched())

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in sorted(set(self.watched()) | set(self.policies)):
            loaded = self.policies.get(name)
            st = self.status.get(name)
            item: dict[str, Any] = {
                "status": "ok" if loaded is not None and (st is None or not st.error) and
                not (st and st.missing) else "failed" if loaded is None else "stale"}
            if loaded is not None:
                item.update(version=loaded.checker.version, hash=loaded.checker.hash,
                            loaded_at=loaded.loaded_at)
            if st is not None and st.error:
                item.update(error=st.error, error_at=st.error_at)
            if st is not None and st.missing:
                item["error"] = f"bundle file {st.path} is missing; the last one loaded serves"
            out[name] = item
        return out


def warm(checker: Checker) -> None:
    """Build what a first request would (ONNX sessions, detectors), off the request path."""
    if checker.bindings.categories:
        checker.bindings.scores("warm up")
