"""Settings from the environment, read in one place. The README lists every variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .errors import ValidationError, unknown_choice

HUB_MODEL_ID = "Tongyi-MAI/Z-Image-Turbo"
# The pipeline's three models, as its attributes and its folders are named.
PIPELINE_MODELS = ("transformer", "text_encoder", "vae")
GIB = 1024**3
# Fastest first. "stream" keeps the transformer and VAE on the GPU and streams the text encoder from pinned CPU
# memory per request (16 GB cards); "offload" moves whole models (diffusers' model CPU offload); "sequential"
# moves one layer at a time.
MEMORY_MODES = ("auto", "full", "stream", "offload", "sequential")
# Modes in which the transformer stays on the GPU, untouched by offload hooks: fp8 weights work there.
RESIDENT_TRANSFORMER_MODES = ("full", "stream")
AUTO_MEMORY = "auto"
DTYPES = ("auto", "bfloat16", "float32")
DEVICES = ("auto", "cuda", "mps", "cpu")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValidationError(f"{name} must be a number, got {raw!r}.", code="bad_setting", name=name, value=raw) from None


def on_zero_gpu() -> bool:
    """True on a Hugging Face ZeroGPU Space (no torch.compile there; workers fork from the main process)."""
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() not in ("", "0", "false", "no")


def default_cache_dir() -> Path:
    """Where the tiny model and the model-hash cache live (ZIMAGE_CACHE_DIR)."""
    return Path(_env("ZIMAGE_CACHE_DIR", str(Path.home() / ".cache" / "zimage")))


ENHANCER_BACKENDS = ("auto", "local", "api", "off")
SAFETY_MODES = ("off", "prompt", "full")
SAFETY_CHECKER_ID = "CompVis/stable-diffusion-safety-checker"


@dataclass(frozen=True)
class EnhancerSettings:
    """The prompt enhancer: which backend writes prompts, and how long it may take."""

    backend: str = "auto"
    api_base: str = ""
    api_key: str = field(default="", repr=False)  # never in logs or error messages
    api_model: str = ""
    max_new_tokens: int = 300
    timeout: float = 30.0

    @classmethod
    def from_env(cls) -> "EnhancerSettings":
        return cls(
            backend=_env("ZIMAGE_ENHANCER", "auto").lower(),
            api_base=_env("ZIMAGE_ENHANCER_API_BASE", ""),
            api_key=_env("ZIMAGE_ENHANCER_API_KEY", ""),
            api_model=_env("ZIMAGE_ENHANCER_MODEL", ""),
            max_new_tokens=int(_env_number("ZIMAGE_ENHANCER_MAX_TOKENS", 300)),
            timeout=_env_number("ZIMAGE_ENHANCER_TIMEOUT", 30.0),
        ).checked()

    def checked(self) -> "EnhancerSettings":
        _check_choice("enhancer", self.backend, ENHANCER_BACKENDS)
        if self.backend == "api" and not (self.api_base and self.api_model):
            raise ValidationError("ZIMAGE_ENHANCER=api needs ZIMAGE_ENHANCER_API_BASE and ZIMAGE_ENHANCER_MODEL.",
                                  code="bad_setting", name="ZIMAGE_ENHANCER", value="api")
        if not (1 <= self.max_new_tokens <= 1024 and 0 < self.timeout <= 300):
            raise ValidationError("ZIMAGE_ENHANCER_MAX_TOKENS must be 1-1024 and ZIMAGE_ENHANCER_TIMEOUT 0-300 s.",
                                  code="bad_setting", name="ZIMAGE_ENHANCER_MAX_TOKENS", value=self.max_new_tokens)
        return self

    def resolved(self, real_weights: bool) -> str:
        """`auto`: the API when one is configured, else the loaded text encoder, but not the tiny model's."""
        if self.backend != "auto":
            return self.backend
        if self.api_base and self.api_model:
            return "api"
        return "local" if real_weights else "off"


@dataclass(frozen=True)
class SafetySettings:
    """The safety filter: `prompt` screens prompts with the text encoder; `full` also checks every image."""

    mode: str = "off"
    checker: str = SAFETY_CHECKER_ID

    @classmethod
    def from_env(cls) -> "SafetySettings":
        # A public Space screens prompts unless its owner says otherwise; a local install does not.
        default = "prompt" if os.environ.get("SPACE_ID", "").strip() else "off"
        settings = cls(mode=_env("ZIMAGE_SAFETY", default).lower(),
                       checker=_env("ZIMAGE_SAFETY_CHECKER", SAFETY_CHECKER_ID))
        _check_choice("safety mode", settings.mode, SAFETY_MODES)
        return settings


@dataclass(frozen=True)
class Settings:
    """How the engine loads and runs the model. `from_env()` fills it; CLI flags override fields."""

    model: str = "auto"
    device: str = "auto"
    dtype: str = "auto"
    memory: str = "auto"
    attention: str = "auto"
    compile: bool = False
    fp8: bool = False
    warmup: str = "auto"
    hub_timeout: float = 3.0
    cache_dir: Path = field(default_factory=default_cache_dir)
    output_dir: Path = field(default_factory=lambda: default_cache_dir() / "outputs")
    lora_dir: Path | None = None
    lora_hub: tuple[str, ...] = ()
    enhancer: EnhancerSettings = field(default_factory=EnhancerSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            model=_env("ZIMAGE_MODEL", "auto"),
            device=_env("ZIMAGE_DEVICE", "auto").lower(),
            dtype=_env("ZIMAGE_DTYPE", "auto").lower(),
            memory=_env("ZIMAGE_MEMORY", "auto").lower(),
            attention=_env("ZIMAGE_ATTENTION", "auto"),
            compile=_env_bool("ZIMAGE_COMPILE"),
            fp8=_env_bool("ZIMAGE_FP8"),
            warmup=_env("ZIMAGE_WARMUP", "auto").lower(),
            hub_timeout=_env_number("ZIMAGE_HUB_TIMEOUT", 3.0),
            cache_dir=default_cache_dir(),
            output_dir=Path(_env("ZIMAGE_OUTPUT_DIR", str(default_cache_dir() / "outputs"))),
            lora_dir=Path(_env("ZIMAGE_LORA_DIR", "")) if _env("ZIMAGE_LORA_DIR", "") else None,
            lora_hub=tuple(item.strip() for item in _env("ZIMAGE_LORAS", "").split(",") if item.strip()),
            enhancer=EnhancerSettings.from_env(),
            safety=SafetySettings.from_env(),
        ).checked()

    def with_overrides(self, **values: object) -> "Settings":
        """Apply the non-None values (from CLI flags) and check the result."""
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in values.items() if v is not None and k in known}).checked()

    def checked(self) -> "Settings":
        _check_choice("device", self.device, DEVICES)
        _check_choice("memory", self.memory, MEMORY_MODES)
        if self.dtype in ("float16", "fp16", "half"):
            raise ValidationError(
                "float16 is not supported: Z-Image gives NaN (black images) in float16. Use bfloat16.",
                code="fp16",
            )
        _check_choice("dtype", self.dtype, DTYPES)
        _check_fp8(self.fp8, self.memory, self.compile)
        return self


def _check_fp8(fp8: bool, memory: str, compiled: bool) -> None:
    """Refuse fp8 combinations that would load fine and then fail or crawl at every request.

    fp8 with "offload" or "sequential": offload moves torchao's fp8 tensor subclasses inside the request's
    inference_mode, which torch refuses ("Cannot set version_counter for inference tensor"), and sequential
    offload would quantize placeholder weights. "stream" is fine: its hooks sit on the text encoder only, and
    the fp8 transformer stays on the GPU as in "full". fp8 without compile: eager fp8 is slower than eager bf16.
    """
    if not fp8:
        return
    if memory not in (AUTO_MEMORY, *RESIDENT_TRANSFORMER_MODES):
        raise ValidationError(
            f"fp8 cannot be combined with memory mode {memory}: offloading moves fp8 weights in a way PyTorch "
            "refuses during generation. Use memory 'full', 'stream' or 'auto' with fp8, or turn fp8 off.",
            code="fp8_offload", memory=memory)
    if not compiled:
        raise ValidationError("fp8 needs compile: without torch.compile fp8 runs slower than bfloat16. "
                              "Turn compile on, or fp8 off.", code="fp8_needs_compile")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise unknown_choice(name, value, allowed, code="bad_choice")


@dataclass(frozen=True)
class AppSettings:
    """Serving limits for the web app and API. The README's limits table documents each one."""

    queue_size: int = 20
    concurrency: int = 1
    rate_limit: str = ""
    output_max_age_hours: float = 24.0
    output_max_mb: float = 1024.0
    history_limit: int = 48
    mcp: bool = False

    @classmethod
    def from_env(cls) -> "AppSettings":
        settings = cls(
            queue_size=int(_env_number("ZIMAGE_QUEUE_SIZE", 20)),
            concurrency=int(_env_number("ZIMAGE_CONCURRENCY", 1)),
            rate_limit=_env("ZIMAGE_RATE_LIMIT", ""),
            output_max_age_hours=_env_number("ZIMAGE_OUTPUT_MAX_AGE_HOURS", 24.0),
            output_max_mb=_env_number("ZIMAGE_OUTPUT_MAX_MB", 1024.0),
            history_limit=int(_env_number("ZIMAGE_HISTORY_LIMIT", 48)),
            mcp=_env_bool("ZIMAGE_MCP"),
        )
        if settings.queue_size < 1 or settings.concurrency < 1:
            raise ValidationError("ZIMAGE_QUEUE_SIZE and ZIMAGE_CONCURRENCY must be at least 1.", code="bad_setting")
        return settings


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
    batch_size: int = 0  # >1: a replica runs up to this many same-shape requests from different users as one batch
    batch_wait_s: float = 0.05  # how long a replica waits to fill a batch

    @classmethod
    def from_env(cls, replicas: int | None = None, min_replicas: int | None = None,
                 max_replicas: int | None = None) -> "ReplicaSettings":
        """Counts from flags (or ZIMAGE_REPLICAS), limits from ZIMAGE_RAY_* and ZIMAGE_QUEUE_SIZE."""
        if replicas is None and os.environ.get("ZIMAGE_REPLICAS", "").strip():
            replicas = int(_env_number("ZIMAGE_REPLICAS", 1))
        low = min_replicas if min_replicas is not None else replicas if replicas is not None else 1
        high = max_replicas if max_replicas is not None else replicas if replicas is not None else max(low, 1)
        gpus = _env("ZIMAGE_RAY_GPUS_PER_REPLICA", "")
        settings = cls(
            min_replicas=low, max_replicas=high,
            max_ongoing_requests=int(_env_number("ZIMAGE_RAY_MAX_ONGOING", 1)),
            max_queued_requests=int(_env_number("ZIMAGE_RAY_MAX_QUEUED", _env_number("ZIMAGE_QUEUE_SIZE", 20))),
            gpus_per_replica=float(gpus) if gpus else None,
            cpus_per_replica=_env_number("ZIMAGE_RAY_CPUS_PER_REPLICA", 1.0),
            ray_address=os.environ.get("RAY_ADDRESS", "").strip(),
            batch_size=int(_env_number("ZIMAGE_RAY_BATCH", 0)),
            batch_wait_s=_env_number("ZIMAGE_RAY_BATCH_WAIT_MS", 50) / 1000,
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
    def ongoing(self) -> int:
        """Requests one replica takes at once: a batch needs them all in hand."""
        return max(self.max_ongoing_requests, self.batch_size)

    @property
    def capacity(self) -> int:
        """Requests the deployment can hold at its largest: running plus queued. More are refused as busy."""
        return self.max_replicas * self.ongoing + self.max_queued_requests
