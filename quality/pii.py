"""PII detection and redaction: e-mail addresses, phone numbers, IP addresses, card numbers.

Candidates come from a few regexes, each validated; overlapping candidates are resolved in the
order e-mail, credit card, IP, phone; then the text is rebuilt once with typed placeholders
(`<EMAIL>`, `<PHONE>`, `<IP>`, `<CREDIT_CARD>`) in `redact` mode, or left alone in `detect`
mode. Precision over recall: the corpus is full of code, version numbers and dates, and a
placeholder inside code breaks it. Decisions, each covered by a test:

- **E-mail**: `local@domain.tld` where the top-level domain is a two-letter country code or a
  known generic one, so `user@host` and matrix products in code (`x@self.weight`) are kept.
- **IP**: a dotted quad is an address unless it is part of a longer dotted or `v`-prefixed
  sequence (`1.2.3.4.5`, `v1.2.3.4`, `1.2.3.4.v2`) or follows a version cue (`version`,
  `"version": "`, `==`, `>=`, ...).
  Only *global* addresses are personal data: private, loopback, link-local, multicast,
  documentation (192.0.2.0/24, 2001:db8::/32) and unspecified addresses are kept, so
  `127.0.0.1`, `0.0.0.0` and `192.168.1.1` in code and docs survive, and so does a version
  number that looks like a private address. `1.2.3.4` without a cue is redacted: it is a
  routable address. IPv6 candidates are validated with `ipaddress` and need three groups
  (so `a::b`-like code and `12:30:45` times are kept).
- **Credit card**: 13 to 19 digits, contiguous or in the usual 4-4-4-4 / 4-6-5 groups, with a
  known issuer prefix *and* a valid Luhn checksum (long digit strings in code fail one or the
  other; about 1 in 10 random digit strings passes Luhn alone).
- **Phone**: international numbers written with `+` and a country code (8 to 15 digits, ITU
  E.164), and North American numbers `(NXX) NXX-XXXX`, `NXX-NXX-XXXX`, `NXX.NXX.XXXX` (area
  code and exchange start with 2-9). Dates (`2021-03-04`), times and national formats without
  `+` are not matched: recall is traded for not mangling numbers in code.

Speed: every pattern starts with a literal or a digit class, with the left-boundary check
written as a lookbehind *after* the first character (`\\d(?<![\\w.]\\d)`), which keeps the
regex engine's fast scan for the first character; e-mails are searched only in small windows
around each `@`.
"""

from __future__ import annotations

import ipaddress
import re

PII_TYPES = ("email", "phone", "ip", "credit_card")
PLACEHOLDERS = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "ip": "<IP>",
    "credit_card": "<CREDIT_CARD>",
}
_PRIORITY = {"email": 0, "credit_card": 1, "ip": 2, "phone": 3}

_GENERIC_TLDS = frozenset(
    {
        "com", "org", "net", "edu", "gov", "mil", "int", "info", "biz", "name", "pro", "aero",
        "coop", "museum", "mobi", "jobs", "travel", "tel", "asia", "app", "dev", "io", "ai", "xyz",
        "online", "site", "tech", "store", "blog", "cloud", "email", "mail", "digital", "network",
        "systems", "solutions", "company", "agency", "media", "news", "live", "life", "world",
        "global", "group", "team", "space", "website",
    }
)  # fmt: skip

_AT = re.compile("@")
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-])"
)
_EMAIL_BEFORE, _EMAIL_AFTER = 70, 280  # window around an "@": local part <= 64, domain <= 253

# Digit-led shapes share one scan: card, dotted quad, North American phone.
_NUMERIC = re.compile(
    r"\d(?<![\w.+-]\d)(?:"
    r"(?P<credit_card>\d{3}(?:[ -]?\d){9,15}(?![\w]|[.-]\d))"
    r"|(?P<ip>\d{0,2}(?:\.\d{1,3}){3}(?!\w|\.\w))"
    r"|(?P<phone>(?<=[2-9])\d{2}([-.])[2-9]\d{2}\4\d{4}(?![\w]|[.-]\d))"
    r")"
)
_PHONE_PLUS = re.compile(
    r"\+(?<![\w+.-]\+)\d{1,3}(?:[ .-]?\(?\d{1,4}\)?)(?:[ .-]?\d{2,4}){1,4}(?![\w]|[.-]\d)"
)
_PHONE_PAREN = re.compile(r"\((?<![\w+.-]\()[2-9]\d{2}\) ?[2-9]\d{2}[-.]\d{4}(?![\w]|[.-]\d)")
# The first colon of every IPv6 candidate is followed by at most 4 hex digits and another colon
# (`h{0,3}:` then at least one `h{0,4}:`), and lies at most 4 characters after the candidate's
# start: only those starts can match `_IPV6`.
_HINT_COLON = re.compile(r":(?=[0-9A-Fa-f]{0,4}:)")
_IPV6 = re.compile(
    r"[0-9A-Fa-f:](?<![\w:.][0-9A-Fa-f:])[0-9A-Fa-f]{0,3}:(?:[0-9A-Fa-f]{0,4}:){1,6}"
    r"(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:.])"
)
_VERSION_CUE = re.compile(
    r"(?:version|release|(?<![a-z])ver\.?|(?<![a-z])v|==|>=|<=|~=|!=|@)[\s\"':=]*$", re.I
)
_CARD_SEP = re.compile(r"[ -]")
_CARD_GROUPS = {(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 5), (4, 4, 4, 1)}

Span = tuple[int, int, str]


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _issuer_ok(digits: str) -> bool:
    """Known issuer prefix (IIN) and a length that issuer uses."""
    n, p2, p3, p4 = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p4 == 6011 or 644 <= p3 <= 649 or p2 in (62, 65):  # Discover, UnionPay
        return 16 <= n <= 19
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    return False


def is_card_number(text: str) -> bool:
    """Card-number shape (13-19 digits, usual grouping), issuer prefix and Luhn checksum."""
    parts = _CARD_SEP.split(text)
    digits = "".join(parts)
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    if len(parts) > 1 and (
        len(set(_CARD_SEP.findall(text))) != 1 or tuple(map(len, parts)) not in _CARD_GROUPS
    ):
        return False
    return _issuer_ok(digits) and luhn_valid(digits)


def _is_global_ip(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def _emails(text: str) -> list[Span]:
    spans: dict[int, Span] = {}
    for at in _AT.finditer(text):
        lo = max(0, at.start() - _EMAIL_BEFORE)
        for m in _EMAIL.finditer(text[lo : at.start() + _EMAIL_AFTER]):
            if m.start() == 0 and lo > 0:
                continue  # the window cut the address: its real start is further left
            tld = m.group(1).lower()
            if len(tld) == 2 or tld in _GENERIC_TLDS:
                spans[lo + m.start()] = (lo + m.start(), lo + m.end(), "email")
    return list(spans.values())


def _numeric(text: str) -> list[Span]:
    spans = []
    for m in _NUMERIC.finditer(text):
        kind, value = m.lastgroup, m.group(0)
        if kind == "credit_card":
            ok = is_card_number(value)
        elif kind == "ip":
            ok = not _VERSION_CUE.search(text, max(0, m.start() - 16), m.start()) and _is_global_ip(
                value
            )
        else:
            ok = kind == "phone"
        if ok:
            spans.append((m.start(), m.end(), kind))
    return spans


def _phones(text: str) -> list[Span]:
    spans = []
    if "+" in text:
        for m in _PHONE_PLUS.finditer(text):
            if 8 <= sum(map(str.isdigit, m.group(0))) <= 15:
                spans.append((m.start(), m.end(), "phone"))
    if "(" in text:
        spans.extend((m.start(), m.end(), "phone") for m in _PHONE_PAREN.finditer(text))
    return spans


def _ipv6(text: str) -> list[Span]:
    """The matches `_IPV6.finditer(text)` finds, validated, trying the pattern only where a
    match can start (before a `_HINT_COLON`), in order and never inside an earlier match: the
    full scan tries its first character class at every hex letter of the text."""
    spans = []
    pos = 0  # the first start neither tried nor inside a match
    for colon in _HINT_COLON.finditer(text):
        c = colon.start()
        for start in range(max(c - 4, pos), c + 1):
            m = _IPV6.match(text, start)  # its lookbehind still sees the text before `start`
            if m is not None:
                pos = m.end()
                value = m.group(0)
                if sum(1 for g in value.split(":") if g) >= 3 and _is_global_ip(value):
                    spans.append((m.start(), m.end(), "ip"))
                break
        else:
            pos = max(pos, c + 1)
    return spans


class PiiRedactor:
    """Finds PII of the configured types; replaces it with placeholders in `redact` mode."""

    def __init__(
        self, types: tuple[str, ...] | list[str] = PII_TYPES, mode: str = "redact"
    ) -> None:
        unknown = sorted(set(types) - set(PII_TYPES))
        if unknown:
            raise ValueError(f"unknown PII type(s) {unknown} (known: {list(PII_TYPES)})")
        if mode not in ("redact", "detect"):
            raise ValueError(f"mode must be redact or detect, got {mode!r}")
        self.types = tuple(t for t in PII_TYPES if t in types)
        self.mode = mode

    def find(self, text: str) -> list[Span]:
        """Validated, non-overlapping (start, end, type) spans of the configured types, in order."""
        spans: list[Span] = []
        if "email" in self.types and "@" in text:
            spans += _emails(text)
        if any(d in text for d in "0123456789"):
            spans += _numeric(text)
            if "phone" in self.types:
                spans += _phones(text)
            if "ip" in self.types and ":" in text:
                spans += _ipv6(text)
        spans = [s for s in spans if s[2] in self.types]
        if not spans:
            return []
        # Earliest first; at one start the higher-priority type wins; later overlaps are dropped.
        spans.sort(key=lambda s: (s[0], _PRIORITY[s[2]], -s[1]))
        chosen: list[Span] = []
        end = -1
        for span in spans:
            if span[0] >= end:
                chosen.append(span)
                end = span[1]
        return chosen

    def __call__(self, text: str) -> tuple[str, dict[str, int]]:
        """(text with placeholders, or unchanged in detect mode; {type: count} for every type)."""
        counts = dict.fromkeys(self.types, 0)
        spans = self.find(text)
        if not spans:
            return text, counts
        pieces, last = [], 0
        for start, end, kind in spans:
            counts[kind] += 1
            pieces += (text[last:start], PLACEHOLDERS[kind])
            last = end
        if self.mode == "detect":
            return text, counts
        pieces.append(text[last:])
        return "".join(pieces), counts
