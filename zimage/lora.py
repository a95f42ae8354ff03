"""LoRA styles: what is installed (a folder and hub ids), each file's short hash, and switching per request.

Requests name LoRAs; names are looked up in the discovered set and never joined into paths, so a request cannot
reach a file the server did not list. Each file is loaded once as its own peft adapter and switched with
`set_adapters` (weights per request, no reload). With `torch.compile` on, one adapter slot is reserved with
`enable_lora_hotswap` and each request's LoRA is hot-swapped into it with its weight baked in, so switching
never changes the compiled graph. `LoraAdapters.activate` must run under the engine's run lock: it sets the
shared transformer's state for exactly one request, and a request without LoRAs turns them all off.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from .errors import ValidationError
from .request import LoraRef

log = logging.getLogger(__name__)

SUFFIX = ".safetensors"
HUB_DEFAULT_FILE = "pytorch_lora_weights.safetensors"  # what diffusers' save_lora_weights writes
HOTSWAP_SLOT = "hotswap"
_ZEROS = ("", 0.0)  # the hot-swap slot holding zeros: the base model
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+\.safetensors)?$")


@dataclass(frozen=True)
class LoraFile:
    """One installed LoRA: the name requests use, and where its weights are (a path, or a hub id to fetch)."""

    name: str
    path: Path | None
    hub_id: str = ""


def parse_spec(spec: str) -> LoraRef:
    """"NAME" or "NAME:WEIGHT" (the CLI's --lora) into a checked LoraRef, not yet resolved."""
    name, sep, weight = str(spec).strip().rpartition(":")
    if not sep or not _is_number(weight):
        return LoraRef(str(spec).strip())
    return LoraRef(name.strip(), weight)


def parse_loras(text: str | None) -> tuple[LoraRef, ...]:
    """"name:weight, name2" (the UI's LoRA field and the API's `loras` parameter) into LoraRefs."""
    return tuple(parse_spec(item) for item in str(text or "").split(",") if item.strip())


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


class LoraLibrary:
    """The LoRAs this server offers: `*.safetensors` under a folder (names are paths without the suffix) and
    hub ids from the settings ("owner/repo" for diffusers' default file name, or "owner/repo/file.safetensors")."""

    def __init__(self, folder: Path | None = None, hub_ids: Sequence[str] = ()) -> None:
        self.folder = Path(folder) if folder else None
        self.hub_ids = tuple(hub_id.strip() for hub_id in hub_ids if hub_id.strip())
        bad = [hub_id for hub_id in self.hub_ids if not _HUB_ID.match(hub_id)]
        if bad:
            raise ValidationError(f"Invalid LoRA hub id(s): {', '.join(bad)}.", code="bad_setting",
                                  message=f"LoRA hub id {', '.join(bad)}")
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._fetched: dict[str, Path] = {}  # hub id -> file: each request would otherwise ask the hub again
        self._lock = threading.Lock()

    def available(self) -> list[LoraFile]:
        """Every LoRA, folder files first, sorted by name. The folder is rescanned, so new files show up."""
        found: dict[str, LoraFile] = {}
        if self.folder and self.folder.is_dir():
            for path in sorted(self.folder.rglob(f"*{SUFFIX}")):
                name = path.relative_to(self.folder).with_suffix("").as_posix()
                found.setdefault(name, LoraFile(name, path))
        for hub_id in self.hub_ids:
            found.setdefault(hub_id, LoraFile(hub_id, None, hub_id))
        return [found[name] for name in sorted(found)]

    def find(self, name: str) -> LoraFile:
        """The LoRA called `name`, or an error naming it and listing what is installed."""
        for lora in self.available():
            if lora.name == name:
                return lora
        names = ", ".join(lora.name for lora in self.available()) or "none"
        shown = str(name)[:80]
        raise ValidationError(f"Unknown LoRA {shown!r}. Installed: {names}.", code="unknown_lora", name=shown,
                              allowed=names)

    def local_path(self, lora: LoraFile) -> Path:
        """The file on disk; a hub LoRA is fetched (or taken from the hub cache) on first use."""
        if lora.path is not None:
            return lora.path
        if lora.hub_id in self._fetched and self._fetched[lora.hub_id].exists():
            return self._fetched[lora.hub_id]
        from huggingface_hub import hf_hub_download

        parts = lora.hub_id.split("/")
        repo, filename = "/".join(parts[:2]), "/".join(parts[2:]) or HUB_DEFAULT_FILE
        try:
            self._fetched[lora.hub_id] = Path(hf_hub_download(repo, filename))
            return self._fetched[lora.hub_id]
        except Exception as error:  # noqa: BLE001 - offline, missing repo, missing file: one message
            raise ValidationError(f"The LoRA {lora.name!r} could not be downloaded ({type(error).__name__}).",
                                  code="lora_unavailable", name=lora.name, reason=type(error).__name__) from None

    def sha12(self, lora: LoraFile) -> str:
        """The first 12 hex digits of the file's SHA-256, computed once per file version (path, size, mtime)."""
        path = self.local_path(lora)
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key not in self._hashes:
                digest = hashlib.sha256()
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(2**20), b""):
                        digest.update(block)
                self._hashes[key] = digest.hexdigest()[:12]
            return self._hashes[key]

    def resolve(self, refs: Sequence[LoraRef]) -> tuple[LoraRef, ...]:
        """A request's LoRAs with their hashes filled in, checked against what is installed; loads nothing.

        A ref that carries a hash (from a PNG or a link) must match the server's file of that name.
        """
        resolved = []
        for ref in refs:
            sha12 = self.sha12(self.find(ref.name))
            if ref.sha12 and ref.sha12 != sha12:
                raise ValidationError(
                    f"The LoRA {ref.name!r} on this server is a different file ({sha12}, not {ref.sha12}).",
                    code="lora_changed", name=ref.name, sha=ref.sha12, found=sha12)
            resolved.append(LoraRef(ref.name, ref.weight, sha12))
        return tuple(resolved)


@lru_cache(maxsize=8)
def library_for(folder: Path | None, hub_ids: tuple[str, ...]) -> LoraLibrary:
    """One library (and hash cache) per configuration, shared by the engine, the CLI and the UI's picker."""
    return LoraLibrary(folder, hub_ids)


class LoraAdapters:
    """The LoRA state of one pipeline's transformer, set per request. Call `activate` under the run lock."""

    def __init__(self, pipe: Any, library: LoraLibrary, hotswap: bool = False, fetch_hub: bool = False) -> None:
        """`fetch_hub`: with hot-swapping, hub LoRAs may be downloaded now to size and fill the slot (the loader
        allows it when the hub answered its quick probe, so a machine without network does not wait at start)."""
        self.pipe = pipe
        self.library = library
        self.hotswap = hotswap
        self.fetch_hub = fetch_hub
        self._slot_filled = False
        # What the hot-swap slot holds: (file hash, weight), _ZEROS, or None when unknown (a swap failed midway).
        self._in_slot: tuple[str, float] | None = None
        if hotswap:
            # Must come before the first LoRA is loaded (and before compiling): it pads every LoRA to one rank
            # and keeps scalings as tensors, so a swap only copies weights.
            pipe.enable_lora_hotswap(target_rank=max_rank(library, fetch_hub=fetch_hub))

    def prime(self) -> None:
        """With hot-swapping, fill the slot (at weight 0) before compiling, so no later swap changes the graph: from a
        local file if there is one, else from a hub LoRA (fetched now rather than at a user's request, where
        filling the slot would recompile every block)."""
        offered = [item for item in self.library.available() if item.path is not None or self.fetch_hub]
        offered.sort(key=lambda item: item.path is None)  # local files first
        for item in offered if self.hotswap else []:
            try:
                self._swap_in([LoraRef(item.name, 0.0, self.library.sha12(item))])
                return
            except Exception:  # noqa: BLE001 - a broken file must not stop the model from loading; try the next
                log.warning("Could not prepare the LoRA slot with %s", item.name, exc_info=True)

    def activate(self, loras: Sequence[LoraRef]) -> None:
        """Make exactly `loras` (with their weights) active, and nothing else; an empty list turns LoRA off."""
        try:
            if self.hotswap:
                self._swap_in(loras)
            else:
                self._set(loras)
        except Exception:
            self._off()  # a failed switch must not leave half of it for the next request
            raise

    def _set(self, loras: Sequence[LoraRef]) -> None:
        if not loras:
            self._off()
            return
        names = [self._load(lora) for lora in loras]
        self.pipe.enable_lora()
        self.pipe.set_adapters(names, [lora.weight for lora in loras])

    def _off(self) -> None:
        if self.hotswap:
            if self._slot_filled:
                self._zero_slot()
        elif self._loaded_names():  # the pipeline's own record, so nothing loaded elsewhere is missed
            self.pipe.disable_lora()

    def _loaded_names(self) -> list[str]:
        from diffusers.utils import USE_PEFT_BACKEND

        if not USE_PEFT_BACKEND:  # without peft nothing can have been loaded; plain generation must still work
            return []
        return list(self.pipe.get_list_adapters().get("transformer", []))

    def _load(self, lora: LoraRef) -> str:
        # Named by content: the same file is loaded once per pipeline, whoever asked for it first.
        name = f"lora_{self._sha12(lora)}"
        if name not in self._loaded_names():
            self._load_weights(lora, self._checked_path(lora), name)
        return name

    def _sha12(self, lora: LoraRef) -> str:
        """The file's hash: the one the request resolved, else the library's."""
        return lora.sha12 or self.library.sha12(self.library.find(lora.name))

    def _checked_path(self, lora: LoraRef) -> Path:
        path = self.library.local_path(self.library.find(lora.name))
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        except Exception:  # noqa: BLE001 - truncated, not safetensors, unreadable: one message
            raise _corrupt(lora.name, "not a readable safetensors file") from None
        return path

    def _load_weights(self, lora: LoraRef, path: Path, adapter_name: str) -> None:
        try:
            state, metadata = self.pipe.lora_state_dict(str(path), return_lora_metadata=True)
            if not all("lora" in key or "lokr" in key for key in state):
                raise ValueError("not LoRA or LoKr weights")
            self._into_transformer(state, metadata, adapter_name)
        except Exception as error:  # noqa: BLE001 - keys for another model, a bad format: one message
            log.warning("LoRA %s failed to load: %s", lora.name, error)
            raise _corrupt(lora.name, "not a Z-Image LoRA") from None
        if adapter_name not in self._loaded_names():
            # diffusers only warns when no key matches the transformer; the LoRA would silently do nothing.
            raise _corrupt(lora.name, "not a Z-Image LoRA")

    def _into_transformer(self, state: dict, metadata: Any, adapter_name: str, hotswap: bool = False) -> None:
        """diffusers' `load_lora_weights`, less one step in the "stream" memory mode. Given the pipeline, diffusers
        detaches and re-attaches every component's offload hooks around the load; there the only hooks are the
        text encoder's group offloading, and rebuilding them at each load (each request, when hot-swapping) would
        drop the prefetch order traced at start (zimage.memory.stream_text_encoder). The transformer, where the
        LoRA goes, has no hooks in that mode. With model offload ("offload", "sequential") the pipeline is given."""
        from .memory import is_streamed  # imports torch, which this module leaves until a model exists

        hooked = None if is_streamed(self.pipe.text_encoder) else self.pipe
        self.pipe.load_lora_into_transformer(state, transformer=self.pipe.transformer, adapter_name=adapter_name,
                                             metadata=metadata, _pipeline=hooked, hotswap=hotswap,
                                             low_cpu_mem_usage=not hotswap)  # as load_lora_weights does

    # --- compiled models: one slot, hot-swapped --------------------------------------------------------------

    def _swap_in(self, loras: Sequence[LoraRef]) -> None:
        if len(loras) > 1:
            raise ValidationError("With compile on, one LoRA at a time.", code="lora_compiled_one")
        if not loras:
            self._off()
            return
        lora = loras[0]
        path = self._checked_path(lora)  # a file gone or broken is an error even when no swap is needed
        # At weight 0 every LoRA is the base model: zeros in the slot, whichever file it came from.
        wanted = _ZEROS if lora.weight == 0 else (self._sha12(lora), float(lora.weight))
        if wanted == self._in_slot:
            return  # the same LoRA at the same weight as the last request: nothing to read or copy
        state, metadata = self.pipe.lora_state_dict(str(path), return_lora_metadata=True)
        self._swap(lora, _scaled(state, lora.weight), metadata)
        self._in_slot = wanted

    def _swap(self, lora: LoraRef, state: dict, metadata: Any) -> None:
        self._in_slot = None
        try:
            self._into_transformer(state, metadata, HOTSWAP_SLOT, hotswap=self._slot_filled)
        except Exception as error:  # noqa: BLE001
            log.warning("LoRA %s failed to hot-swap: %s", lora.name, error)
            raise _corrupt(lora.name, "not a Z-Image LoRA, or a higher rank than the slot") from None
        self._slot_filled = True
        self._last = (state, metadata)

    def _zero_slot(self) -> None:
        """Hot-swap zeros into the slot: the model is then exactly the base model, and the graph is unchanged."""
        if self._in_slot == _ZEROS:
            return
        state, metadata = self._last
        self._swap(LoraRef("off", 0.0), _scaled(state, 0.0), metadata)
        self._in_slot = _ZEROS


def max_rank(library: LoraLibrary, default: int = 64, fetch_hub: bool = False) -> int:
    """The highest rank among the installed LoRAs (from the safetensors headers), for the hot-swap slot. Hub LoRAs
    count when `fetch_hub` may download them (the slot is sized once, before compiling: a larger LoRA later could
    not be swapped in)."""
    from safetensors import safe_open

    ranks = [default]
    for lora in library.available():
        if lora.path is None and not fetch_hub:
            continue
        try:
            with safe_open(str(library.local_path(lora)), framework="pt") as handle:
                ranks += [handle.get_slice(key).get_shape()[0] for key in handle.keys() if "lora_A" in key]
        except Exception:  # noqa: BLE001 - a corrupt or unreachable file is reported when someone asks for it
            continue
    return max(ranks)


def _scaled(state: dict, weight: float) -> dict:
    """A copy of a LoRA state dict with the up (B) matrices times `weight`, which scales its effect linearly."""
    return {key: value * weight if "lora_B" in key or "lora_up" in key else value for key, value in state.items()}


def _corrupt(name: str, reason: str) -> ValidationError:
    return ValidationError(f"The LoRA {name!r} could not be loaded: {reason}.", code="lora_corrupt", name=name,
                           reason=reason)
