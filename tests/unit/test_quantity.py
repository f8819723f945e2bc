"""Kubernetes quantities as numbers (sandbox/quantity.py): every suffix, exponents, rounding up
as the scheduler does, and bad input refused with a clear error."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.quantity import bytes_of, cpu_text, memory_text, millicores, quantity, share


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Decimal(1)),
        ("250m", Decimal("0.25")),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("100n", Decimal("1e-7")),
        ("10u", Decimal("0.00001")),
        ("2k", Decimal(2000)),
        ("512Mi", Decimal(512 * 1024**2)),
        ("1Gi", Decimal(1024**3)),
        ("1.5Gi", Decimal(3 * 1024**3 // 2)),
        ("1Ki", Decimal(1024)),
        ("2G", Decimal(2 * 10**9)),
        ("1M", Decimal(10**6)),
        ("1e3", Decimal(1000)),
        ("1E", Decimal(10**18)),  # exa, not an exponent
        ("12e-1", Decimal("1.2")),
        (" 3 ", Decimal(3)),
        (4, Decimal(4)),
        (0.5, Decimal("0.5")),
    ],
)
def test_it_reads_every_form_of_quantity(text: str | int | float, value: Decimal) -> None:
    assert quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1x", "1 Gi", "Mi", "1mi", "--1", "1e", None, True])
def test_it_refuses_what_is_not_a_quantity(text: object) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        quantity(text)  # type: ignore[arg-type]  # bad input on purpose


def test_cpu_and_memory_round_up_and_read_back() -> None:
    assert millicores("250m") == 250
    assert millicores("0.1") == 100
    assert millicores("1") == 1000
    assert millicores("100u") == 1  # a fraction of a millicore still takes one
    assert bytes_of("1.5Ki") == 1536
    assert bytes_of("1m") == 1  # a milli-byte rounds up to a byte
    assert [cpu_text(m) for m in (250, 1000, 1500, 2250)] == ["250m", "1", "1.5", "2.25"]
    assert [memory_text(b) for b in (512, 2048, 512 * 1024**2, 3 * 1024**3 // 2)] == ["512", "2Ki", "512Mi", "1.5Gi"]


def test_share_is_a_whole_percentage_or_none_without_a_limit() -> None:
    assert share(250, 1000) == 25
    assert share(1, 3) == 34  # rounded up: a quota that is nearly full looks full
    assert share(5, 0) is None
