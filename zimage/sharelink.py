"""Share links: a URL whose query holds everything needed to make one image again.

The app should pass every value of each key (e.g. `{k: query_params.getlist(k) for k in query_params}`),
so that a repeated key is reported instead of one copy silently winning.
"""

from __future__ import annotations

from typing import Mapping, Sequence
from urllib.parse import urlencode

from .errors import ValidationError
from .request import GenerationRequest, unknown_params

LINK_KEYS = ("prompt", "width", "height", "seed", "steps", "shift", "strength", "mask_blur", "loras")
# A link cannot carry an image: an edit's link restores its settings, and the page asks for the source image.
# Links stay under the 16 KiB request-line limit of uvicorn's h11 parser and typical 8 KiB proxy limits;
# a long Chinese prompt costs 9 characters per character once percent-encoded.
MAX_QUERY_CHARS = 8000
# Numbers never need more; the bound also keeps 400-digit values away from float().
MAX_NUMBER_CHARS = 32
# Keys that link shorteners and social sites append to shared URLs; a link must survive them.
TRACKING_KEYS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "igshid", "ref", "spm", "from"})


def build_query(request: GenerationRequest) -> str:
    """The urlencoded query for the first image of `request` (take `.single(i)` first for another).

    Raises ValidationError when the query would be too long to share.
    """
    one = request.single(0)
    query = urlencode([(key, value) for key, value in _link_values(one).items()])
    if len(query) > MAX_QUERY_CHARS:
        raise _too_long(len(query))
    return query


def _link_values(request: GenerationRequest) -> dict[str, str]:
    """The text of each link key; edit and LoRA keys only when the request uses them, so plain links stay short."""
    values = {key: str(getattr(request, key)) for key in LINK_KEYS[:6]}
    if request.is_edit:
        values["strength"] = str(request.strength)
        if request.mask_sha256:
            values["mask_blur"] = str(request.mask_blur)
    if request.loras:
        # name:weight:sha12, comma-separated (LoRA names cannot hold commas); the hash makes the link exact.
        values["loras"] = ",".join(f"{ref.name}:{ref.weight:g}:{ref.sha12}".rstrip(":") for ref in request.loras)
    return values


def _parse_loras(text: str) -> list[tuple[str, ...]]:
    """"name:weight[:sha12]" items; a name may hold colons (folders never do, but hub-style ids might)."""
    items = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        head, _, last = item.rpartition(":")
        if len(last) == 12 and ":" in head:
            name, _, weight = head.rpartition(":")
            items.append((name, weight, last))
        else:
            items.append((head, last) if head else (last,))
    return items


def needs_source_image(request: GenerationRequest) -> bool:
    """True for an edit: its link restores the settings, and the user must supply the source image again."""
    return request.is_edit


def parse_query(params: Mapping[str, str | Sequence[str]]) -> GenerationRequest | None:
    """The request a share link describes, or None for a plain visit (no request key in the query).

    Gradio's own keys (`__theme`, `view`, ...) are ignored; any other unknown or repeated key, an
    over-long value, or a value the request rejects raises ValidationError. Missing fields take defaults.
    """
    _check_total_length(params)
    values: dict[str, str] = {}
    unknown = []
    for key, raw in params.items():
        name = str(key)
        if name.startswith(("__", "utm_")) or name == "view" or name in TRACKING_KEYS:
            continue
        if name not in LINK_KEYS:
            unknown.append(name[:40])
            continue
        value = _single_value(name, raw)
        if value is not None:
            values[name] = value
    if not values:
        # No request key at all (maybe a tracker's key such as utm_source): a plain visit, not a broken link.
        return None
    if unknown:
        raise unknown_params(sorted(unknown), LINK_KEYS)
    params: dict[str, object] = dict(values)
    if "loras" in values:
        params["loras"] = _parse_loras(values["loras"])
    return GenerationRequest.from_params(params)


def _check_total_length(params: Mapping[str, object]) -> None:
    # Counted as decoded "key=value&" pairs; checked as it goes, so a huge mapping stops early.
    total = 0
    for key, raw in params.items():
        for item in raw if isinstance(raw, (list, tuple)) else [raw]:
            total += len(str(key)) + (len(item) if isinstance(item, str) else 0) + 2
            if total > MAX_QUERY_CHARS:
                raise _too_long(total)


def _single_value(name: str, raw: object) -> str | None:
    """The one text value of a key; None when a list holds no value at all."""
    if isinstance(raw, (list, tuple)):
        if len(raw) > 1:
            raise ValidationError(f"The link repeats the parameter {name}.", code="link_repeated", name=name)
        if not raw:
            return None
        raw = raw[0]
    if not isinstance(raw, str):
        raise ValidationError(f"The link parameter {name} must be text.", code="link_value_type", name=name)
    if name not in ("prompt", "loras") and len(raw) > MAX_NUMBER_CHARS:
        raise ValidationError(
            f"The link parameter {name} is too long ({len(raw)} characters; the limit is {MAX_NUMBER_CHARS}).",
            code="link_value_long",
            name=name,
            length=len(raw),
            limit=MAX_NUMBER_CHARS,
        )
    return raw


def _too_long(length: int) -> ValidationError:
    return ValidationError(
        f"The share link is too long ({length} characters; the limit is {MAX_QUERY_CHARS}). Shorten the prompt.",
        code="link_too_long",
        length=length,
        limit=MAX_QUERY_CHARS,
    )

