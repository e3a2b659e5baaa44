"""PII detection and redaction, including the false-positive traps of code and docs."""

from __future__ import annotations

import pytest

from quality.pii import PiiRedactor, is_card_number, luhn_valid

REDACT = PiiRedactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail john.doe@example.com now", "mail <EMAIL> now"),
        ("jane+news@mail.co.uk.", "<EMAIL>."),
        ("Server at 8.8.8.8, backup 1.1.1.1.", "Server at <IP>, backup <IP>."),
        ("route 1.2.3.4 here", "route <IP> here"),  # a routable address, no version cue
        ("v6 2606:4700:4700::1111 up", "v6 <IP> up"),
        ("card 4111 1111 1111 1111 ok", "card <CREDIT_CARD> ok"),
        ("card 4111-1111-1111-1111", "card <CREDIT_CARD>"),
        ("amex 378282246310005", "amex <CREDIT_CARD>"),
        ("call +1 415 555 2671 today", "call <PHONE> today"),
        ("call +44 20 7946 0958", "call <PHONE>"),
        ("call (415) 555-2671", "call <PHONE>"),
        ("call 415-555-2671 or 415.555.2671", "call <PHONE> or <PHONE>"),
    ],
)
def test_redacts(text, expected):
    assert REDACT(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "ssh user@host and git push",  # no top-level domain
        "y = x@self.weight + b",  # matrix product in code
        "@property\ndef name(self):",
        "localhost 127.0.0.1, any 0.0.0.0, lan 192.168.1.20, docs 192.0.2.1",  # not global
        "numpy==1.2.3.4 and version 8.8.8.8 and v1.2.3.4 and 1.2.3.4.5",  # versions
        '"EngineVersion": "12.1.0.2.v21"',
        "loopback ::1, link fe80::1, rust a::b, time 12:30:45, std::vector",
        "id 4111111111111112 fails Luhn; 1234567890123456789 has no issuer",
        "hash 37828224631000537828 is too long for a card",
        "date 2021-03-04, range 100-200-3000, pi 3.141592653589793",
        "sizes 123 4567 8901, tuple (1, 2, 3)",
    ],
)
def test_false_positive_traps_are_kept(text):
    out, counts = REDACT(text)
    assert out == text, counts
    assert sum(counts.values()) == 0


def test_counts_per_type_and_detect_mode():
    text = "a@b.io, c@d.org, 8.8.8.8, +1 415 555 2671, 4111111111111111"
    out, counts = REDACT(text)
    assert counts == {"email": 2, "phone": 1, "ip": 1, "credit_card": 1}
    assert out == "<EMAIL>, <EMAIL>, <IP>, <PHONE>, <CREDIT_CARD>"
    detect = PiiRedactor(mode="detect")
    assert detect(text) == (text, counts)


def test_types_subset():
    only_email = PiiRedactor(types=["email"])
    assert only_email("a@b.io 8.8.8.8") == ("<EMAIL> 8.8.8.8", {"email": 1})
    with pytest.raises(ValueError, match="unknown PII"):
        PiiRedactor(types=["ssn"])


def test_luhn_and_card_shapes():
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert is_card_number("5555 5555 5555 4444")
    assert not is_card_number("5555 55555 5555 444")  # unusual grouping
    assert not is_card_number("5555-5555 5555-4444")  # mixed separators
