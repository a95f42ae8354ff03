"""Many copies of the engine on a Ray Serve deployment: one loaded pipeline per replica (one per GPU).

Only imported when the app is started with replicas (`--replicas`, `--min-replicas/--max-replicas`), so the
Space and single-GPU installs never need Ray (requirements-ray.txt). The client side is `zimage/ray_runner.py`.

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

from .cancel import CancelToken
from .config import Settings, _env, _env_number
from .engine import Engine
from .enhance import Enhanced
from .errors import ValidationError, ZImageError
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


@dataclass(frozen=True)
class ReplicaSettings:
    """How many replicas, what each holds, and how much Serve queues before it says "busy".

    `min_replicas == max_replicas` is a fixed count; otherwise Serve autoscales between them on the number of
    requests in flight per replica (`target_ongoing`).
    """

    min_replicas: int = 1
    max_replicas: int = 1
    max_ongoing_requests: int = 1  # one pipeline call at a time per GPU; more would only wait on the engine lock
    max_queued_requests: int = 20  # beyond this the caller hears "busy, try again" at once
    gpus_per_replica: float | None = None  # None: 1 when the cluster has GPUs, else 0
    cpus_per_replica: float = 1.0
    target_ongoing: float = 1.0
    ray_address: str = ""  # RAY_ADDRESS: join that cluster; empty starts a local one

    @classmethod
    def from_env(cls, replicas: int | None = None, min_replicas: int | None = None,
                 max_replicas: int | None = None) -> "ReplicaSettings":
        """Counts from flags (or ZIMAGE_REPLICAS), limits from ZIMAGE_RAY_* and ZIMAGE_QUEUE_SIZE."""
        fixed = replicas if replicas is not None else int(_env_number("ZIMAGE_REPLICAS", 0)) or None
        low = min_replicas if min_replicas is not None else fixed or 1
        high = max_replicas if max_replicas is not None else fixed or low
        gpus = _env("ZIMAGE_RAY_GPUS_PER_REPLICA", "")
        settings = cls(
            min_replicas=low, max_replicas=high,
            max_ongoing_requests=int(_env_number("ZIMAGE_RAY_MAX_ONGOING", 1)),
            max_queued_requests=int(_env_number("ZIMAGE_RAY_MAX_QUEUED", _env_number("ZIMAGE_QUEUE_SIZE", 20))),
            gpus_per_replica=float(gpus) if gpus else None,
            cpus_per_replica=_env_number("ZIMAGE_RAY_CPUS_PER_REPLICA", 1.0),
            ray_address=os.environ.get("RAY_ADDRESS", "").strip(),
        )
        return settings.checked()

    def checked(self) -> "ReplicaSettings":
        if not 1 <= self.min_replicas <= self.max_replicas or self.max_ongoing_requests < 1 \
                or self.max_queued_requests < 1:
            raise ValidationError(
                f"Replicas need 1 <= min ({self.min_replicas}) <= max ({self.max_replicas}), and at least one "
                "ongoing and one queued request per deployment.", code="bad_replicas",
                low=self.min_replicas, high=self.max_replicas)
        return self

    @property
    def capacity(self) -> int:
        """Requests the deployment can hold at its largest: running plus queued. More are refused as busy."""
        return self.max_replicas * self.max_ongoing_requests + self.max_queued_requests

    def deployment_options(self, cluster_gpus: float) -> dict[str, Any]:
        """`serve.deployment` options: resources per replica, Serve's own backpressure, count or autoscaling."""
        gpus = self.gpus_per_replica if self.gpus_per_replica is not None else (1.0 if cluster_gpus > 0 else 0.0)
        options: dict[str, Any] = dict(
            name=DEPLOYMENT_NAME,
            ray_actor_options={"num_cpus": self.cpus_per_replica, "num_gpus": gpus},
            max_ongoing_requests=self.max_ongoing_requests,
            max_queued_requests=self.max_queued_requests,
            # Loading the real model takes minutes on a cold node; a replica is healthy once its constructor ends.
            health_check_period_s=10, health_check_timeout_s=30,
        )
        if self.min_replicas == self.max_replicas:
            options["num_replicas"] = self.min_replicas
        else:
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing,
                # Scale up fast (a new replica takes a model load to be useful), down slowly.
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

    def __init__(self, settings: Settings) -> None:
        logging.basicConfig(level=logging.INFO)
        self.engine = Engine(settings)
        self.label = replica_label()
        self.engine.prepare_safety()  # ZIMAGE_SAFETY=full without its checker fails the deployment, not a request
        self.engine.load()  # warm start: Serve routes nothing here until the weights are in memory
        log.info("Replica %s ready", self.label)

    def status(self) -> ModelStatus:
        status = self.engine.status()
        return replace(status, info=self._labelled(status.info)) if status.info is not None else status

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Step | list[GeneratedImage] | ZImageError]:
        """Stream `Step`s, then the images or the error. Cancelling the call stops the run between steps."""

        def work(emit: Callable[[Any], None], cancel: CancelToken) -> None:
            images = self.engine.generate(request, lambda step, total: emit(Step(step, total)), cancel)
            emit([replace(item, model=self._labelled(item.model)) for item in images])

        async for event in stream_from_thread(work):
            yield event

    async def enhance(self, idea: str, seed: int = 0) -> AsyncIterator[Enhanced | ZImageError]:
        """Stream the enhancer's partial prompts, then the final one, from this replica's text encoder."""

        def work(emit: Callable[[Any], None], cancel: CancelToken) -> None:
            for enhanced in self.engine.enhance(idea, seed, cancel):
                emit(enhanced)

        async for event in stream_from_thread(work):
            yield event

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
