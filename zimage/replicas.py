"""Many copies of the engine on a Ray Serve deployment: one loaded pipeline per replica (one per GPU).

Only imported when the app is started with replicas (`--replicas`, `--min-replicas/--max-replicas`; the counts
and limits are `zimage.config.ReplicaSettings`), so the Space and single-GPU installs never need Ray
(requirements-ray.txt). The client side is `zimage/ray_runner.py`.

A request is a streaming call: the replica yields `Step` events as diffusers finishes each denoising step and
then the images (or the domain error, as a value, so its code and parameters survive the trip). When the caller
cancels the stream, Serve cancels the replica's task; the replica sets a local stop flag that the denoising loop
checks between steps, and waits for the pipeline to let go before it takes the next request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator, Callable

from PIL import Image

from .cancel import CancelToken
from .config import ReplicaSettings, Settings
from .engine import Engine
from .enhance import Enhanced
from .errors import ZImageError
from .images import SourceImage
from .model_info import ModelInfo, ModelStatus
from .request import GenerationRequest
from .runner import GeneratedImage

log = logging.getLogger(__name__)

APP_NAME = "zimage"
DEPLOYMENT_NAME = "ZImageReplica"


@dataclass(frozen=True)
class Step:
    """One finished denoising step, streamed from the replica to the progress bar."""

    step: int
    total: int


def deployment_options(replicas: ReplicaSettings, cluster_gpus: float) -> dict[str, Any]:
    """`serve.deployment` options: resources per replica, Serve's own backpressure, a count or autoscaling."""
    gpus = replicas.gpus_per_replica if replicas.gpus_per_replica is not None else (1.0 if cluster_gpus > 0 else 0.0)
    options: dict[str, Any] = dict(
        name=DEPLOYMENT_NAME,
        ray_actor_options={"num_cpus": replicas.cpus_per_replica, "num_gpus": gpus},
        max_ongoing_requests=replicas.ongoing,
        max_queued_requests=replicas.max_queued_requests,
        # A replica is healthy once its constructor (the model load) has ended; Serve routes nothing to it before.
        health_check_period_s=10, health_check_timeout_s=30,
    )
    if replicas.min_replicas == replicas.max_replicas:
        options["num_replicas"] = replicas.min_replicas
    else:
        options["autoscaling_config"] = {
            "min_replicas": replicas.min_replicas, "max_replicas": replicas.max_replicas,
            "target_ongoing_requests": replicas.target_ongoing,
            # Scale up fast, down slowly: a new replica is useful only after a model load (minutes on a cold node).
            "upscale_delay_s": 5, "downscale_delay_s": 300,
        }
    return options


def replica_label() -> str:
    """Which replica this is, for the answer's info: Serve's replica id, the host and the process."""
    try:
        from ray import serve

        replica = serve.get_replica_context().replica_id.unique_id
    except Exception:  # noqa: BLE001 - outside Serve (tests calling the class directly): host and pid suffice
        replica = "local"
    return f"{replica} on {socket.gethostname()} (pid {os.getpid()})"


class ZImageReplica:
    """The deployment's body: one Engine, loaded in the constructor so a replica is ready when Serve says so."""

    def __init__(self, settings: Settings, batch_size: int = 0, batch_wait_s: float = 0.05) -> None:
        logging.basicConfig(level=logging.INFO)
        self.engine = Engine(settings)
        self.label = replica_label()
        self.engine.prepare_safety()  # ZIMAGE_SAFETY=full without its checker fails the deployment, not a request
        self.engine.load()  # warm start: Serve routes nothing here until the weights are in memory
        self._batched = None
        if batch_size > 1:
            from ray import serve

            self._batched = serve.batch(max_batch_size=batch_size, batch_wait_timeout_s=batch_wait_s)(self._run_batch)
        log.info("Replica %s ready (batches of up to %d)", self.label, max(batch_size, 1))

    def status(self) -> ModelStatus:
        status = self.engine.status()
        return replace(status, info=self._labelled(status.info)) if status.info is not None else status

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Step | list[GeneratedImage] | ZImageError]:
        """Stream `Step`s, then the images or the error. Cancelling the call stops the run between steps.

        With batching on, the request waits (up to the batch wait) for others of its shape and runs with them:
        no per-step progress then, and Stop only stops the caller waiting."""
        if self._batched is not None:
            yield await self._batched(request)
            return

        def work(emit: Callable[[Any], None], cancel: CancelToken) -> None:
            images = self.engine.generate(request, lambda step, total: emit(Step(step, total)), cancel)
            emit(self._labelled_images(images))

        async for event in stream_from_thread(work):
            yield event

    async def edit(self, request: GenerationRequest, source: SourceImage,
                   mask: Image.Image | None = None) -> AsyncIterator[Step | list[GeneratedImage] | ZImageError]:
        """An edit, streamed like `generate` (never batched: each has its own source image)."""

        def work(emit: Callable[[Any], None], cancel: CancelToken) -> None:
            images = self.engine.edit(request, source, mask, lambda step, total: emit(Step(step, total)), cancel)
            emit(self._labelled_images(images))

        async for event in stream_from_thread(work):
            yield event

    async def enhance(self, idea: str, seed: int = 0) -> AsyncIterator[Enhanced | ZImageError]:
        """Stream the enhancer's partial prompts, then the final one, from this replica's text encoder."""

        def work(emit: Callable[[Any], None], cancel: CancelToken) -> None:
            for enhanced in self.engine.enhance(idea, seed, cancel):
                emit(enhanced)

        async for event in stream_from_thread(work):
            yield event

    async def _run_batch(self, requests: list[GenerationRequest]) -> list[list[GeneratedImage] | ZImageError]:
        """`serve.batch` hands over what arrived together; each group of one shape is one pipeline call."""
        from .generate import shape  # torch: only in replicas, not in the app that deploys them

        loop = asyncio.get_running_loop()
        groups: dict[tuple, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(shape(request), []).append(index)
        log.info("Batch of %d requests in %d pipeline call(s)", len(requests), len(groups))
        outcomes: list[Any] = [None] * len(requests)
        for indices in groups.values():
            try:
                done = await loop.run_in_executor(None, self.engine.generate_many, [requests[i] for i in indices])
            except ZImageError as error:
                done = [error] * len(indices)
            for index, outcome in zip(indices, done):
                outcomes[index] = outcome if isinstance(outcome, ZImageError) else self._labelled_images(outcome)
        return outcomes

    def _labelled_images(self, images: list[GeneratedImage]) -> list[GeneratedImage]:
        return [replace(item, model=self._labelled(item.model)) for item in images]

    def _labelled(self, info: ModelInfo) -> ModelInfo:
        return replace(info, replica=self.label)


async def stream_from_thread(work: Callable[[Callable[[Any], None], CancelToken], None]) -> AsyncIterator[Any]:
    """Run `work(emit, cancel)` in a thread (the pipeline blocks) and yield what it emits as it comes.

    A domain error is yielded as a value: Ray would wrap a raised one and lose its code. When Serve cancels the
    call (the user pressed Stop), the local stop flag is set, the pipeline stops at its next step, and only then
    does the replica take another request.
    """
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()
    cancel = CancelToken()  # a file on this replica's machine, checked between steps

    def emit(event: Any) -> None:
        loop.call_soon_threadsafe(events.put_nowait, event)

    def guarded() -> None:
        try:
            work(emit, cancel)
        except ZImageError as error:
            emit(error)
        finally:
            emit(_END)

    run = loop.run_in_executor(None, guarded)
    try:
        while (event := await events.get()) is not _END:
            yield event
        await run
    except asyncio.CancelledError:
        cancel.set()
        await asyncio.wait([run])
        raise
    finally:
        cancel.discard()


_END = object()  # what the worker thread emits last
