"""Share links: a URL whose query holds everything needed to make one image again.

The app should pass every value of each key (e.g. `{k: query_params.getlist(k) for k in query_params}`),
so that a repeated key is reported instead of one copy silently winning.
"""

from __future__ import annotations

from typing import Mapping, Sequence
from urllib.parse import urlencode

from .errors import ValidationError
from .request import GenerationRequest, unknown_params

LINK_KEYS = ("prompt", "width", "height", "seed", "steps", "shift")
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
    query = urlencode([(key, str(getattr(one, key))) for key in LINK_KEYS])
    if len(query) > MAX_QUERY_CHARS:
        raise _too_long(len(query))
    return query


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
    return GenerationRequest.from_params(values)


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
    if name != "prompt" and len(raw) > MAX_NUMBER_CHARS:
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

