"""Checksum validators for regex detectors (``... validate luhn``).

A regex for card numbers or IBANs also matches order ids, phone numbers and
timestamps; the checksum removes most of those false positives. Each
validator takes the matched substring and returns whether it is valid.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

__all__ = ["VALIDATORS", "iban", "ipv4", "ipv6", "luhn", "ssn"]


def _compact(value: str) -> str:
    """Drop the separators people type inside numbers."""
    return value.replace(" ", "").replace("-", "")


_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")  # digit -> digit sum of 2 * digit


def luhn(value: str) -> bool:
    """Payment card number: 13-19 digits (spaces/dashes allowed), Luhn checksum."""
    digits = _compact(value)
    if not (13 <= len(digits) <= 19 and digits.isascii() and digits.isdigit()):
        return False
    # Every second digit from the right is doubled; bytes keep the loop in C.
    raw = digits.encode()
    total = sum(raw[::-2]) + sum(raw[-2::-2].translate(_DOUBLED)) - 48 * len(raw)
    return total % 10 == 0


# ISO 13616 lengths (SWIFT IBAN registry) for the countries we expect to see.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26,
    "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def iban(value: str) -> bool:
    """IBAN: known country length and ISO 7064 mod-97 == 1."""
    code = _compact(value).upper()
    if not (code.isascii() and code.isalnum()):
        return False
    expected = _IBAN_LENGTHS.get(code[:2])
    if expected is None or len(code) != expected or not code[2:4].isdigit():
        return False
    rearranged = code[4:] + code[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


# Numbers published in advertising and never valid for a person.
_SSN_BLOCKLIST = frozenset({"078051120", "219099999", "123456789"})


def ssn(value: str) -> bool:
    """US SSN: area not 000/666/9xx, group not 00, serial not 0000."""
    digits = _compact(value)
    if not (len(digits) == 9 and digits.isascii() and digits.isdigit()):
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return (
        area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
        and digits not in _SSN_BLOCKLIST
    )


def ipv4(value: str) -> bool:
    """Dotted quad, each octet 0-255, no leading zeros (they mean octal to some parsers)."""
    parts = value.split(".")
    return len(parts) == 4 and all(
        part.isascii()
        and part.isdigit()
        and len(part) <= 3
        and (part == "0" or part[0] != "0")
        and int(part) <= 255
        for part in parts
    )


def ipv6(value: str) -> bool:
    """Any address ``ipaddress`` accepts, optionally in brackets."""
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "luhn": luhn,
    "iban": iban,
    "ssn": ssn,
    "ipv4": ipv4,
    "ipv6": ipv6,
}
