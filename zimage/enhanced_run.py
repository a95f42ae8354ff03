"""Generation with the prompt enhancer in front: the idea becomes one prompt, or one prompt per image."""

from __future__ import annotations

from dataclasses import replace

from .cancel import CancelToken
from .enhance import last
from .request import GenerationRequest
from .runner import GeneratedImage, ProgressFn, Runner


def generate_enhanced(runner: Runner, request: GenerationRequest, variations: bool = False,
                      progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[GeneratedImage]:
    """Enhance `request.prompt` (the idea) with seed s, then generate the batch. With `variations`, image i gets
    its own prompt written with seed s+i and is made on its own, so each image's metadata holds its own prompt
    and `python -m zimage enhance IDEA --seed s+i` writes that prompt again."""
    count = request.count if variations else 1
    images: list[GeneratedImage] = []
    for index in range(count):
        enhanced = last(runner.enhance(request.prompt, request.seed + index, cancel))
        batch = replace(request.single(index) if variations else request, prompt=enhanced.prompt)
        made = runner.generate(batch, progress, cancel)
        images += [replace(item, enhanced=enhanced.metadata()) for item in made]
    return images
