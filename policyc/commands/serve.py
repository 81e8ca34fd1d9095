"""`policyc serve` and `policyc sign` (docs/serve.md): the only serve modules that print.

Exit codes: 2 for a bad flag, an unreadable key, a bundle given by file that does not
load at start (a folder's bundles that fail are reported and retried on change);
`serve` otherwise runs until SIGTERM/SIGINT and then stops gracefully (no new
connections, in-flight requests finished, the decision log flushed), and its exit
status is the signal's (143 / 130, as CLI.md says).
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path

from policyc.commands.console import note, print_error
from policyc.runtime.bundle import RECOMPILE_HELP, BundleError
from policyc.runtime.bundle_reader import parse_size
from policyc.runtime.bundle_signer import sign_bundle

TOKEN_ENV = "POLICYC_SERVE_TOKEN"
LOG_SALT_ENV = "POLICYC_LOG_SALT"


class _Bad(Exception):
    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


def _size(flag: str, raw: str) -> int:
    n = parse_size(raw)
    if not n:
        raise _Bad(f"`{flag} {raw}` is not a size in bytes", "write e.g. 1048576, 512K or 8M")
    return n


def _targets(items: list[str]) -> tuple[dict[str, Path], list[Path]]:
    files: dict[str, Path] = {}
    folders: list[Path] = []
    for item in items:
        name, sep, raw = item.partition("=")
        path = Path(raw if sep else item)
        if not sep and path.is_dir():
            folders.append(path)
            continue
        if not sep:
            name = path.name.removesuffix(".pbundle") if path.name.endswith(".pbundle") \
                else path.stem
        if not name or "/" in name or not name.isprintable():
            raise _Bad(f"`{item}`: a policy name is one path segment",
                       "write NAME=PATH, e.g. chat=chat.pbundle")
        if name in files:
            raise _Bad(f"two bundles are named `{name}`", "name them: NAME=PATH")
        if not path.exists():
            raise _Bad(f"cannot read bundle {path}: no such file")
        if path.is_dir():
            raise _Bad(f"`{item}`: a named bundle is a file, not a folder")
        files[name] = path
    if not files and not folders:
        raise _Bad("no bundle to serve", "give bundle files or a folder of *.pbundle files")
    return files, folders


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("policyc serve: %(levelname)s: %(message)s"))
    for name in ("policyc.serve", "policyc.runtime"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(logging.INFO)
        lg.propagate = False


def run_serve(targets: list[str], *, default: str | None, host: str, port: int,
              verify_key: list[Path], decision_log: Path | None, log_text: bool,
              log_max_bytes: str, log_backups: int, max_body: str, max_text: int,
              max_batch: int, timeout: float, token_file: Path | None,
              watch_interval: float, workers: int, body_timeout: float = 30.0) -> int:
    try:
        return _serve(targets, default, host, port, verify_key, decision_log, log_text,
                      log_max_bytes, log_backups, max_body, max_text, max_batch, timeout,
                      token_file, watch_interval, workers, body_timeout)
    except _Bad as err:
        print_error(str(err), err.help)
        return 2
    except BundleError as err:
        print_error(str(err), err.help or "check the key files given to `--verify-key`")
        return 2


def _serve(targets: list[str], default: str | None, host: str, port: int,
           verify_key: list[Path], decision_log: Path | None, log_text: bool,
           log_max_bytes: str, log_backups: int, max_body: str, max_text: int,
           max_batch: int, timeout: float, token_file: Path | None, watch_interval: float,
           workers: int, body_timeout: float) -> int:
    from policyc import __version__
    from policyc.runtime.signing import load_verify_keys
    from policyc.serve.config import ServeConfig

    files, folders = _targets(targets)
    for flag, value in (("--timeout", timeout), ("--watch-interval", watch_interval),
                        ("--body-timeout", body_timeout)):
        if not value > 0:
            raise _Bad(f"`{flag}` must be positive, not {value:g}")
    if not 0 <= port <= 65535:
        raise _Bad(f"`--port {port}` is not a TCP port", "give 1 to 65535, or 0 for any free one")
    if max_text < 1 or max_batch < 1 or workers < 1 or log_backups < 0:
        raise _Bad("`--max-text`, `--max-batch` and `--workers` must be at least 1, "
                   "`--log-backups` at least 0")
    token = os.environ.get(TOKEN_ENV) or None
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            why = getattr(err, "strerror", None) or err
            raise _Bad(f"cannot read the token file {token_file}: {why}") from None
        if not token:
            raise _Bad(f"the token file {token_file} is empty")
    salt = os.environ.get(LOG_SALT_ENV, "").encode() or None
    config = ServeConfig(
        files=files, folders=folders, default=default, host=host, port=port,
        verify_keys=load_verify_keys(verify_key) if verify_key else None,
        decision_log=decision_log, log_text=log_text,
        log_max_bytes=_size("--log-max-bytes", log_max_bytes), log_backups=log_backups,
        log_salt=salt, max_body=_size("--max-body", max_body), max_text=max_text,
        max_batch=max_batch, timeout=timeout, body_timeout=body_timeout, token=token,
        watch_interval=watch_interval, workers=workers)
    if verify_key is None or not verify_key:
        from policyc.runtime.signing import resolve

        config.verify_keys = resolve(None)  # POLICYC_VERIFY_KEY, if set
    if decision_log is not None:
        try:
            decision_log.parent.mkdir(parents=True, exist_ok=True)
            with open(decision_log, "ab"):
                pass
        except OSError as err:
            raise _Bad(f"cannot write the decision log {decision_log}: "
                       f"{err.strerror or err}") from None
    _setup_logging()
    from policyc.serve.app import Service

    service = Service(config, __version__)
    failed = service.registry.load_all()
    bad_files = [n for n in failed if n in files]
    if bad_files:
        service.close()
        status = service.registry.status[bad_files[0]]
        raise _Bad(str(status.error), status.error_help or RECOMPILE_HELP)
    served = sorted(service.registry.policies)
    if config.default is None:
        config.default = next(iter(files), served[0] if served else None)
    elif config.default not in service.registry.watched():
        service.close()
        raise _Bad(f"`--default {config.default}` names no bundle served",
                   f"served: {', '.join(served) or '(none)'}")
    if not _loopback(host) and token is None:
        note(f"warning: listening on {host} without a bearer token (`--token-file` or "
             f"{TOKEN_ENV})")
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections wait in the backlog until uvicorn accepts them
    except OSError as err:
        service.close()
        raise _Bad(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    # one unwrapped line a supervisor (or a test) can read the port from
    sys.stderr.write(f"policyc serve: listening on http://{shown}:{bound} (policies: "
                     f"{', '.join(served) or '(none)'}; default: {config.default})\n")
    sys.stderr.flush()
    return _run(service, sock)


def _run(service: object, sock: socket.socket) -> int:
    import uvicorn

    from policyc.serve.app import Service

    assert isinstance(service, Service)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # pragma: no cover - Windows
        loop = "asyncio"
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:  # pragma: no cover
        http = "h11"
    config = uvicorn.Config(service.app, loop=loop, http=http, lifespan="on",
                            access_log=False, log_config=None, log_level="warning",
                            server_header=False,
                            timeout_graceful_shutdown=int(service.config.graceful_timeout))
    server = uvicorn.Server(config)
    # the loaded bundles, the modules and the stack: out of the cyclic GC's full
    # collections (~15 ms each over these ~50k objects, a p99 outlier otherwise)
    gc.collect()
    gc.freeze()
    server.run(sockets=[sock])
    return 0


# ---- sign ----------------------------------------------------------------------------------


def run_sign(bundle: Path | None, key: Path | None, output: Path | None,
             generate_key: Path | None) -> int:
    from policyc.runtime import signing

    try:
        if generate_key is not None:
            if bundle is not None or key is not None:
                raise _Bad("`--generate-key` takes no bundle and no `--key`")
            private, public, kid = signing.generate_key(generate_key)
            note(f"wrote the private key {private} and the public key {public} "
                 f"(key id {kid}); keep the private key secret")
            return 0
        if bundle is None or key is None:
            raise _Bad("give the bundle and `--key PRIVATE_KEY`",
                       "make a key pair with `policyc sign --generate-key FILE`")
        private_key = signing.load_private_key(key)
        try:
            data = bundle.read_bytes()
        except OSError as err:
            raise _Bad(f"cannot read bundle {bundle}: {err.strerror or err}") from None
        signed, kid = sign_bundle(data, private_key, str(bundle))
        target = output or bundle
        _write_atomically(target, signed)
    except _Bad as err:
        print_error(str(err), err.help)
        return 2
    except BundleError as err:
        print_error(str(err), None)
        return 2
    note(f"signed {target} with key {kid}")
    return 0


def _write_atomically(target: Path, data: bytes) -> None:
    """Write a temporary file beside `target`, then rename it over (a watcher never
    sees a half-written bundle)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as err:
        raise _Bad(f"cannot write {target}: {err.strerror or err}") from None
