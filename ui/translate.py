"""Components whose texts come from assets/i18n/ui.json: each key is named once, where the component is made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from zimage import i18n


@dataclass(frozen=True)
class T:
    """A translated property value: the ui.json key, plus placeholders such as the Turbo step count."""

    key: str
    params: tuple[tuple[str, Any], ...] = ()

    def render(self, lang: str) -> str:
        return i18n.text(self.key, lang, **dict(self.params))


class Translator:
    """Makes components with translated properties and remembers them, so a language switch relabels them all."""

    def __init__(self) -> None:
        self._registered: list[tuple[Any, dict[str, T]]] = []

    def __call__(self, factory: Callable[..., Any], *args: Any, **props: Any) -> Any:
        """`factory(*args, **props)` with every `T(...)` property rendered in English and registered."""
        keys = {name: value for name, value in props.items() if isinstance(value, T)}
        component = factory(*args, **{**props, **{name: key.render("en") for name, key in keys.items()}})
        self._registered.append((component, keys))
        return component

    @property
    def components(self) -> list[Any]:
        return [component for component, _ in self._registered]

    def updates(self, lang: str) -> dict[Any, Any]:
        """Every registered component's translated properties in `lang`."""
        return {component: gr.update(**{name: key.render(lang) for name, key in keys.items()})
                for component, keys in self._registered}
