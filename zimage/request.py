"""The one request type that the UI, the API, the CLI, share links and PNG metadata all use.

Every limit is defined here once; the UI's ranges, the API's parameter descriptions and the CLI help are
built from these constants. A `GenerationRequest` validates and normalises its fields when it is made, so holding
one means holding a valid request: inner layers trust it.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Iterable, Mapping, Sequence

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
# Edits: strength is A1111's "Denoising strength" (None = text to image); mask blur is its "Mask blur" in pixels.
MIN_STRENGTH, MAX_STRENGTH = 0.0, 1.0
DEFAULT_STRENGTH, DEFAULT_INPAINT_STRENGTH = 0.6, 1.0  # restyle keeps the composition; a fix repaints fully
MIN_MASK_BLUR, MAX_MASK_BLUR, DEFAULT_MASK_BLUR = 0, 64, 4
MIN_LORA_WEIGHT, MAX_LORA_WEIGHT, DEFAULT_LORA_WEIGHT = -2.0, 2.0, 1.0
MAX_LORAS, MAX_LORA_NAME = 4, 100
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA12 = re.compile(r"^[0-9a-f]{12}$")

# Control characters other than newline and tab have no place in a prompt and break the PNG text chunk.
_ALLOWED_CONTROL = {"\n", "\t"}


@dataclass(frozen=True)
class LoraRef:
    """A LoRA as requests, metadata and links record it: name, first 12 hex of its file's SHA-256, weight.

    `sha12` is empty until the server resolves the name (a CLI flag, say); a PNG or link that carries one
    is checked against the server's file, so a different file with the same name is reported, not used.
    """

    name: str
    weight: float = DEFAULT_LORA_WEIGHT
    sha12: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_lora_name(self.name))
        object.__setattr__(self, "weight", check_float("lora weight", self.weight, MIN_LORA_WEIGHT, MAX_LORA_WEIGHT))
        sha = str(self.sha12).strip().lower()
        if sha and not _SHA12.match(sha):
            raise ValidationError(f"The LoRA {self.name!r} has a malformed hash {sha[:20]!r}.", code="lora_hash",
                                  name=self.name)
        object.__setattr__(self, "sha12", sha)

    @property
    def prompt_tag(self) -> str:
        """A1111's convention in the `parameters` text: <lora:name:weight>."""
        return f"<lora:{self.name}:{self.weight:g}>"


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
    strength: float | None = None  # set: an edit of the image whose bytes hash to source_sha256
    mask_blur: int = DEFAULT_MASK_BLUR
    source_sha256: str = ""
    mask_sha256: str = ""
    loras: tuple[LoraRef, ...] = ()

    @property
    def is_edit(self) -> bool:
        return self.strength is not None

    def __post_init__(self) -> None:
        checked = {
            "prompt": check_prompt(self.prompt),
            "width": check_side("width", self.width),
            "height": check_side("height", self.height),
            "seed": check_int("seed", self.seed, 0, MAX_SEED),
            "count": check_int("count", self.count, MIN_COUNT, MAX_COUNT),
            "steps": check_int("steps", self.steps, MIN_STEPS, MAX_STEPS),
            "shift": check_float("shift", self.shift, MIN_SHIFT, MAX_SHIFT),
            "strength": check_strength(self.strength),
            "mask_blur": check_int("mask_blur", self.mask_blur, MIN_MASK_BLUR, MAX_MASK_BLUR),
            "source_sha256": check_sha256("source_sha256", self.source_sha256),
            "mask_sha256": check_sha256("mask_sha256", self.mask_sha256),
            "loras": check_loras(self.loras),
        }
        if checked["strength"] is None and (checked["source_sha256"] or checked["mask_sha256"]):
            raise ValidationError("A source image or mask needs a strength (an edit).", code="edit_strength_missing")
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


def check_strength(value: Any) -> float | None:
    """None (text to image) or a strength in (0, 1]; 0 would run no denoising step at all."""
    if value is None or value == "":
        return None
    strength = check_float("strength", value, MIN_STRENGTH, MAX_STRENGTH)
    if strength <= 0:
        raise ValidationError("Strength 0 leaves the image unchanged; use a strength above 0.", code="strength_low")
    return strength


def check_sha256(name: str, value: Any) -> str:
    text = str(value or "").strip().lower()
    if text and not _SHA256.match(text):
        raise ValidationError(f"{name} must be 64 hex digits.", code="bad_sha256", field=name)
    return text


def check_lora_name(value: Any) -> str:
    """LoRA names travel in prompts (<lora:name:w>), links and PNGs: printable, no commas or angle brackets."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("A LoRA name must be text.", code="lora_name")
    name = value.strip()
    if len(name) > MAX_LORA_NAME or any(is_forbidden_char(ch) or ch in ",<>" for ch in name):
        raise ValidationError(f"The LoRA name {name[:40]!r} is too long or has a comma, < or >.", code="lora_name")
    return name


def check_loras(value: Any) -> tuple[LoraRef, ...]:
    """LoraRefs from LoraRefs, dicts ({"name", "weight", "sha12"}) or (name, weight[, sha12]) pairs."""
    if value is None or value == "":
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ValidationError("loras must be a list of LoRAs.", code="lora_list")
    if len(value) > MAX_LORAS:
        raise ValidationError(f"At most {MAX_LORAS} LoRAs per image, got {len(value)}.", code="lora_many",
                              limit=MAX_LORAS, count=len(value))
    refs = tuple(_lora_ref(item) for item in value)
    if len({ref.name for ref in refs}) != len(refs):
        raise ValidationError("Each LoRA may be chosen once.", code="lora_repeated")
    return refs


def _lora_ref(item: Any) -> LoraRef:
    if isinstance(item, LoraRef):
        return item
    if isinstance(item, Mapping) and set(item) <= {"name", "weight", "sha12"} and "name" in item:
        return LoraRef(**item)
    if isinstance(item, (list, tuple)) and 1 <= len(item) <= 3:
        return LoraRef(*item)
    raise ValidationError("loras must be a list of LoRAs.", code="lora_list")


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


def check_bool(name: str, value: Any) -> bool:
    """A yes/no option from the API: true or false (JSON booleans), nothing that merely looks truthy."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    raise ValidationError(f"{name} must be true or false, got {_shown(value)}.", code="not_bool", field=name,
                          value=_shown(value))


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
