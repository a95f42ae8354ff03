"""Quoted text in prompts: Z-Image renders the exact words in quotes, so a rewrite must keep them verbatim."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Straight and typographic double quotes, CJK corner brackets and typographic single quotes. A straight single
# quote is left out: it is far more often an apostrophe ("don't") than a quotation mark.
QUOTE_PAIRS = (('"', '"'), ("\u201c", "\u201d"), ("\u300c", "\u300d"), ("\u300e", "\u300f"), ("\u2018", "\u2019"))
_PATTERNS = [re.compile(re.escape(left) + "([^" + re.escape(right) + "\n]{1,200})" + re.escape(right))
             for left, right in QUOTE_PAIRS]
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@dataclass(frozen=True)
class Quote:
    """A quoted span: the words, and the marks the user put around them."""

    text: str
    left: str
    right: str

    def shown(self) -> str:
        return f"{self.left}{self.text}{self.right}"


def quoted_spans(text: str) -> list[Quote]:
    """Every quoted span in `text`, in order of appearance, without repeats."""
    found: list[tuple[int, Quote]] = []
    for (left, right), pattern in zip(QUOTE_PAIRS, _PATTERNS):
        found += [(match.start(), Quote(match.group(1), left, right)) for match in pattern.finditer(text)]
    spans: list[Quote] = []
    for _, quote in sorted(found, key=lambda item: item[0]):
        if quote.text.strip() and quote.text not in [span.text for span in spans]:
            spans.append(quote)
    return spans


def missing_spans(idea: str, prompt: str) -> list[Quote]:
    """The idea's quoted spans whose words do not appear verbatim in `prompt` (the marks may differ)."""
    return [quote for quote in quoted_spans(idea) if quote.text not in prompt]


def has_cjk(text: str) -> bool:
    """True when the text has Chinese, Japanese or Korean characters: the Chinese templates fit it best."""
    return bool(_CJK.search(text))
