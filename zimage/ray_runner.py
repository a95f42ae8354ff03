"""A `Runner` that sends each request (generations, edits, enhancer runs) to a pool of Ray Serve replicas
(zimage/replicas.py).

Serve does the dispatching, queueing and backpressure; this side turns its outcomes into the app's own errors:
a full queue is the usual "busy, try again" (`BusyError`), Stop cancels the call on whichever replica runs it,
and a replica that dies mid-request costs one retry on another replica, then a clear `GenerationError`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any, Iterator

from PIL import Image

from .cancel import CancelToken, stop_if_asked
from .config import ReplicaSettings, Settings
from .enhance import Enhanced
from .errors import BusyError, CancelledError, GenerationError, ModelLoadError, ZImageError
from .images import SourceImage
from .model_info import ModelStatus
from .replicas import APP_NAME, DEPLOYMENT_NAME, Step, ZImageReplica, deployment_options
from .request import GenerationRequest
from .runner import GeneratedImage, ProgressFn

log = logging.getLogger(__name__)

CANCEL_POLL_S = 0.1
RETRY_WAIT_S = 120.0
RETRY_POLL_S = 0.5


def replica_lost_errors() -> tuple[type[BaseException], ...]:
    """What a caller sees when the replica running its request dies: the actor is gone or unreachable."""
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
    from ray.serve.exceptions import ReplicaUnavailableError

    return ActorDiedError, ActorUnavailableError, RayActorError, ReplicaUnavailableError


class RayRunner:
    """Satisfies `zimage.runner.Runner` with a Serve deployment of `ZImageReplica`s."""

    def __init__(self, settings: Settings, replicas: ReplicaSettings) -> None:
        self.settings = settings
        self.replicas = replicas
        self._handle: Any = None
        self._status = ModelStatus("loading", expects_tiny=settings.model == "tiny")
        self._ready = threading.Event()
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def start(self) -> None:
        """Join or start the Ray cluster and deploy the replicas, in the background."""
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._deploy, name="zimage-ray", daemon=True)
                self._thread.start()

    def status(self) -> ModelStatus:
        return self._status

    def stop(self) -> None:
        """Remove the deployment and leave the cluster (a local one shuts down with it)."""
        import ray
        from ray import serve

        if ray.is_initialized():
            try:
                serve.shutdown()
            finally:
                ray.shutdown()
        self._closed.set()  # only now: the thread's end would kill a local cluster's processes mid-shutdown

    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Run on some replica; if that replica dies, once more on another, then give up with a clear error."""
        return self._images("generate", (request,), progress, cancel)

    def edit(self, request: GenerationRequest, source: SourceImage, mask: Image.Image | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[GeneratedImage]:
        """Edit on some replica (the source and mask travel with the call), retried like `generate`."""
        return self._images("edit", (request, source, mask), progress, cancel)

    def _images(self, method: str, args: tuple, progress: ProgressFn | None,
                cancel: CancelToken | None) -> list[GeneratedImage]:
        self._wait_ready()
        try:
            return self._attempt(method, args, progress, cancel)
        except replica_lost_errors() as error:
            log.warning("Replica lost during a request; retrying once on another: %s", type(error).__name__)
        try:
            return self._retry(method, args, progress, cancel)
        except replica_lost_errors():
            raise GenerationError("The server running this request stopped, twice. Please try again.",
                                  code="replica_lost") from None

    def _wait_ready(self) -> None:
        self.start()
        self._ready.wait()
        if self._handle is None:
            raise ModelLoadError(f"The model could not be loaded ({self._status.error}).", code="model_load_once",
                                 reason=self._status.error)

    def _retry(self, method: str, args: tuple, progress: ProgressFn | None,
               cancel: CancelToken | None) -> list[GeneratedImage]:
        """The second try. With a replica gone the queue is shorter and may be full, but this request was
        already admitted, so it waits for room (up to RETRY_WAIT_S) rather than being told "busy"."""
        deadline = time.monotonic() + RETRY_WAIT_S
        while True:
            try:
                return self._attempt(method, args, progress, cancel)
            except BusyError:
                if time.monotonic() > deadline:
                    raise
            stop_if_asked(cancel)
            time.sleep(RETRY_POLL_S)

    def _deploy(self) -> None:
        try:
            self._handle = deploy(self.settings, self.replicas)
            status = self._handle.status.remote().result()
            # The pool's status, not one replica's: each answer names its own replica.
            self._status = replace(status, info=replace(status.info, replica="")) if status.info else status
            log.info("Model ready on %s replicas: %s", self.replicas.min_replicas, self._status.info)
        except Exception as error:  # noqa: BLE001 - shown in the status line; requests fail with it
            log.exception("Deploying the replicas failed (model load failed)")
            self._status = ModelStatus("failed", error=f"{type(error).__name__}: {error}"[:300],
                                       expects_tiny=self.settings.model == "tiny")
        finally:
            self._ready.set()
        # A local cluster's processes get SIGKILL when the thread that started them ends (Linux's parent-death
        # signal is per thread), so this thread lives as long as the app.
        self._closed.wait()

    def _attempt(self, method: str, args: tuple, progress: ProgressFn | None,
                 cancel: CancelToken | None) -> list[GeneratedImage]:
        for event in self._stream(method, args, cancel):
            if not isinstance(event, Step):
                return event
            if progress is not None:
                progress(event.step, event.total)
        raise GenerationError("The replica ended the request without an answer. Please try again.",
                              code="generation", reason="empty stream")

    def enhance(self, idea: str, seed: int = 0, cancel: CancelToken | None = None) -> Iterator[Enhanced]:
        """Stream an enhanced prompt from a replica's text encoder (or the API it is configured to call)."""
        self._wait_ready()
        yield from self._stream("enhance", (idea, seed), cancel)

    def _stream(self, method: str, args: tuple, cancel: CancelToken | None) -> Iterator[Any]:
        """Call a replica's streaming `method` and yield its events, with Serve's outcomes as the app's errors."""
        from ray.serve.exceptions import BackPressureError, RequestCancelledError

        stream = getattr(self._handle.options(stream=True), method).remote(*args)
        done = threading.Event()
        if cancel is not None:
            threading.Thread(target=_cancel_when_set, args=(cancel, stream, done), daemon=True).start()
        try:
            for event in stream:
                if isinstance(event, ZImageError):
                    raise event
                yield event
        except BackPressureError:
            raise BusyError("The server is busy. Please try again in a moment.", code="busy") from None
        except RequestCancelledError:
            raise CancelledError("Stopped.", code="cancelled") from None
        finally:
            done.set()


def _cancel_when_set(cancel: CancelToken, stream: Any, done: threading.Event) -> None:
    """Stop pressed: cancel the call, which Serve delivers to the replica that runs (or queues) it."""
    while not done.wait(CANCEL_POLL_S):
        if cancel.is_set():
            stream.cancel()
            return


def deploy(settings: Settings, replicas: ReplicaSettings) -> Any:
    """Start (or join, with RAY_ADDRESS) a Ray cluster, deploy the replicas, and return the handle once
    every replica has loaded the model."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        ray.init(address=replicas.ray_address or None, log_to_driver=False,
                 namespace="zimage", include_dashboard=False)
    # The app talks to Serve through handles; Serve's own HTTP proxy would be a second, unused front door.
    serve.start(proxy_location="Disabled")
    options = deployment_options(replicas, ray.cluster_resources().get("GPU", 0.0))
    app = serve.deployment(ZImageReplica, **options).bind(settings, replicas.batch_size, replicas.batch_wait_s)
    log.info("Deploying %s with %s", DEPLOYMENT_NAME, options)
    return serve.run(app, name=APP_NAME, route_prefix=None)
