import pytest

from policyc.runtime.validators import VALIDATORS

CASES = {
    "luhn": (
        [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111111111111111",
            "5500 0000 0000 0004",
            "378282246310005",  # Amex, 15 digits
            "4222222222222",  # 13 digits
            "6011000000000004",
        ],
        [
            "4111 1111 1111 1112",  # checksum
            "1234 5678 9012 3456",
            "4111 1111 1111",  # too short
            "4111 1111 1111 1111 1111",  # 20 digits
            "4111 1111 1111 111a",
            "４１１１１１１１１１１１１１１１",  # non-ASCII digits are not card digits
            "",
        ],
    ),
    "iban": (
        [
            "GB82 WEST 1234 5698 7654 32",
            "DE89 3704 0044 0532 0130 00",
            "FR14 2004 1010 0505 0001 3M02 606",
            "NL91ABNA0417164300",
            "gb82west12345698765432",
        ],
        [
            "GB82 WEST 1234 5698 7654 33",  # checksum
            "DE89 3704 0044 0532 0130 01",  # checksum
            "DE89 3704 0044 0532 0130 0",  # length for DE
            "XX82 WEST 1234 5698 7654 32",  # unknown country
            "GB82 WEST 1234 5698 7654 3!",
            "GBXX WEST 1234 5698 7654 32",
            "",
        ],
    ),
    "ssn": (
        ["123-45-6788", "536-22-1234", "536 22 1234", "536221234"],
        [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
            "078-05-1120",  # the Woolworth wallet card
            "12-345-678",
            "1234-56-789a",
        ],
    ),
    "ipv4": (
        ["192.168.0.1", "0.0.0.0", "255.255.255.255", "10.0.0.10"],
        ["256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "a.b.c.d", "1..2.3", "١.٢.٣.٤", "1.2.3.-4"],
    ),
    "ipv6": (
        ["::1", "2001:db8::8a2e:370:7334", "[fe80::1]", "fe80::1%eth0", "::ffff:192.0.2.1"],
        ["2001:db8::g", "1:2:3:4:5:6:7:8:9", "12345::", "1.2.3.4", ":::", ""],
    ),
}


@pytest.mark.parametrize(
    ("name", "value"), [(name, v) for name, (good, _) in CASES.items() for v in good]
)
def test_valid(name: str, value: str) -> None:
    assert VALIDATORS[name](value)


@pytest.mark.parametrize(
    ("name", "value"), [(name, v) for name, (_, bad) in CASES.items() for v in bad]
)
def test_invalid(name: str, value: str) -> None:
    assert not VALIDATORS[name](value)


def test_registry_names() -> None:
    assert set(CASES) <= set(VALIDATORS)
