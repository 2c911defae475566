"""Memory sizes as people write them ("24GB", "80G", "16000MB") and as the planner prints them.

Accelerators are sold with binary sizes: an "80GB" card holds 80 GiB and a "24GB" card 24 GiB
(JEDEC memory convention). ``parse_size`` therefore reads K/M/G/T as powers of 1024 whether or
not the unit carries an ``i``, so ``--gpu 24GB`` means the card the user holds, not 22.35 GiB.
"""

from __future__ import annotations

import re

from framework.errors import ConfigError

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)

GIB = 1024**3
MIB = 1024**2


def parse_size(text: str) -> int:
    """Bytes in a size such as "24GB", "24GiB", "80G", "16000MB", "512 MiB" or "1073741824".

    Raises:
        ConfigError: the text is not a positive number with an optional K/M/G/T unit.
    """
    if not isinstance(text, str):
        raise ConfigError(f"memory size must be text such as '24GB', got {text!r}")
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"cannot read {text!r} as a memory size",
                          hint="write a number and a unit, e.g. 24GB, 80G, 16000MB or 24GiB")
    number, prefix, binary_i, byte_b = match.groups()
    if binary_i and not prefix:
        raise ConfigError(f"cannot read {text!r} as a memory size", hint="'i' needs a unit prefix, as in GiB")
    value = float(number) * _UNITS[prefix.lower()]
    if value < 1:
        raise ConfigError(f"memory size {text!r} is not positive", hint="give the accelerator's memory, e.g. 24GB")
    return int(round(value))


def format_bytes(size: float) -> str:
    """Human form used in plans: GiB with two decimals, MiB below one GiB."""
    if abs(size) >= GIB:
        return f"{size / GIB:.2f} GiB"
    if abs(size) >= MIB:
        return f"{size / MIB:.1f} MiB"
    return f"{int(size)} B"
