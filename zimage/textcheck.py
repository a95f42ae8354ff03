"""Proof-reading: which quoted words of a prompt appear in the text read back from its image.

**Expected text** is every span the prompt puts between quotation marks, as `zimage.quotes` finds them (the
enhancer keeps the same spans verbatim): straight `"…"`, curly `“…”` and `‘…’`, and the CJK corner brackets
`「…」` and `『…』`, on one line, up to 200 characters. Spans that compare equal (below) are checked once, and a span
inside another (`hi` in `「Say "hi"」`, as the presets quote a title holding `"`) is checked as part of it.

**The comparison rule.** Both sides are reduced to a key before comparing:
1. Unicode NFKC, so full-width and half-width forms are the same (`ＡＢＣ１２` = `ABC12`, `，` = `,`);
2. case-folded (`Happy` = `HAPPY`);
3. only letters, digits and combining marks are kept: spaces, punctuation and symbols (`- ! , 。 & $ ❤`) are
   ignored, because OCR reads them unreliably and a designer rarely cares;
4. the Latin look-alikes that OCR cannot tell apart in many fonts count as one: `O` and `0`; `I`, `l` and `1` (and
   so `i`, which case folding makes of `I`)
   (measured: they caused half the false alarms on the benchmark corpus; a slip between them is one a reader
   would hardly see either).
Everything else is strict: one wrong, missing or extra letter or character fails the span, and simplified and
traditional characters differ. A span is **found** when its key occurs in the key of all the text read, lines
joined in reading order (top to bottom, left to right), so a title the model wrapped onto two lines still counts.

A span whose key has a character the OCR's own character set lacks (Korean, Arabic, Cyrillic, Thai with
PP-OCRv6; kana and accented Latin letters it reads; or nothing but symbols) is **unsupported**: reported as not checked,
never as missing. For a missing span the verdict gives the closest run of text that was read (fewest edits),
so `HAPPY NEW YEAR` missing shows what was there instead, e.g. `HAPY NEW YEAR`; when that takes edits to half
the span's characters or more, nothing alike was read and none is shown.

Work is bounded: the prompt limit (2000 characters) bounds the spans, and the closest-text search costs one
vectorised pass over the text read per character of a missing span.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .quotes import quoted_spans

_LOOK_ALIKES = {"o": "0", "i": "1", "l": "1"}  # after case folding: O/o/0 and I/i/l/1
LINE_SEPARATOR = " / "  # how read lines are joined for display; punctuation, so keys ignore it
MIN_SIMILARITY = 0.5  # at or below this (half the characters edited) the closest text read is noise, not shown


class SpanStatus(str, Enum):
    FOUND = "found"
    MISSING = "missing"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class SpanCheck:
    """One expected span and what the check concluded about it."""

    text: str
    status: SpanStatus
    read_instead: str = ""  # MISSING: the closest text read ("" when nothing alike was read)
    similarity: float = 0.0  # 1.0 found; MISSING: 1 - edits / span length, at least 0
    unreadable: str = ""  # UNSUPPORTED: the characters the OCR cannot read


@dataclass(frozen=True)
class TextVerdict:
    """The result of proof-reading one image: each expected span's outcome, all the text read, the OCR used."""

    spans: tuple[SpanCheck, ...]
    read: tuple[str, ...]
    ocr: str

    def _texts(self, status: SpanStatus) -> tuple[str, ...]:
        return tuple(span.text for span in self.spans if span.status is status)

    @property
    def found(self) -> tuple[str, ...]:
        return self._texts(SpanStatus.FOUND)

    @property
    def missing(self) -> tuple[str, ...]:
        return self._texts(SpanStatus.MISSING)

    @property
    def unsupported(self) -> tuple[str, ...]:
        return self._texts(SpanStatus.UNSUPPORTED)

    @property
    def checked(self) -> bool:
        """True when at least one span could be judged (found or missing)."""
        return bool(self.found or self.missing)

    @property
    def all_found(self) -> bool:
        """True when nothing is missing and something was checked; unsupported spans do not count against it."""
        return self.checked and not self.missing

    @property
    def score(self) -> float:
        """Mean similarity over the judged spans (1.0 = all found); 0.0 when nothing could be judged."""
        judged = [span.similarity for span in self.spans if span.status is not SpanStatus.UNSUPPORTED]
        return round(sum(judged) / len(judged), 4) if judged else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for PNG metadata and the API); `from_dict` reads it back."""
        return {
            "all_found": self.all_found,
            "found": list(self.found),
            "missing": [{"text": s.text, "read_instead": s.read_instead, "similarity": s.similarity}
                        for s in self.spans if s.status is SpanStatus.MISSING],
            "unsupported": [{"text": s.text, "unreadable": s.unreadable}
                            for s in self.spans if s.status is SpanStatus.UNSUPPORTED],
            "spans": [{"text": s.text, "status": s.status.value} for s in self.spans],
            "read": list(self.read),
            "score": self.score,
            "ocr": self.ocr,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TextVerdict":
        details = {item["text"]: item for item in [*data.get("missing", []), *data.get("unsupported", [])]}
        spans = []
        for item in data["spans"]:
            extra = details.get(item["text"], {})
            spans.append(SpanCheck(
                text=str(item["text"]), status=SpanStatus(item["status"]),
                read_instead=str(extra.get("read_instead", "")), unreadable=str(extra.get("unreadable", "")),
                similarity=1.0 if item["status"] == SpanStatus.FOUND.value else float(extra.get("similarity", 0.0)),
            ))
        return cls(spans=tuple(spans), read=tuple(str(line) for line in data.get("read", [])),
                   ocr=str(data.get("ocr", "")))


def expected_spans(prompt: str) -> tuple[str, ...]:
    """The quoted spans of a prompt (zimage.quotes), trimmed, in order; see the module docstring for which repeat."""
    spans = [quote.text.strip() for quote in quoted_spans(prompt)]
    keys = [normalise(span) for span in spans]
    kept: list[str] = []
    seen: set[str] = set()
    for index, (span, key) in enumerate(zip(spans, keys)):
        ident = key or span  # spans without letters or digits are told apart by their text
        inside_another = bool(key) and any(key in other and key != other for other in keys)
        if span and ident not in seen and not inside_another:
            seen.add(ident)
            kept.append(span)
    return tuple(kept)


def normalise(text: str) -> str:
    """The comparison key of a text: NFKC, case-folded, letters, digits and marks only, look-alikes merged."""
    return _keyed(text)[0]


def _keyed(text: str) -> tuple[str, list[int]]:
    """The key of a text, and for each key character the index of the text character it came from."""
    key: list[str] = []
    origins: list[int] = []
    # NFC first so decomposed accents combine before the per-character NFKC.
    composed = unicodedata.normalize("NFC", text)
    for index, char in enumerate(composed):
        for piece in unicodedata.normalize("NFKC", char).casefold():
            if unicodedata.category(piece)[0] in "LNM":
                key.append(_LOOK_ALIKES.get(piece, piece))
                origins.append(index)
    return "".join(key), origins


def readable_characters(alphabet: Iterable[str]) -> frozenset[str]:
    """The key characters an OCR can produce, from its recogniser's alphabet."""
    return frozenset(char for entry in alphabet for char in normalise(entry))


def judge(expected: Sequence[str], lines: Sequence[str], readable: frozenset[str], ocr: str) -> TextVerdict:
    """Compare expected spans with the lines an OCR read (in reading order); `readable` as `readable_characters`."""
    shown = LINE_SEPARATOR.join(line.strip() for line in lines if line.strip())
    shown_key, origins = _keyed(shown)
    spans = tuple(_judge_span(span, shown, shown_key, origins, readable) for span in expected)
    return TextVerdict(spans=spans, read=tuple(line.strip() for line in lines if line.strip()), ocr=ocr)


def _judge_span(span: str, shown: str, shown_key: str, origins: list[int], readable: frozenset[str]) -> SpanCheck:
    key = normalise(span)
    unreadable = "".join(dict.fromkeys(char for char in key if char not in readable))
    if not key or unreadable:
        return SpanCheck(span, SpanStatus.UNSUPPORTED, unreadable=unreadable or span)
    if key in shown_key:
        return SpanCheck(span, SpanStatus.FOUND, similarity=1.0)
    distance, start, end = closest_window(key, shown_key)
    similarity = round(max(0.0, 1 - distance / len(key)), 4)
    instead = ""
    if similarity > MIN_SIMILARITY and end > start:
        instead = shown[origins[start]:origins[end - 1] + 1]
    return SpanCheck(span, SpanStatus.MISSING, read_instead=instead, similarity=similarity)


def closest_window(needle: str, haystack: str) -> tuple[int, int, int]:
    """(edits, start, end): the slice of haystack with the fewest edits (Levenshtein) from needle.

    Sellers' approximate substring search, one numpy row per needle character. A forward pass finds the best
    end; the same search on both strings reversed, up to that end, finds the start.
    """
    if not haystack:
        return len(needle), 0, 0
    distances = _edit_row(needle, haystack)
    end = int(np.argmin(distances))
    back = _edit_row(needle[::-1], haystack[:end][::-1])
    return int(distances[end]), end - int(np.argmin(back)), end


def _edit_row(needle: str, haystack: str) -> np.ndarray:
    """Last row of the approximate-substring edit table: entry j = fewest edits of needle ending at haystack[:j]."""
    codes = np.frombuffer(haystack.encode("utf-32-le"), dtype=np.uint32)
    columns = np.arange(len(codes) + 1)
    row = np.zeros(len(codes) + 1, dtype=np.int64)  # a match may start anywhere: row 0 is free
    for char in needle:
        nxt = np.empty_like(row)
        nxt[0] = row[0] + 1
        nxt[1:] = np.minimum(row[:-1] + (codes != ord(char)), row[1:] + 1)
        # Insertions run along the row: nxt[j] = min over i <= j of nxt[i] + (j - i), a running minimum.
        row = np.minimum.accumulate(nxt - columns) + columns
    return row


def ranking(verdicts: Sequence[TextVerdict | None]) -> list[int]:
    """Indices from best to worst reading: fewest missing spans, then closest; ties and unchecked keep order."""
    def key(index: int) -> tuple[int, float]:
        verdict = verdicts[index]
        if verdict is None or not verdict.checked:
            return (len(verdicts) + 1, 0.0)
        return (len(verdict.missing), -verdict.score)

    return sorted(range(len(verdicts)), key=key)


def mark(verdict: TextVerdict | None) -> str:
    """The verdict in symbols, for captions: ✓ every quoted text found, ✗ 1/2 found so many; "" when unchecked."""
    if verdict is None or not verdict.checked:
        return ""
    judged = len(verdict.found) + len(verdict.missing)
    return "✓" if verdict.all_found else f"✗ {len(verdict.found)}/{judged}"


def best_index(verdicts: Sequence[TextVerdict | None]) -> int | None:
    """The image to mark as best, or None when no image could be checked."""
    order = ranking(verdicts)
    if not order:
        return None
    first = verdicts[order[0]]
    return order[0] if first is not None and first.checked else None
