"""What a command-line argument names: policy sources, bundles, standard input.

- `-` is standard input (and, for an output, standard output) everywhere. Policy text
  read from standard input is shown under `--stdin-filename NAME` (default `<stdin>`),
  and its parents are looked up from NAME's folder, as if the file were there.
- A bundle is recognised by its content (a zip archive), whatever its name; anything
  else is policy source. So `check x.bin` works on a bundle, and `compile` can never
  be asked to read its own output as source.
- Commands that take files or folders refuse (exit 2) when they find no policy at all:
  an empty folder passing a CI gate is a misconfiguration, not a success.
- A target (`check`, `explain`, `eval`, `replay`) is a bundle, policy source compiled in
  memory, or a policy name (`std.baseline`, or one declared in a `--path` folder).
- `--verify-key FILE` (repeatable; default: `POLICYC_VERIFY_KEY`) applies to every bundle
  a command loads: one without a valid signature by one of the keys is refused (exit 2).
  A policy compiled from source in the same command is not a bundle: never verified.
  The key files are read first, so a missing or bad key exits 2 whatever the target.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policyc.commands.console import UsageError, console

if TYPE_CHECKING:
    from policyc.runtime.checker import Checker
    from policyc.runtime.signing import VerifyKeys
    from policyc.semantics.program import Program

STDIN = "-"
STDIN_DISPLAY = "<stdin>"
#: Local file header, and the end record of an empty archive.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

_stdin_cache: list[bytes] = []


def is_stdin(path: str | Path | None) -> bool:
    return path is not None and str(path) == STDIN


def read_stdin_bytes() -> bytes:
    """All of standard input, read once (several readers of one run share it)."""
    if not _stdin_cache:
        _stdin_cache.append(sys.stdin.buffer.read())
    return _stdin_cache[0]


def stdin_display(stdin_filename: str | Path | None) -> str:
    return str(stdin_filename) if stdin_filename else STDIN_DISPLAY


def read_stdin_text(stdin_filename: str | Path | None = None) -> str:
    try:
        return read_stdin_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{stdin_display(stdin_filename)}: standard input is not UTF-8 text "
                         f"(byte {exc.start})") from None


def is_bundle_bytes(data: bytes) -> bool:
    return data[:4] in ZIP_MAGIC


def is_bundle(path: Path) -> bool:
    """True when `path` holds a bundle (a zip archive); `-` looks at standard input."""
    if is_stdin(path):
        return is_bundle_bytes(read_stdin_bytes())
    if path.is_dir():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError:
        # unreadable: a `.pol` name reports it as a source, anything else as a bundle
        return path.suffix != ".pol"
    if is_bundle_bytes(head):
        return True
    if path.suffix == ".pol":
        return False
    return b"\0" in head  # binary, not a zip: let the bundle reader say what is wrong


def single_stdin(files: Sequence[Path]) -> bool:
    """Whether the inputs are `-` (standard input) alone; `-` with other files is refused."""
    if not any(is_stdin(f) for f in files):
        return False
    if len(files) != 1:
        raise UsageError("`-` (standard input) cannot be combined with other files",
                         "give either `-` or files and folders")
    return True


def require_policies(files: Sequence[Path]) -> None:
    """Exit 2 when the files and folders given hold no `.pol` file (missing paths excepted:
    those are reported as located diagnostics by the loader)."""
    from policyc.semantics.loader import expand_inputs

    found, missing = expand_inputs(list(files))
    if found or missing:
        return
    shown = ", ".join(f"`{f}`" for f in files) or "the current folder"
    raise UsageError(f"no policies found in {shown}",
                     "give `.pol` files, or folders that contain them (searched recursively)")


def check_search_path(folders: Sequence[Path]) -> None:
    """Exit 2 when a `--path` entry is not a folder: a typo there would otherwise only show
    later, as an unknown parent policy, with the real cause hidden."""
    for folder in folders:
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise UsageError(f"`--path {folder}` {what}",
                             "give a folder that holds parent policies (`.pol` files)")


def load_inputs(files: Sequence[Path], search_path: Sequence[Path],
                stdin_filename: str | Path | None = None) -> Program:
    """The front end over files and folders, or over standard input for `-`."""
    from policyc.semantics.program import load_policy_text, load_program

    if single_stdin(files):
        return load_policy_text(read_stdin_text(stdin_filename), stdin_display(stdin_filename),
                                list(search_path))
    require_policies(files)
    return load_program(list(files), list(search_path))


def given_files(files: Sequence[Path]) -> int:
    """How many policy files the arguments name (folders expanded; `-` counts one)."""
    from policyc.semantics.loader import expand_inputs

    if single_stdin(files):
        return 1
    return len(expand_inputs(list(files))[0])


def verify_keys(paths: Sequence[Path] | VerifyKeys | None) -> VerifyKeys | None:
    """The keys of `--verify-key` (None: none given, so bundles follow
    `POLICYC_VERIFY_KEY`); a key file that cannot be read or is not an Ed25519 public key
    is a usage error (exit 2)."""
    from policyc.runtime.bundle import BundleError
    from policyc.runtime.signing import VerifyKeys, load_verify_keys

    if paths is None or isinstance(paths, VerifyKeys):
        return paths
    if not paths:
        return None
    try:
        return load_verify_keys(list(paths))
    except BundleError as err:
        raise UsageError(f"--verify-key: {err}",
                         "give the Ed25519 public key (PEM) the bundles are signed with, "
                         "e.g. the FILE.pub of `policyc sign --generate-key FILE`") from None


def load_target(target: Path, path: list[Path], stdin_filename: str | None = None,
                verify_key: Sequence[Path] | VerifyKeys | None = None) -> Checker:
    """A bundle (recognised by its content, whatever its name), or policy source compiled
    in memory (diagnostics rendered, then exit 2); `-` reads either from standard input;
    a policy name (`std.baseline`, or one in a `--path` folder) stands for its file.
    `verify_key`: the `--verify-key` files (see `verify_keys`), checked on bundles only."""
    from policyc.runtime.checker import Bundle
    from policyc.semantics.loader import named_policy

    keys: Any = verify_keys(verify_key)  # None: `POLICYC_VERIFY_KEY` decides
    if not is_stdin(target):
        target = named_policy(target, path) or target
    if is_bundle(target):
        if is_stdin(target):
            return Bundle.from_bytes(read_stdin_bytes(),  # type: ignore[no-any-return]
                                     stdin_display(stdin_filename), verify_key=keys)
        return Bundle.load(target, verify_key=keys)  # type: ignore[no-any-return]
    from policyc.compile.pipeline import compile_program
    from policyc.lint.gate import COMPILE_GATE
    from policyc.render.human import render_human

    shown = stdin_display(stdin_filename) if is_stdin(target) else str(target)
    state = compile_program(load_inputs([target], list(path), stdin_filename),
                            gate=COMPILE_GATE)
    if state.bundle is None:
        sources = state.program.sources if state.program is not None else {}
        render_human(state.diagnostics, sources, console(stderr=True))
        raise UsageError(f"{shown} could not be compiled")
    # compiled here from source: nothing to verify (the keys are for bundles)
    return Bundle.from_bytes(state.bundle, shown, verify_key=False)
