"""PNG metadata: an A1111-style `parameters` text chunk plus a JSON chunk, and a parser for both."""

from __future__ import annotations

import json
import re
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from . import __version__, pngchunks
from .errors import ValidationError, unreadable_image
from .model_info import ModelInfo
from .request import GenerationRequest
from .textcheck import TextVerdict

JSON_KEY = "zimage"
PARAMETERS_KEY = "parameters"
TEXT_CHECK_KEY = "text_check"
# zlib level for every PNG written: lossless at any level; 1 encodes several times faster than PIL's default 6,
# for files about a tenth larger (zimage.outputs).
PNG_COMPRESS_LEVEL = 1
SAMPLER = "Euler (flow match)"
# Pairs like `Steps: 9` or `Model: "a, b"`; values with commas are JSON-quoted, as A1111 does.
_LORA_TAG = re.compile(r"\s*<lora:([^:<>]+):([-+0-9.eE]+)>")
_LORA_HASH = re.compile(r"\s*([^:,]+?):\s*([0-9a-fA-F]{12})\s*(?:,|$)")
_PAIR = re.compile(r'\s*([\w ]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


def package_versions() -> dict[str, str]:
    versions = {"zimage": __version__}
    for name in ("torch", "diffusers", "transformers"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:"\n') else text


def format_parameters(request: GenerationRequest, model: ModelInfo) -> str:
    """The A1111 `parameters` text that A1111, Forge, Civitai and most image viewers read."""
    pairs = {
        "Steps": request.steps, "Sampler": SAMPLER, "CFG scale": 0, "Seed": request.seed,
        "Size": f"{request.width}x{request.height}", "Shift": request.shift,
        "Model": model.model_id, "Model hash": model.model_hash,
        "Version": f"zimage {__version__}",
    }
    if not model.model_hash:
        del pairs["Model hash"]  # an empty hash would match nothing in A1111 or Civitai
    pairs.update(_edit_pairs(request))
    # A1111 puts LoRAs in the prompt as <lora:name:weight> and their short hashes in "Lora hashes".
    tags = "".join(f" {ref.prompt_tag}" for ref in request.loras)
    return request.prompt + tags + "\n" + ", ".join(f"{key}: {_quote(value)}" for key, value in pairs.items())


def _edit_pairs(request: GenerationRequest) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    if request.is_edit:
        pairs["Denoising strength"] = request.strength
    if request.mask_sha256:
        pairs["Mask blur"] = request.mask_blur
    if any(ref.sha12 for ref in request.loras):
        pairs["Lora hashes"] = ", ".join(f"{ref.name}: {ref.sha12}" for ref in request.loras if ref.sha12)
    return pairs


def build_pnginfo(request: GenerationRequest, model: ModelInfo,
                  enhanced: dict[str, Any] | None = None) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    # add_text switches to an iTXt (UTF-8) chunk for non-Latin-1 text, so Chinese prompts survive.
    info.add_text(PARAMETERS_KEY, format_parameters(request, model))
    payload = {"request": request.to_dict(), "model": model.to_dict(), "versions": package_versions()}
    if enhanced:
        payload["enhanced"] = enhanced  # the idea and the enhancer that wrote request.prompt from it
    info.add_text(JSON_KEY, json.dumps(payload, ensure_ascii=False))
    return info


def save_png(image: Image.Image, request: GenerationRequest, model: ModelInfo, path: Path,
             enhanced: dict[str, Any] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", pnginfo=build_pnginfo(request, model, enhanced))
    return path


def record_text_check(path: Path, image: Image.Image, verdict: TextVerdict) -> None:
    """Add a proof-reading verdict (with the OCR's version) to the JSON chunk of the PNG at `path`; `image` is that
    PNG as decoded (its text chunks in `image.info`), so the JSON is not parsed from the file again. Only that one
    text chunk is rewritten: the pixels and every other chunk are copied byte for byte (zimage.pngchunks), and the
    file is swapped in whole. A damaged file is the same ValidationError as when proof-reading it, and stays as
    it was."""
    payload = _json_payload(image)
    payload[TEXT_CHECK_KEY] = verdict.to_dict()
    try:
        chunks = pngchunks.read_png(path)
    except (OSError, pngchunks.PngChunkError) as error:
        raise unreadable_image(path) from error
    pngchunks.write_png(path, pngchunks.replace_texts(chunks, {JSON_KEY: json.dumps(payload, ensure_ascii=False)}))


def _json_payload(image: Image.Image) -> dict[str, Any]:
    """The image's zimage JSON as a dict; {} when it has none or it is damaged, so a verdict can still be added."""
    try:
        payload = json.loads(_png_text(image).get(JSON_KEY, "{}"))
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def read_text_check(source: Image.Image | str | Path) -> TextVerdict | None:
    """The proof-reading verdict stored in a zimage PNG, or None when it has none (or it is damaged)."""
    try:
        return TextVerdict.from_dict(json.loads(_png_text(source)[JSON_KEY])[TEXT_CHECK_KEY])
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


def read_request(source: Image.Image | str | Path) -> GenerationRequest:
    """Read the request back from a PNG made by zimage (JSON chunk) or an A1111-style tool."""
    info = _png_text(source)
    if JSON_KEY in info:
        return _from_json(info[JSON_KEY])
    if PARAMETERS_KEY in info:
        return parse_parameters(info[PARAMETERS_KEY])
    raise ValidationError("This image carries no generation settings.", code="no_metadata")


def _png_text(source: Image.Image | str | Path) -> dict[str, str]:
    if isinstance(source, Image.Image):
        return {k: v for k, v in source.info.items() if isinstance(v, str)}
    try:
        with Image.open(source) as image:
            image.load()
            return {k: v for k, v in image.info.items() if isinstance(v, str)}
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ValidationError("This file is not a readable image.", code="bad_image") from error


def _from_json(text: str) -> GenerationRequest:
    try:
        payload = json.loads(text)
        params = payload["request"]
    except (ValueError, TypeError, KeyError) as error:
        raise ValidationError("The image's settings are damaged.", code="bad_metadata") from error
    if not isinstance(params, dict):
        raise ValidationError("The image's settings are damaged.", code="bad_metadata")
    return GenerationRequest.from_params(params)


def parse_parameters(text: str) -> GenerationRequest:
    """Parse A1111 `parameters` text: prompt lines, an optional negative prompt, then one settings line."""
    lines = text.strip().split("\n")
    if len(lines) < 2:
        raise ValidationError("The image's settings are damaged.", code="bad_metadata")
    pairs = {key.strip(): _unquote(value) for key, value in _PAIR.findall(lines[-1]) if key.strip()}
    prompt_lines = [line for line in lines[:-1]]
    negative = next((i for i, line in enumerate(prompt_lines) if line.startswith("Negative prompt:")), None)
    prompt = "\n".join(prompt_lines[:negative] if negative is not None else prompt_lines)
    prompt, params = _lora_tags(prompt, pairs.get("Lora hashes", ""))
    params["prompt"] = prompt
    for key, field_name in (("Seed", "seed"), ("Steps", "steps"), ("Shift", "shift"),
                            ("Denoising strength", "strength"), ("Mask blur", "mask_blur")):
        if key in pairs:
            params[field_name] = pairs[key]
    if "Size" in pairs:
        width, _, height = pairs["Size"].partition("x")
        params["width"], params["height"] = width, height
    return GenerationRequest.from_params(params)


def _lora_tags(prompt: str, hashes: str) -> tuple[str, dict[str, Any]]:
    """Take <lora:name:weight> tags out of an A1111 prompt, with their hashes from "Lora hashes"."""
    known = dict(_LORA_HASH.findall(hashes))
    refs = [{"name": name.strip(), "weight": weight, "sha12": known.get(name.strip(), "")}
            for name, weight in _LORA_TAG.findall(prompt)]
    cleaned = _LORA_TAG.sub("", prompt).strip()
    return cleaned, ({"loras": refs} if refs else {})


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        try:
            return str(json.loads(value))
        except ValueError:
            return value.strip('"')
    return value
