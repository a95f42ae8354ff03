"""The official demo's output sizes: three tiers of 11 aspect ratios each, read from assets/sizes.json."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .assets import load_json
from .errors import unknown_choice

DEFAULT_TIER = 1024


@dataclass(frozen=True)
class SizeOption:
    """One selectable output size; `tier` is the resolution category it is listed under."""

    width: int
    height: int
    ratio: str
    tier: int = DEFAULT_TIER

    @property
    def label(self) -> str:
        """What a size picker shows, e.g. "1024×1024 (1:1)"."""
        return f"{self.width}×{self.height} ({self.ratio})"


@lru_cache(maxsize=None)
def _table() -> dict[int, tuple[SizeOption, ...]]:
    table: dict[int, tuple[SizeOption, ...]] = {}
    for entry in load_json("sizes.json")["tiers"]:
        tier = int(entry["tier"])
        table[tier] = tuple(
            SizeOption(int(s["width"]), int(s["height"]), str(s["ratio"]), tier) for s in entry["sizes"]
        )
    return table


def tiers() -> list[int]:
    """The resolution categories, smallest first."""
    return sorted(_table())


def sizes(tier: int) -> list[SizeOption]:
    """The sizes listed under `tier`, in the demo's order (square first).

    A numeric string such as "1024" is accepted too, because UI radio buttons hand back text.
    """
    table = _table()
    key = _tier_key(tier)
    if key not in table:
        raise unknown_choice("size tier", tier, sorted(table), code="unknown_tier")
    return list(table[key])


def find(width: int, height: int) -> SizeOption | None:
    """The listed size with these sides (and so its tier and ratio), or None for a custom size."""
    for options in _table().values():
        for option in options:
            if option.width == width and option.height == height:
                return option
    return None


def _tier_key(tier: Any) -> int | None:
    # bool is an int subclass; True must not quietly mean tier 1.
    if isinstance(tier, int) and not isinstance(tier, bool):
        return tier
    if isinstance(tier, str) and tier.strip().isdecimal() and len(tier.strip()) <= 6:
        return int(tier.strip())
    return None
