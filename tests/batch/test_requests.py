"""The request of each input (batch/requests.py): prompts rendered per input, or once when shared."""

from __future__ import annotations

from tests.batch.stubs import operator, stub_context


def test_a_prompt_without_item_is_rendered_once_and_shared(fake_conn):
    op = operator(inputs=["a", "b"], system_prompt="Be brief, {{run_id}}.")
    build = op.request_builder(stub_context(), op.hook)
    requests = [build(index, item) for index, item in enumerate(op.inputs)]
    assert [r.messages[0]["content"] for r in requests] == ["Be brief, r."] * 2
    assert requests[0].messages[0]["content"] is requests[1].messages[0]["content"]
    assert [r.messages[1]["content"] for r in requests] == ["a", "b"]
