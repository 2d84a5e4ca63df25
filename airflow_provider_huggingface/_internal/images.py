"""Images for vision-language models: read, checked and attached to the last user turn as
OpenAI-style ``image_url`` content parts.

An ``https`` URL is passed on for the server to fetch; everything else (a local path, an
``ObjectStoragePath`` or a URL it understands such as ``s3://``, bytes, a ``data:`` URL) is read
here and sent inline as a ``data:`` URL whose MIME type comes from the bytes' signature (else the
file extension). The bytes never reach a log line: :func:`describe` says how many and how large.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping
from typing import Any

from airflow_provider_huggingface.exceptions import ConfigurationError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)

__all__ = ["MAX_IMAGE_BYTES", "attach_images", "describe", "image_parts"]


def image_parts(images: Any, *, max_bytes: int = MAX_IMAGE_BYTES) -> list[dict[str, Any]]:
    """``images`` (one image or a list) as ``image_url`` content parts, each checked against ``max_bytes``."""
    if images is None:
        return []
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ConfigurationError(f"max_image_bytes={max_bytes!r}: give a whole number of bytes, at least 1.")
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    return [_part(image, f"images[{index}]", max_bytes) for index, image in enumerate(items)]


def attach_images(messages: list[dict[str, Any]], parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of ``messages`` whose last user turn carries its text and then ``parts``."""
    if not parts:
        return messages
    last = max(i for i, m in enumerate(messages) if m["role"] == "user")
    turn = messages[last]
    content = [{"type": "text", "text": turn["content"]}, *parts]
    return [*messages[:last], {"role": "user", "content": content}, *messages[last + 1 :]]


def describe(messages: list[dict[str, Any]]) -> tuple[int, int, int]:
    """``(text characters, images, image bytes)`` of a conversation; linked images count no bytes."""
    chars = images = size = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) or content is None:  # None: an assistant turn of tool calls
            chars += len(content or "")
            continue
        for part in content:
            if part.get("type") == "text":
                chars += len(part["text"])
            else:
                images += 1
                url = part["image_url"]["url"]
                if url.startswith("data:"):
                    size += _decoded_size(url.partition(",")[2])
    return chars, images, size


def human_size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _part(image: Any, where: str, max_bytes: int) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": _url(image, where, max_bytes)}}


def _url(image: Any, where: str, max_bytes: int) -> str:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _data_url(bytes(image), None, where, max_bytes)
    if isinstance(image, str):
        text = image.strip()
        if not text:
            raise ConfigurationError(f"{where} is an empty string: give a URL, a path or bytes.")
        if text.startswith("https://"):
            return text
        if text.startswith("data:"):
            return _checked_data_url(text, where, max_bytes)
        if text.startswith("http://"):
            raise ConfigurationError(
                f"{where} is an http:// URL: servers fetch only https URLs. Use the https URL, or read "
                "the image in an upstream task and pass its bytes."
            )
        return _read(text, where, max_bytes)
    if isinstance(image, Mapping) or not hasattr(image, "read_bytes"):
        raise ConfigurationError(
            f"{where} is a {type(image).__name__}: give an https URL, a local path, an ObjectStoragePath "
            "or bytes (one image, or a list of them)."
        )
    return _read(image, where, max_bytes)


def _read(source: Any, where: str, max_bytes: int) -> str:
    path = _as_path(source)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_big(where, size, max_bytes)
        data = path.read_bytes()
    except ConfigurationError:
        raise
    except FileNotFoundError:
        raise ConfigurationError(f"{where}: there is no file {str(source)!r}. Check the path.") from None
    except Exception as exc:
        raise ConfigurationError(
            f"{where}: {str(source)!r} could not be read: {type(exc).__name__}: {exc}"
        ) from None
    return _data_url(data, str(source), where, max_bytes)


def _as_path(source: Any) -> Any:
    if not isinstance(source, str):
        return source  # an ObjectStoragePath (or any path-like object with stat and read_bytes)
    if "://" in source:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(source)
    from pathlib import Path

    return Path(source).expanduser()


def _data_url(data: bytes, name: str | None, where: str, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise _too_big(where, len(data), max_bytes)
    if not data:
        raise ConfigurationError(f"{where} is empty (0 bytes): nothing to show the model.")
    mime = _mime(data, name, where)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _checked_data_url(url: str, where: str, max_bytes: int) -> str:
    header, comma, payload = url.partition(",")
    if not comma or not header.startswith("data:image/") or not header.endswith(";base64"):
        raise ConfigurationError(
            f"{where} is a data: URL that is not a base64 image (data:image/...;base64,...)."
        )
    size = _decoded_size(payload)
    if size > max_bytes:
        raise _too_big(where, size, max_bytes)
    return url


def _decoded_size(payload: str) -> int:
    """The byte size of base64 text, without decoding it."""
    return len(payload) * 3 // 4 - len(payload[-2:]) + len(payload[-2:].rstrip("="))


def _mime(data: bytes, name: str | None, where: str) -> str:
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "image/avif" if data[8:12] == b"avif" else "image/heic"
    guessed = mimetypes.guess_type(name)[0] if name else None
    if guessed and guessed.startswith("image/"):
        return guessed
    raise ConfigurationError(
        f"{where} is not an image this provider recognizes (PNG, JPEG, GIF, WebP, BMP, TIFF, HEIC, AVIF): "
        "its first bytes match none of them. Pass the image file itself, not text or a thumbnail page."
    )


def _too_big(where: str, size: int, max_bytes: int) -> ConfigurationError:
    return ConfigurationError(
        f"{where} is {human_size(size)}, over the limit of {human_size(max_bytes)} per image. Resize or "
        "compress it, pass an https URL instead, or raise max_image_bytes if the server accepts more."
    )
