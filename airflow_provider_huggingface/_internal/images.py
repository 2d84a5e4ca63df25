"""Images for vision-language models: read, checked and attached to the last user turn as
OpenAI-style ``image_url`` content parts.

An ``https`` URL is passed on for the server to fetch; everything else (a local path, an
``ObjectStoragePath`` or a URL it understands such as ``s3://``, bytes, a ``data:`` URL) is read
here and sent inline as a ``data:`` URL whose MIME type comes from the bytes' signature, never from
a file's name or a ``data:`` URL's header: what is not an image (a web page saved as ``car.jpg``) is
refused before any call, saying what its bytes look like. The bytes never reach a log line:
:func:`describe` says how many and how large.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from airflow_provider_huggingface._internal.storage import reading_failed, storage_path
from airflow_provider_huggingface.exceptions import ConfigurationError, HuggingFaceError

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
_HEIF_BRANDS = {  # an ISO media file's brand (bytes 8 to 12)
    **dict.fromkeys((b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1"), "image/heic"),
    **dict.fromkeys((b"avif", b"avis"), "image/avif"),
}
_RECOGNIZED = "PNG, JPEG, GIF, WebP, BMP, TIFF, HEIC, AVIF"
_SNIFFED = 1024  # bytes looked at to tell what a file is; enough for a web page's first tags
_HTML = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<title", b"<script")

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
    name = str(source)
    try:
        path = _as_path(source)
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_big(where, size, max_bytes)
        data = path.read_bytes()
    except HuggingFaceError:
        raise
    except Exception as error:
        reading_failed(error, f"{where} ({name!r})")
    return _data_url(data, name, where, max_bytes)


def _as_path(source: Any) -> Any:
    from airflow.sdk import ObjectStoragePath

    if isinstance(source, ObjectStoragePath) or (isinstance(source, str) and "://" in source):
        return storage_path(source)
    if not isinstance(source, str):
        return source  # a pathlib.Path, or any path-like object with stat and read_bytes
    from pathlib import Path

    return Path(source).expanduser()


def _data_url(data: bytes, name: str | None, where: str, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise _too_big(where, len(data), max_bytes)
    if not data:
        raise ConfigurationError(f"{where} is empty (0 bytes): nothing to show the model.")
    mime = _image_type(data[:_SNIFFED], "the data" if name is None else repr(name), where)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _checked_data_url(url: str, where: str, max_bytes: int) -> str:
    """The URL, its header's type replaced by the one its bytes say; only its first bytes are decoded."""
    header, comma, payload = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise ConfigurationError(
            f"{where} is a data: URL that is not a base64 image (data:image/...;base64,...)."
        )
    size = _decoded_size(payload)
    if size > max_bytes:
        raise _too_big(where, size, max_bytes)
    # A whole number of base64 quanta from the start: enough to tell the type, whatever the URL's size.
    sample = _SNIFFED // 3 * 4
    head = "".join(payload[:sample].split())
    if len(payload) > sample:
        head = head[: len(head) // 4 * 4]
    try:
        data = base64.b64decode(head, validate=True)
    except ValueError:  # binascii.Error, or a character beyond ASCII
        raise ConfigurationError(
            f"{where} is a data: URL whose payload is not valid base64: encode the image's bytes with "
            "base64.b64encode."
        ) from None
    if not data:
        raise ConfigurationError(f"{where} is an empty data: URL (0 bytes): nothing to show the model.")
    mime = _image_type(data, "its payload", where)
    return url if header == f"data:{mime};base64" else f"data:{mime};base64,{payload}"


def _decoded_size(payload: str) -> int:
    """The byte size of base64 text, without decoding it."""
    return len(payload) * 3 // 4 - len(payload[-2:]) + len(payload[-2:].rstrip("="))


def _sniffed_type(head: bytes) -> str | None:
    """The MIME type of an image whose file starts with ``head``, told by its signature; else None."""
    for signature, mime in _SIGNATURES:
        if head.startswith(signature):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(head[8:12])
    return None


def _looks_like(head: bytes) -> str:
    """What bytes that are no image seem to be, for an error message: ``starts like HTML``."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(_HTML) or (text.startswith((b"<!--", b"<!doctype")) and b"<html" in text):
        return "starts like HTML (a web page, saved under an image's name?)"
    if text.startswith((b"<svg", b"<?xml", b"<!doctype svg")) and b"<svg" in text:
        return "starts like SVG (vector markup, which vision models cannot read: convert it to PNG)"
    if text.startswith(b"<?xml"):
        return "starts like XML (an error document from a store or a server?)"
    if text.startswith((b"{", b"[")):
        return "starts like JSON"
    for signature, kind in (
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"\x1f\x8b", "gzip data"),
    ):
        if head.startswith(signature):
            return f"is {kind}"
    if _is_text(head):
        return "starts like plain text"
    return f"starts with the bytes {head[:8].hex(' ')}, no known image signature"


def _image_type(head: bytes, what: str, where: str) -> str:
    mime = _sniffed_type(head)
    if mime is not None:
        return mime
    raise ConfigurationError(
        f"{where} is not an image this provider recognizes: {what} {_looks_like(head)}. "
        f"The type is told by the first bytes ({_RECOGNIZED}), not by a name or a header: pass the image "
        "file itself."
    )


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not just a character cut at the end of the sample
            return False
        text = head[: error.start].decode("utf-8")
    return all(character.isprintable() or character in "\t\r\n" for character in text)


def _too_big(where: str, size: int, max_bytes: int) -> ConfigurationError:
    return ConfigurationError(
        f"{where} is {human_size(size)}, over the limit of {human_size(max_bytes)} per image. Resize or "
        "compress it, pass an https URL instead, or raise max_image_bytes if the server accepts more."
    )
