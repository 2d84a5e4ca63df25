"""Images as content parts: MIME types from bytes, size limits, what a log line may show."""

from __future__ import annotations

import base64

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_huggingface._internal.chat import ChatRequest
from airflow_provider_huggingface._internal.images import attach_images, describe, image_parts
from airflow_provider_huggingface.exceptions import ConfigurationError

GIF = b"GIF89a" + b"\0" * 20
WEBP = b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 20


def url_of(image, **kwargs) -> str:
    (part,) = image_parts(image, **kwargs)
    assert part["type"] == "image_url"
    return part["image_url"]["url"]


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 8, "image/png"),
        (b"\xff\xd8\xff\xdb" + b"\0" * 8, "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (b"BM" + b"\0" * 20, "image/bmp"),
        (b"\0\0\0\x1cftypavif" + b"\0" * 8, "image/avif"),
    ],
)
def test_the_mime_type_comes_from_the_bytes(data, mime):
    assert url_of(data) == f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_paths_object_storage_and_extension_fallback(tmp_path):
    gif = tmp_path / "a.gif"
    gif.write_bytes(GIF)
    svg = tmp_path / "b.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert url_of(str(gif)).startswith("data:image/gif;base64,")
    assert url_of(ObjectStoragePath(f"file://{gif}")).startswith("data:image/gif;base64,")
    assert url_of(f"file://{gif}").startswith("data:image/gif;base64,")
    assert url_of(str(svg)).startswith("data:image/svg+xml;base64,")  # no signature: the extension


def test_urls_pass_through_and_data_urls_are_checked():
    assert url_of("https://example.org/x.png") == "https://example.org/x.png"
    data_url = "data:image/png;base64," + base64.b64encode(b"x" * 30).decode()
    assert url_of(data_url) == data_url
    with pytest.raises(ConfigurationError, match=r"over the limit of 0\.0 KB"):
        url_of(data_url, max_bytes=10)
    with pytest.raises(ConfigurationError, match="not a base64 image"):
        url_of("data:text/plain,hello")
    with pytest.raises(ConfigurationError, match="servers fetch only https URLs"):
        url_of("http://example.org/x.png")


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (b"", r"is empty \(0 bytes\)"),
        (b"plain text, no image", "not an image this provider recognizes"),
        ("   ", "empty string"),
        ({"url": "x"}, "is a dict: give an https URL"),
        (42, "is a int"),
        ("/no/such/file.png", "there is no file"),
    ],
)
def test_bad_images_name_the_problem(image, words):
    with pytest.raises(ConfigurationError, match=words):
        image_parts([b"\x89PNG\r\n\x1a\n", image])


def test_the_size_limit_is_checked_before_reading_a_file(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 3 * 1024 * 1024)
    with pytest.raises(
        ConfigurationError, match=r"images\[0\] is 3.0 MB, over the limit of 2.0 MB per image"
    ):
        image_parts(str(big), max_bytes=2 * 1024 * 1024)
    with pytest.raises(ConfigurationError, match="max_image_bytes=0"):
        image_parts(str(big), max_bytes=0)


def test_images_join_the_last_user_turn_and_logs_show_only_counts():
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    parts = image_parts([GIF, "https://example.org/x.png"])
    sent = attach_images(messages, parts)
    assert sent[:2] == messages[:2]
    assert sent[2] == {"role": "user", "content": [{"type": "text", "text": "c"}, *parts]}
    assert messages[2] == {"role": "user", "content": "c"}  # the caller's list is not changed
    assert describe(sent) == (3, 2, len(GIF))
    text = str(ChatRequest(where="endpoint x", model="m", messages=sent, generation={}))
    assert text == "endpoint x, model m, 3 message(s), 3 prompt characters, 2 image(s) of 0.0 KB inline"
    assert "base64" not in text
