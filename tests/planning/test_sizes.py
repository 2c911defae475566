"""Memory sizes as users write them: binary units, one-line errors."""

from __future__ import annotations

import pytest

from framework.errors import ConfigError
from framework.planning import format_bytes, parse_size

GIB = 1024**3


@pytest.mark.parametrize(("text", "expected"), [
    ("24GB", 24 * GIB),
    ("24GiB", 24 * GIB),
    ("80G", 80 * GIB),
    ("16000MB", 16000 * 1024**2),
    ("512 MiB", 512 * 1024**2),
    (" 1.5gb ", int(1.5 * GIB)),
    ("1T", 1024**4),
    ("4096", 4096),
    ("2048k", 2048 * 1024),
])
def test_sizes_read_with_binary_units_like_accelerator_labels(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "24 GBs", "24XB", "-8GB", "0GB", "twelve", "24 i", "1e3GB", "0.1B"])
def test_bad_sizes_are_config_errors_with_a_hint(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_size(text)
    assert repr(text) in caught.value.line()


def test_a_size_must_be_text() -> None:
    with pytest.raises(ConfigError):
        parse_size(24)  # type: ignore[arg-type]


def test_format_bytes_prints_gib_and_mib() -> None:
    assert format_bytes(16.06e9) == "14.96 GiB"
    assert format_bytes(40 * 1024**2) == "40.0 MiB"
    assert format_bytes(12) == "12 B"
