"""How many texts an embedding request holds (_internal/embed_flow.py): lowered once on a 413."""

from __future__ import annotations

import logging

from airflow_provider_huggingface._internal.embed_flow import TextsPerRequest
from airflow_provider_huggingface.exceptions import InvalidRequestError

TEI = "batch size 32 > maximum allowed batch size 8"


def too_large(said: str | None = TEI) -> InvalidRequestError:
    return InvalidRequestError("413", status_code=413, server_message=said)


def test_a_413_lowers_the_size_to_the_maximum_it_names_and_says_so_once(caplog):
    log = logging.getLogger("test")
    limit = TextsPerRequest(32)
    with caplog.at_level(logging.WARNING):
        assert limit.lower(32, too_large(), log) == 8
        assert limit.lower(32, too_large(), log) == 8  # another call in flight met it too
    assert limit.size == 8
    assert len(caplog.records) == 1
    assert "HTTP 413: batch size 32 > maximum allowed batch size 8): 8 texts a request" in caplog.text


def test_a_413_without_a_maximum_halves_and_a_lone_text_or_another_error_is_not_cut():
    log = logging.getLogger("test")
    limit = TextsPerRequest()
    assert limit.lower(10, too_large("Payload Too Large"), log) == 5
    assert limit.lower(1, too_large(), log) is None  # one text too long: nothing to cut
    assert limit.lower(10, InvalidRequestError("400", status_code=400, server_message=TEI), log) is None
    assert limit.size == 5
