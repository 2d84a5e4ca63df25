"""Images as content parts: MIME types from bytes, size limits, what a log line may show."""

from __future__ import annotations

import base64

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_huggingface._internal.chat import ChatRequest
from airflow_provider_huggingface._internal.images import attach_images, describe, image_parts
from airflow_provider_huggingface.exceptions import ConfigurationError
from tests.airflow_internals import task_log

GIF = b"GIF89a" + b"\0" * 20
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8
JPEG = b"\xff\xd8\xff\xe0\0\x10JFIF\0" + b"\0" * 20
HTML = b"<!DOCTYPE html>\n<html><head><title>Car photo - Example</title></head><body>...</body></html>"
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


def test_paths_object_storage_and_file_uris(tmp_path):
    folder = tmp_path / "my photos"
    folder.mkdir()
    gif = folder / "a.gif"
    gif.write_bytes(GIF)
    assert url_of(str(gif)).startswith("data:image/gif;base64,")
    assert url_of(gif).startswith("data:image/gif;base64,")
    assert url_of(ObjectStoragePath(f"file://{gif}")).startswith("data:image/gif;base64,")
    assert url_of(f"file://{gif}").startswith("data:image/gif;base64,")
    # Path.as_uri() escapes the space as %20: that names the same file.
    assert url_of(gif.as_uri()).startswith("data:image/gif;base64,")
    assert url_of(ObjectStoragePath(gif.as_uri())).startswith("data:image/gif;base64,")


def test_urls_pass_through_and_data_urls_are_checked():
    assert url_of("https://example.org/x.png") == "https://example.org/x.png"
    data_url = "data:image/png;base64," + base64.b64encode(PNG + b"x" * 14).decode()
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
        ("/no/such/file.png", "there is no such file"),
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


# ---------------------------------------------------------------------------------------------
# The type comes from the bytes: what is not an image is refused before any call


def data_url_of(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize(
    ("content", "looks"),
    [
        (HTML, "starts like HTML"),
        (b"\n  <html lang='en'><body>403 Forbidden</body></html>", "starts like HTML"),
        (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", "starts like SVG"),
        (b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>", "starts like XML"),
        (b'{"error": "not found"}', "starts like JSON"),
        (b"%PDF-1.7 ...", "is a PDF document"),
        (b"Just some words.", "starts like plain text"),
        (b"\x00\x01\x02\x03\xfe\xfd\xfc\xfb\xfa", "starts with the bytes 00 01 02 03 fe fd fc fb"),
    ],
)
def test_a_file_named_like_an_image_that_is_none_is_refused_saying_what_it_looks_like(
    tmp_path, content, looks
):
    car = tmp_path / "car.jpg"
    car.write_bytes(content)
    with pytest.raises(ConfigurationError) as error:
        image_parts(str(car))
    message = str(error.value)
    assert message.startswith(f"images[0] is not an image this provider recognizes: {str(car)!r} {looks}")
    assert "not by a name or a header" in message


def test_data_urls_are_sniffed_too(tmp_path):
    # The header says PNG, the bytes are JPEG: the bytes win.
    assert url_of(data_url_of(JPEG)) == data_url_of(JPEG, "image/jpeg")
    assert url_of(data_url_of(JPEG, "application/octet-stream")) == data_url_of(JPEG, "image/jpeg")
    assert url_of(data_url_of(PNG)) == data_url_of(PNG)  # the same string, not rebuilt
    with pytest.raises(ConfigurationError, match=r"images\[0\] is an empty data: URL \(0 bytes\)"):
        url_of("data:image/png;base64,")
    with pytest.raises(
        ConfigurationError, match="not an image this provider recognizes: its payload starts like HTML"
    ):
        url_of(data_url_of(HTML))
    with pytest.raises(ConfigurationError, match="payload is not valid base64"):
        url_of("data:image/png;base64,not*base64")


def test_a_large_data_url_is_not_decoded_whole_to_tell_its_type():
    # A valid start and a tail that is not base64: decoding it whole would fail.
    url = data_url_of(PNG + b"\0" * 3000) + "!!!!" * 1000
    assert url_of(url) == url


def test_bytes_given_directly_are_sniffed():
    assert url_of(JPEG) == data_url_of(JPEG, "image/jpeg")
    with pytest.raises(ConfigurationError, match="the data starts like HTML"):
        url_of(HTML)


def test_a_folder_is_not_an_image(tmp_path):
    with pytest.raises(ConfigurationError, match="names a folder, not a file"):
        url_of(str(tmp_path))


# ---------------------------------------------------------------------------------------------
# In a DAG run (tests/dags/hf_inputs.py): a web page saved as car.jpg costs no call


def test_a_web_page_saved_as_car_jpg_fails_the_task_before_any_call(
    fake_hf, use_connection, dagbag, tmp_path, capsys, caplog
):
    use_connection("hf_fake", host=fake_hf.url, password="hf_imagestestcanary000001")
    car = tmp_path / "car.jpg"
    car.write_bytes(HTML)
    dag_run = dagbag["hf_inputs_image"].test(run_conf={"image": str(car)})
    ((state, tries),) = [(str(ti.state), ti.try_number) for ti in dag_run.get_task_instances()]
    assert (state, tries) == ("failed", 1)  # the DAG allows a retry: none is spent on it
    assert fake_hf.chat_requests == []
    log = task_log(capsys, caplog)
    assert f"images[0] is not an image this provider recognizes: {str(car)!r} starts like HTML" in log
