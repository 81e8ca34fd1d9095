"""JSON Lines in and out, with every line accounted for (docs/cli.md, *Batch input*).

One concern: bytes to JSON values line by line, and JSON values back to UTF-8 lines.
What a value means (an event, a labelled example) is the caller's business.

Reading (`read_lines`, `parse_line`):

- the input is read as bytes, line by line (`readline`, so memory is bounded by the
  longest line, itself capped by `max_line_bytes`), and split on b"\\n" only: U+2028,
  U+2029 and U+0085 inside a JSON string never end a line, a trailing b"\\r" is dropped
  and a UTF-8 byte order mark before the first line is ignored;
- each line is decoded on its own, so a line that is not UTF-8 is one bad line;
- JSON is strict: NaN/Infinity, a number that is not a finite double (an integer of
  2^1024 or more, `1e400`), duplicate object keys and nesting deeper than Python's
  recursion limit make the line bad, and so does a blank line (JSON Lines has no
  empty records).

A bad line raises `BadLine` with its 1-based line number and a message; the caller
reports it and goes on. `Tally` counts lines in, lines out and lines reported, and
`lines == decided + skipped` always.

Writing (`dumps_line`): UTF-8 JSON, one line; a string holding a lone surrogate
(`"\\ud800"` in the input is valid JSON) is written with `\\uXXXX` escapes for its
surrogates, the only way JSON can carry it, so the writer never fails.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

#: A line longer than this is reported and skipped without being held in memory.
MAX_LINE_BYTES = 64 << 20
#: Digits of the largest integer below 2**1024 (the largest finite double is ~1.8e308).
_MAX_DIGITS = 309
_BOM = b"\xef\xbb\xbf"
_SURROGATE = re.compile("[\ud800-\udfff]")


class BadLine(ValueError):
    """A line that is not one JSON value (or not the value the caller expects)."""

    def __init__(self, number: int, message: str):
        super().__init__(message)
        self.number = number
        self.message = message


@dataclass
class Tally:
    """Lines in = lines decided (written) + lines skipped (reported)."""

    lines: int = 0
    decided: int = 0
    skipped: int = 0

    def summary(self) -> str:
        s = "" if self.lines == 1 else "s"
        return f"{self.lines} line{s}: {self.decided} decided, {self.skipped} skipped"


@dataclass(frozen=True, slots=True)
class Line:
    """One input line: its 1-based number, its bytes (without the end of line), and the
    input's byte offset after it (for progress)."""

    number: int
    raw: bytes
    end: int
    too_long: bool = False


def read_lines(stream: IO[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """Every line of a binary stream, split on b"\\n" only; a final line without b"\\n"
    counts, an empty input has no lines. A line over `max_line_bytes` is yielded with
    `too_long` set and its bytes dropped."""
    number = offset = 0
    while True:
        raw = stream.readline(max_line_bytes + 1)
        if not raw:
            return
        offset += len(raw)
        number += 1
        too_long = False
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            too_long = True
            while raw and not raw.endswith(b"\n"):  # skip the rest, a bounded read at a time
                raw = stream.readline(max_line_bytes + 1)
                offset += len(raw)
            raw = b""
        if raw.endswith(b"\n"):
            raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        yield Line(number, raw, offset, too_long)


class _BadNumber(ValueError):
    pass


def _parse_int(s: str) -> int:
    if len(s) - s.startswith("-") > _MAX_DIGITS:
        raise _BadNumber(f"number {s[:12]}… ({len(s)} digits) is out of range")
    x = int(s)
    if abs(x) >= 1 << 1024:
        raise _BadNumber(f"number {s[:12]}… is out of range")
    return x


def _parse_float(s: str) -> float:
    x = float(s)
    if math.isinf(x):
        raise _BadNumber(f"number {s[:24]} is out of range")
    return x


def _parse_constant(s: str) -> Any:
    raise _BadNumber(f"{s} is not valid JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _BadNumber(f"duplicate key {dumps_value(k)}")
            seen.add(k)
    return out


_decoder = json.JSONDecoder(object_pairs_hook=_object, parse_int=_parse_int,
                            parse_float=_parse_float, parse_constant=_parse_constant)


def json_error(exc: json.JSONDecodeError) -> str:
    """The decoder's message with its column: `Expecting value at column 26` (some of
    its messages end in "at" already: `Invalid control character at`)."""
    msg = exc.msg[:-3] if exc.msg.endswith(" at") else exc.msg
    return f"{msg} at column {exc.colno}"


def parse_line(line: Line) -> Any:
    """The line's JSON value, or `BadLine` saying why not."""
    if line.too_long:
        raise BadLine(line.number, "line is too long to read")
    raw = line.raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(line.number, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} "
                      f"at column {exc.start + 1})") from None
    if not text.strip(" \t\r"):
        raise BadLine(line.number, "blank line (every line must be one JSON value)")
    try:
        return _decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise BadLine(line.number, f"not valid JSON ({json_error(exc)})") from None
    except _BadNumber as exc:
        raise BadLine(line.number, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise BadLine(line.number, "not valid JSON (nested too deeply)") from None


def _escape_surrogate(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def utf8(s: str) -> bytes:
    """`s` as UTF-8, a lone surrogate (which UTF-8 cannot hold) as its `\\uXXXX` escape, as
    JSON output writes it: an id or a redacted text that holds one never stops a write."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(_escape_surrogate, s).encode("utf-8")


def dumps_value(obj: Any) -> str:
    """`obj` as JSON text (UTF-8 safe: lone surrogates escaped)."""
    s = json.dumps(obj, ensure_ascii=False)
    return _SURROGATE.sub(_escape_surrogate, s) if not s.isascii() else s


def dumps_line(obj: Any) -> bytes:
    """`obj` as one UTF-8 JSON line (with its b"\\n"); never fails on a lone surrogate."""
    s = json.dumps(obj, ensure_ascii=False) + "\n"
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: JSON's only spelling is an escape
        return _SURROGATE.sub(_escape_surrogate, s).encode("utf-8")
