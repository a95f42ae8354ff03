"""The prompt enhancer: a short idea in, a detailed prompt out, in the idea's language, quoted text kept verbatim.

Two backends write the text: `local`, the pipeline's own text encoder run as a chat model (no extra weights), and
`api`, any OpenAI-compatible chat endpoint. Every call is bounded in tokens and wall time, can be stopped between
tokens, and gives the same text for the same idea, seed and backend.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator, Protocol

from .assets import load_text
from .config import EnhancerSettings
from .errors import CancelledError, EnhanceError, ValidationError
from .llm import Cancel, ChatModel, Sampling
from .quotes import has_cjk, missing_spans
from .request import MAX_PROMPT_CHARS, check_prompt, is_forbidden_char

log = logging.getLogger(__name__)

MAX_IDEA_CHARS = 1000
MAX_VARIATIONS = 8
TEMPERATURE = 0.7  # some freedom, so different seeds give different prompts; the seed makes it repeatable
CACHE_SIZE = 64
_THINKING = re.compile(r"<think>.*?(?:</think>|$)", re.S)


@dataclass(frozen=True)
class Enhanced:
    """The enhancer's text for one idea and seed. While streaming, `done` is False and `prompt` is partial."""

    idea: str
    prompt: str
    backend: str
    seed: int
    done: bool = True
    repaired: tuple[str, ...] = ()  # quoted spans the model dropped and that were put back

    def metadata(self) -> dict[str, object]:
        """What a PNG records about how its prompt was written."""
        return {"idea": self.idea, "enhanced_prompt": self.prompt, "enhancer": self.backend, "enhance_seed": self.seed}


class Backend(Protocol):
    name: str

    def stream(self, system: str, user: str, sampling: Sampling, cancel: Cancel | None) -> Iterator[str]: ...


class LocalBackend:
    """The loaded text encoder writes the prompt; it shares the image pipeline's lock, one bounded call at a time."""

    name = "local"

    def __init__(self, chat: ChatModel) -> None:
        self.chat = chat

    def stream(self, system: str, user: str, sampling: Sampling, cancel: Cancel | None) -> Iterator[str]:
        return self.chat.stream(system, user, sampling, cancel)


class ApiBackend:
    """An OpenAI-compatible chat endpoint. Any failure becomes one EnhanceError; nothing is retried."""

    def __init__(self, settings: EnhancerSettings) -> None:
        self.settings = settings
        self.name = f"api:{settings.api_model}"

    def stream(self, system: str, user: str, sampling: Sampling, cancel: Cancel | None) -> Iterator[str]:
        import openai

        client = openai.OpenAI(base_url=self.settings.api_base, api_key=self.settings.api_key or "none",
                               timeout=sampling.seconds, max_retries=0)
        deadline = time.monotonic() + sampling.seconds
        try:
            chunks = client.chat.completions.create(
                model=self.settings.api_model, stream=True, max_tokens=sampling.max_new_tokens,
                temperature=sampling.temperature, seed=sampling.seed,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            )
            with chunks:  # leaving early closes the connection
                for chunk in chunks:
                    if (cancel is not None and cancel()) or time.monotonic() > deadline:
                        break
                    delta = chunk.choices[0].delta.content if chunk.choices else None
                    if isinstance(delta, str) and delta:
                        yield delta
        except openai.APITimeoutError as error:
            raise _failed("enhance_timeout", f"did not answer within {sampling.seconds:g} s", error,
                          seconds=f"{sampling.seconds:g}") from error
        except openai.APIConnectionError as error:
            raise _failed("enhance_unreachable", "cannot be reached", error) from error
        except openai.APIStatusError as error:
            raise _failed("enhance_http", f"answered with HTTP {error.status_code}", error,
                          status=error.status_code) from error
        except Exception as error:  # noqa: BLE001 - a malformed answer: one message, whatever the parser said
            raise _failed("enhance_garbage", "gave an answer that could not be read", error) from error


def _failed(code: str, what: str, error: Exception, **params: object) -> EnhanceError:
    # Logged without the idea or the endpoint's key; the user sees one line and keeps their idea.
    log.warning("Prompt enhancer endpoint failed: %s (%s)", what, type(error).__name__)
    return EnhanceError(f"The prompt enhancer's service {what}; your idea was left as it is.", code=code, **params)


class Enhancer:
    """Writes prompts from ideas with one backend, within the given limits."""

    def __init__(self, backend: Backend, max_new_tokens: int = 300, timeout: float = 30.0) -> None:
        self.backend = backend
        self.max_new_tokens = max_new_tokens
        self.timeout = timeout
        self._cache: OrderedDict[tuple[str, int], Enhanced] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.backend.name

    def stream(self, idea: str, seed: int = 0, cancel: Cancel | None = None) -> Iterator[Enhanced]:
        """Yield partial results as the text is written, then the final, checked one (`done=True`)."""
        idea = check_idea(idea)
        cached = self._cached((idea, seed))
        if cached is not None:  # same idea and seed: the same text, without spending the model again
            yield cached
            return
        language = "zh" if has_cjk(idea) else "en"
        sampling = Sampling(self.max_new_tokens, self.timeout, seed, TEMPERATURE)
        text = ""
        for piece in self.backend.stream(load_text(f"prompts/enhance.{language}.txt"), idea, sampling, cancel):
            text += piece
            yield Enhanced(idea, clean_output(text), self.name, seed, done=False)
        if cancel is not None and cancel():
            raise CancelledError("Stopped.", code="cancelled")
        result = finish(idea, text, language, self.name, seed)
        with self._cache_lock:
            self._cache[(idea, seed)] = result
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        yield result

    def enhance(self, idea: str, seed: int = 0, cancel: Cancel | None = None) -> Enhanced:
        """The final result of `stream`."""
        return last(self.stream(idea, seed, cancel))

    def variations(self, idea: str, seed: int, count: int, cancel: Cancel | None = None) -> list[Enhanced]:
        """`count` prompts for a seed batch, prompt i written with seed+i: image i's prompt can be written again.

        Each is its own bounded call, so a generation waiting for the model gets it between two of them.
        """
        check_variations(count)
        return [self.enhance(idea, seed + index, cancel) for index in range(count)]

    def _cached(self, key: tuple[str, int]) -> Enhanced | None:
        with self._cache_lock:
            return self._cache.get(key)


def last(updates: Iterator[Enhanced]) -> Enhanced:
    """The final, checked result of a stream of updates."""
    result = None
    for result in updates:
        pass
    assert result is not None and result.done
    return result


def check_variations(count: int) -> int:
    if not 1 <= count <= MAX_VARIATIONS:
        raise ValidationError(f"variations must be between 1 and {MAX_VARIATIONS}, got {count}.",
                              code="out_of_range", field="variations", low=1, high=MAX_VARIATIONS, value=count)
    return count


def check_idea(idea: object) -> str:
    """The prompt's own checks, with a shorter limit: an idea is a seed for a prompt, not the prompt."""
    text = check_prompt(idea)
    if len(text) > MAX_IDEA_CHARS:
        raise ValidationError(f"The prompt has {len(text)} characters; the limit is {MAX_IDEA_CHARS}.",
                              code="prompt_long", length=len(text), limit=MAX_IDEA_CHARS)
    return text


def clean_output(text: str) -> str:
    """Drop thinking blocks, characters a prompt may not hold, and broken bytes from a cut-off character."""
    text = _THINKING.sub("", text).replace("\ufffd", "")
    return "".join(ch for ch in text if not is_forbidden_char(ch)).strip()


def finish(idea: str, raw: str, language: str, backend: str, seed: int) -> Enhanced:
    """Check the written prompt: it must say something, keep every quoted span and fit a request."""
    prompt = clean_output(raw)
    if not prompt:
        log.warning("Prompt enhancer (%s) gave no usable text", backend)
        raise EnhanceError("The prompt enhancer gave no usable text; your idea was left as it is.",
                           code="enhance_garbage")
    missing = missing_spans(idea, prompt)
    repair = ""
    if missing:
        spans = ("、" if language == "zh" else ", ").join(quote.shown() for quote in missing)
        gap = "" if language == "zh" else " "
        repair = gap + load_text(f"prompts/enhance.repair.{language}.txt").replace("{spans}", spans)
    prompt = prompt[: MAX_PROMPT_CHARS - len(repair)].rstrip() + repair
    return Enhanced(idea, prompt, backend, seed, repaired=tuple(quote.text for quote in missing))


def build_enhancer(settings: EnhancerSettings, chat: ChatModel | None, real_weights: bool) -> Enhancer | None:
    """The enhancer the settings ask for, or None when it is off. `chat` is needed only for `local`."""
    backend = settings.resolved(real_weights)
    if backend == "off":
        return None
    if backend == "api":
        return Enhancer(ApiBackend(settings), settings.max_new_tokens, settings.timeout)
    if chat is None:
        raise EnhanceError("The local prompt enhancer needs the loaded model.", code="enhance_off")
    return Enhancer(LocalBackend(chat), settings.max_new_tokens, settings.timeout)
