"""Kubernetes resource quantities ("250m", "1.5", "512Mi", "1e3", "2G") as numbers, and back
to short text for pages. Pure: the admin dashboard adds up Pods' requests and reads quota
status with these, and the unit tests pin the suffixes down."""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

# Binary suffixes are powers of 1024, decimal ones powers of 1000; "m" is a thousandth (a
# millicore, or a milli-byte, which Kubernetes allows and rounds up).
_SUFFIXES = {
    "Ki": Decimal(1024),
    "Mi": Decimal(1024) ** 2,
    "Gi": Decimal(1024) ** 3,
    "Ti": Decimal(1024) ** 4,
    "Pi": Decimal(1024) ** 5,
    "Ei": Decimal(1024) ** 6,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$")


def quantity(text: str | int | float) -> Decimal:
    """The value of a quantity in base units (cores, bytes, a count). ValueError if it is not one."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return Decimal(str(text))
    if not isinstance(text, str):
        raise ValueError(f"not a quantity: {text!r}")
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise ValueError(f"not a quantity: {text!r}")
    number, exponent, suffix = match.groups()
    try:
        value = Decimal(number)
        if exponent:
            return value * Decimal(10) ** int(exponent[1:])
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a quantity: {text!r}") from exc
    return value * _SUFFIXES[suffix or ""]


def millicores(text: str | int | float) -> int:
    """CPU in millicores, rounded up as the scheduler does ("0.1" is 100, "1m" is 1)."""
    return int((quantity(text) * 1000).to_integral_value(rounding=ROUND_CEILING))


def bytes_of(text: str | int | float) -> int:
    return int(quantity(text).to_integral_value(rounding=ROUND_CEILING))


def cpu_text(millis: int) -> str:
    """Millicores as a page shows them: 250m, 2, 1.5."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    if millis < 1000:
        return f"{millis}m"
    return f"{millis / 1000:.2f}".rstrip("0").rstrip(".")


def memory_text(size: int) -> str:
    """Bytes as a page shows them, in binary units: 512Mi, 1.5Gi."""
    for suffix, unit in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if size >= unit:
            value = f"{size / unit:.1f}".removesuffix(".0")
            return f"{value}{suffix}"
    return str(size)


def share(used: Decimal | int, hard: Decimal | int) -> int | None:
    """Used as a whole percentage of hard; None when there is no limit to measure against."""
    if not hard:
        return None
    return int((Decimal(used) * 100 / Decimal(hard)).to_integral_value(rounding=ROUND_CEILING))
