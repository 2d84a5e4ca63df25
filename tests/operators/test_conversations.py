"""``messages`` and ``images`` of the chat operators in real DAG runs against the fake: what was sent."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from tests.airflow_internals import without_supervisor_echo

TOKEN = "hf_conversationcanary0001"
FEW_SHOT = [
    {"role": "user", "content": "Ticket: I was charged twice for May."},
    {"role": "assistant", "content": "Sorry about the double charge; a refund is on its way."},
    {"role": "user", "content": "Ticket: the app crashes."},
    {"role": "assistant", "content": "Thanks, we are looking into the crash."},
]


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 1})
    return fake_hf


def requests_by_task(fake, run_order: list[str]) -> dict:
    return dict(zip(run_order, fake.chat_requests, strict=True))


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\0"))
        + chunk(b"IEND", b"")
    )


def test_messages_are_sent_in_order_with_their_templates_rendered(fake_conn, run_dag):
    fake_conn.reply = lambda body: "|".join(m["role"][0] for m in body["messages"])
    run = run_dag("hf_messages")
    assert run.state == "success", run.states
    bodies = {
        tuple(m["role"][0] for m in r.body["messages"]): r.body["messages"] for r in fake_conn.chat_requests
    }
    asked = {"role": "user", "content": "Ticket: Where is my {{params.month}} invoice?"}  # XCom data stays
    # system_prompt first, then the messages in order, then user_prompt.
    system = {"role": "system", "content": "You answer support tickets for hf_messages."}
    assert bodies[("s", "u", "a", "u", "a", "u")] == [system, *FEW_SHOT, asked]
    assert run.xcom["few_shot"]["text"] == "s|u|a|u|a|u"
    # messages alone, ending with a user turn.
    assert bodies[("u", "a", "u", "a", "u")] == [*FEW_SHOT, asked]
    # A list from XCom, and a value mapped from one, are data: not rendered. A list written in the
    # DAG file's expand() is text of the DAG file: a template.
    assert run.xcom["from_xcom"]["text"] == run.xcom["mapped[0]"]["text"] == "u"
    singles = sorted(
        r.body["messages"][0]["content"] for r in fake_conn.chat_requests if len(r.body["messages"]) == 1
    )
    assert singles == ["Earlier: {{params.month}} and }} stay", "literal May", "mapped {{params.month}}"]
    # The decorator: its messages are templates, its function's prompt comes last.
    assert bodies[("u", "a", "u")] == [*FEW_SHOT[:2], asked]
    assert len(fake_conn.chat_requests) == 6


@pytest.mark.parametrize(
    ("task_id", "words"),
    [
        ("bad_role", ["messages[0] has the role 'tool'", "system, user, assistant"]),
        ("empty", ["messages is empty", "leave messages out"]),
        ("ends_with_assistant", ["ends with assistant, not a user turn", "give user_prompt"]),
        ("not_a_list", ["messages must be a list of messages", "not str"]),
        ("bad_template", ["messages[0].content", "missing.path"]),
    ],
)
def test_bad_messages_fail_before_any_call(fake_conn, run_dag, capsys, task_id, words):
    run = run_dag("hf_messages_bad")
    assert run.states[task_id] == "failed"
    log = capsys.readouterr().out
    for word in words:
        assert word in log
    assert fake_conn.chat_requests == []


def test_images_go_to_the_last_user_turn_as_data_urls(fake_conn, run_dag, tmp_path, capsys):
    png, jpeg, text = tmp_path / "p.png", tmp_path / "photo.jpg", tmp_path / "notes.txt"
    png.write_bytes(tiny_png())
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    text.write_text("not an image")
    run = run_dag("hf_images", run_conf={"png": str(png), "jpeg": str(jpeg), "text": str(text)})
    assert run.states["look"] == "success"
    assert run.states["deferred_look"] == "success"
    by_text = {r.body["messages"][-1]["content"][0]["text"]: r.body for r in fake_conn.chat_requests}
    assert set(by_text) == {"What is in these pictures?", "Describe"}
    (user,) = by_text["What is in these pictures?"]["messages"]
    text_part, linked, inline_png, inline_jpeg = user["content"]
    assert text_part == {"type": "text", "text": "What is in these pictures?"}
    assert linked == {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}}
    assert inline_png["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    assert inline_jpeg["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")
    assert by_text["Describe"]["messages"][0]["content"][1] == inline_png
    # The log says how many and how large; no data URL reaches it, nor the XCom.
    log = without_supervisor_echo(capsys.readouterr().out)
    assert "3 image(s) of 0.1 KB inline" in log or "3 image(s) of 0.2 KB inline" in log
    assert "base64," not in log
    assert "base64" not in str(run.xcom)
    assert run.states["too_big"] == "failed"
    assert "images[0] is 0.1 KB, over the limit of 0.0 KB per image" in log
    assert "raise max_image_bytes" in log
    assert run.states["not_an_image"] == "failed"
    assert "images[0] is not an image this provider recognizes" in log


def test_an_upstream_output_as_a_turn_is_sent_as_data(fake_conn, run_dag):
    run = run_dag("hf_messages_edges")
    assert run.states["turn_from_upstream"] == "success", run.states
    assert run.states["batch_turn_from_upstream"] == "success", run.states
    bodies = [r.body for r in fake_conn.chat_requests]
    single = [b for b in bodies if b["messages"][0]["role"] == "system"]
    assert [m["content"] for m in single[0]["messages"]] == [
        "You answer in hf_messages_edges.",
        "What is {{params.question}} made of?",
    ]
    batched = sorted((b for b in bodies if b["messages"][0]["role"] == "user"), key=lambda b: str(b))
    assert [[m["content"] for m in b["messages"]] for b in batched] == [
        ["What is {{params.question}} made of?", "Ask on.", f"And {item}?"] for item in ("x", "y")
    ]


def test_a_last_turn_that_renders_to_blanks_is_refused_before_any_call(fake_conn, run_dag, capsys):
    run = run_dag("hf_messages_edges")
    assert run.states["blank_last_turn"] == "failed"
    sent = [r.body["messages"][-1]["content"] for r in fake_conn.chat_requests]
    assert "   " not in sent
    log = without_supervisor_echo(capsys.readouterr().out)
    assert "messages[0].content, the conversation's last user turn, is empty" in log
