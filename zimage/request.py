"""The one request type that the UI, the API, the CLI, share links and PNG metadata all use.

Every limit is defined here once; the UI's ranges, the API's parameter descriptions and the CLI help are
built from these constants. A `GenerationRequest` validates and normalises its fields when it is made, so holding
one means holding a valid request: inner layers trust it.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Iterable, Mapping

from .errors import ValidationError

MIN_SIDE, MAX_SIDE, SIDE_MULTIPLE = 256, 2048, 16
MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**32 - 1
MIN_COUNT, MAX_COUNT = 1, 8
MIN_STEPS, MAX_STEPS = 1, 50
MIN_SHIFT, MAX_SHIFT = 1.0, 10.0
# Turbo is distilled for 8 transformer passes; since diffusers 0.39 that is num_inference_steps=8 (the model
# card's 9 dates from older diffusers, where the last step was skipped).
TURBO_STEPS = 8
DEFAULT_STEPS, DEFAULT_SHIFT, DEFAULT_SEED = TURBO_STEPS, 3.0, 42
DEFAULT_SIDE = 1024
GUIDANCE_SCALE = 0.0  # Turbo is distilled without CFG; negative prompts do nothing.

# Control characters other than newline and tab have no place in a prompt and break the PNG text chunk.
_ALLOWED_CONTROL = {"\n", "\t"}


@dataclass(frozen=True)
class GenerationRequest:
    """Everything needed to make an image again: the same request gives the same pixels.

    Construction validates: a bad value raises ValidationError naming the field and its bounds, and
    loosely typed values (floats from sliders, numeric strings from links) become ints and floats.
    """

    prompt: str
    width: int = DEFAULT_SIDE
    height: int = DEFAULT_SIDE
    seed: int = DEFAULT_SEED
    count: int = 1
    steps: int = DEFAULT_STEPS
    shift: float = DEFAULT_SHIFT

    def __post_init__(self) -> None:
        checked = {
            "prompt": check_prompt(self.prompt),
            "width": check_side("width", self.width),
            "height": check_side("height", self.height),
            "seed": check_int("seed", self.seed, 0, MAX_SEED),
            "count": check_int("count", self.count, MIN_COUNT, MAX_COUNT),
            "steps": check_int("steps", self.steps, MIN_STEPS, MAX_STEPS),
            "shift": check_float("shift", self.shift, MIN_SHIFT, MAX_SHIFT),
        }
        if checked["seed"] + checked["count"] - 1 > MAX_SEED:
            # Batches use seeds s..s+count-1, and every one must be a seed a user can type back in.
            raise _out_of_range("seed", checked["seed"], 0, MAX_SEED - checked["count"] + 1)
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def single(self, index: int) -> "GenerationRequest":
        """The one-image request that reproduces image `index` of this batch on its own."""
        return replace(self, seed=self.seed + index, count=1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "GenerationRequest":
        """Build a request from loosely typed values (query strings, JSON, CLI, API).

        Unknown keys are an error, so a typo in a share link or API call is reported, not ignored.
        """
        unknown = sorted(str(key)[:40] for key in params if key not in FIELD_NAMES)
        if unknown:
            raise unknown_params(unknown, sorted(FIELD_NAMES))
        if "prompt" not in params:
            raise ValidationError("A prompt is required.", code="prompt_missing")
        return cls(**dict(params))


FIELD_NAMES = frozenset(f.name for f in fields(GenerationRequest))


def random_seed() -> int:
    """A random first seed that leaves room for the largest batch (seeds s..s+MAX_COUNT-1)."""
    return random.randint(0, MAX_SEED - MAX_COUNT + 1)


def unknown_params(names: list[str], allowed: Iterable[str]) -> ValidationError:
    """The error for parameters a request, an API call or a share link does not know."""
    listed = ", ".join(allowed)
    return ValidationError(f"Unknown parameter(s): {', '.join(names)}. Allowed: {listed}.", code="unknown_param",
                           names=", ".join(names), allowed=listed)


def check_prompt(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("The prompt must be text.", code="prompt_type")
    prompt = value.replace("\r\n", "\n").strip()
    if not prompt:
        raise ValidationError("A prompt is required.", code="prompt_missing")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValidationError(
            f"The prompt has {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}.",
            code="prompt_long",
            length=len(prompt),
            limit=MAX_PROMPT_CHARS,
        )
    if any(is_forbidden_char(ch) for ch in prompt):
        raise ValidationError("The prompt contains control characters.", code="prompt_control")
    return prompt


def is_forbidden_char(ch: str) -> bool:
    # Lone surrogates cannot be encoded as UTF-8, so they would break share links and PNG chunks.
    code = ord(ch)
    return (code < 32 and ch not in _ALLOWED_CONTROL) or code == 127 or 0xD800 <= code <= 0xDFFF


def _shown(value: Any) -> str:
    """A short rendering of a value for messages; huge ints must not be turned into 5000-digit text."""
    try:
        return repr(value)[:40]
    except ValueError:
        return "a very large number"


def _as_number(name: str, value: Any) -> float:
    """Accept ints, floats and numeric strings; reject bools, which Python counts as ints."""
    if isinstance(value, bool) or value is None:
        raise _not_a_number(name, value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and len(value) <= 100:
        try:
            return float(value.strip()) if not value.strip().lstrip("+-").isdigit() else int(value.strip())
        except ValueError:
            pass
    raise _not_a_number(name, value)


def _not_a_number(name: str, value: Any) -> ValidationError:
    shown = _shown(value)
    return ValidationError(f"{name} must be a number, got {shown}.", code="not_number", field=name, value=shown)


def _out_of_range(name: str, value: Any, low: Any, high: Any) -> ValidationError:
    value = _shown(value)
    return ValidationError(
        f"{name} must be between {low} and {high}, got {value}.",
        code="out_of_range",
        field=name,
        value=value,
        low=low,
        high=high,
    )


def check_int(name: str, value: Any, low: int, high: int) -> int:
    number = _as_number(name, value)
    if isinstance(number, float):
        if not math.isfinite(number) or not number.is_integer():
            shown = _shown(number)
            raise ValidationError(f"{name} must be a whole number, got {shown}.", code="not_integer", field=name, value=shown)
        number = int(number)
    if not low <= number <= high:
        raise _out_of_range(name, number, low, high)
    return number


def check_float(name: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(_as_number(name, value))
    except OverflowError:
        raise _out_of_range(name, value, low, high) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise _out_of_range(name, number, low, high)
    return round(number, 4)


def check_side(name: str, value: Any) -> int:
    side = check_int(name, value, MIN_SIDE, MAX_SIDE)
    if side % SIDE_MULTIPLE:
        raise ValidationError(
            f"{name} must be a multiple of {SIDE_MULTIPLE}, got {side}.",
            code="not_multiple",
            field=name,
            value=side,
            multiple=SIDE_MULTIPLE,
        )
    return side


def parse_size(text: str) -> tuple[int, int]:
    """Parse "WIDTHxHEIGHT" (also with "×" or "*") into validated sides."""
    parts = str(text).lower().replace("×", "x").replace("*", "x").split("x")
    if len(parts) != 2:
        raise ValidationError(f"Size must look like 1024x1024, got {str(text)[:40]!r}.", code="size_format", value=str(text)[:40])
    return check_side("width", parts[0]), check_side("height", parts[1])
