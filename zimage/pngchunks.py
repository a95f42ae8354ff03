"""A PNG file as its chunk stream, so a text chunk can be swapped without decoding or re-encoding the pixels.

A PNG is an 8-byte signature and then chunks: a 4-byte big-endian length, a 4-byte type, the data, and a CRC-32
of type and data (PNG spec, section 5.3). Swapping a text chunk this way copies IHDR, IDAT and every other chunk
byte for byte, so recording a verdict costs a file copy instead of a zlib encode (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_KINDS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_HEADER = struct.Struct(">I4s")  # length, type
_CRC = struct.Struct(">I")


class PngChunkError(ValueError):
    """The bytes are not a whole, undamaged PNG."""


@dataclass(frozen=True)
class Chunk:
    kind: bytes  # b"IHDR", b"IDAT", b"tEXt", ...
    data: bytes

    @property
    def keyword(self) -> bytes | None:
        """A text chunk's key (all three text types start with it and a NUL); None for other chunks."""
        return self.data.split(b"\0", 1)[0] if self.kind in TEXT_KINDS else None

    def to_bytes(self) -> bytes:
        return _HEADER.pack(len(self.data), self.kind) + self.data + _CRC.pack(_crc(self.kind, self.data))


def _crc(kind: bytes, data: bytes) -> int:
    return zlib.crc32(data, zlib.crc32(kind))


def text_chunk(key: str, value: str) -> Chunk:
    """The chunk PIL's `PngInfo.add_text` writes, so readers see the same value: tEXt when the value is Latin-1,
    else an uncompressed iTXt in UTF-8 (Chinese prompts)."""
    keyword = key.encode("latin-1")
    try:
        return Chunk(b"tEXt", keyword + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        # keyword NUL, compression flag 0, method 0, empty language tag NUL, empty translated keyword NUL, text
        return Chunk(b"iTXt", keyword + b"\0\0\0\0\0" + value.encode("utf-8"))


def parse(png: bytes) -> list[Chunk]:
    """The chunks from IHDR to IEND, every CRC checked; bytes after IEND are dropped, as a re-encode drops them."""
    if not png.startswith(SIGNATURE):
        raise PngChunkError("not a PNG file (no PNG signature)")
    chunks: list[Chunk] = []
    offset = len(SIGNATURE)
    while not chunks or chunks[-1].kind != b"IEND":
        chunk, offset = _chunk_at(png, offset)
        chunks.append(chunk)
    if chunks[0].kind != b"IHDR" or not any(chunk.kind == b"IDAT" for chunk in chunks):
        raise PngChunkError("damaged PNG: no IHDR first or no IDAT")
    return chunks


def _chunk_at(png: bytes, offset: int) -> tuple[Chunk, int]:
    """The chunk starting at `offset`, and the offset just after it."""
    if offset + _HEADER.size + _CRC.size > len(png):
        raise PngChunkError(f"truncated PNG: it ends at byte {len(png)}, before IEND")
    length, kind = _HEADER.unpack_from(png, offset)
    end = offset + _HEADER.size + length
    if not kind.isalpha() or end + _CRC.size > len(png):
        raise PngChunkError(f"truncated or damaged PNG: chunk {kind!r} at byte {offset}")
    data = png[offset + _HEADER.size:end]
    if _CRC.unpack_from(png, end)[0] != _crc(kind, data):
        raise PngChunkError(f"damaged PNG: bad CRC in chunk {kind!r} at byte {offset}")
    return Chunk(kind, data), end + _CRC.size


def replace_texts(chunks: Sequence[Chunk], texts: Mapping[str, str]) -> list[Chunk]:
    """`chunks` without any text chunk of `texts`' keys, with the new ones just before the first IDAT: where PIL's
    Image.open and most viewers read text without decoding the pixels, and where PIL's writer puts it."""
    new = [text_chunk(key, value) for key, value in texts.items()]
    replaced = {chunk.keyword for chunk in new}
    kept = [chunk for chunk in chunks if chunk.keyword not in replaced]
    first_idat = next(index for index, chunk in enumerate(kept) if chunk.kind == b"IDAT")
    return kept[:first_idat] + new + kept[first_idat:]


def read_png(path: Path) -> list[Chunk]:
    """The chunks of the PNG at `path`; OSError when it cannot be read, PngChunkError when it is damaged."""
    return parse(path.read_bytes())


def write_png(path: Path, chunks: Sequence[Chunk]) -> None:
    """Write beside `path` and swap in, so a download in progress sees the old file or the new one, never half of
    one; on failure the old file stays and the partial one goes."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(SIGNATURE + b"".join(chunk.to_bytes() for chunk in chunks))
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
