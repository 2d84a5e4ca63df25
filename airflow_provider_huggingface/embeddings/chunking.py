"""Split long documents into overlapping chunks before embedding them.

Each :class:`Chunk` keeps its document's id, its position in the document and its character offsets,
so ``document[chunk.start:chunk.end] == chunk.text`` and a retrieved chunk can be traced back::

    from airflow_provider_huggingface.embeddings import chunk_documents

    for chunk in chunk_documents(
        [{"id": "guide.md", "text": guide}, {"id": "faq.md", "text": faq}],
        chunk_size=800,
        overlap=100,
    ):
        rows.append(chunk.as_dict())  # {"id": "guide.md:0", "document_id": "guide.md", ...}

Sizes are counted in characters by default. A chunk ends at the last paragraph break in the second half
of its window, else the last line break, sentence end or space there, else at the size limit; the next
chunk starts at the first word that begins in the last ``overlap`` characters of the one before (or just
after it, when only whitespace lies between), so two chunks share at most ``overlap`` characters. With a
``tokenizer`` (a ``tokenizers.Tokenizer``, a ``transformers`` fast tokenizer, or the path of a local
``tokenizer.json``; needs the ``tokenizers`` package, and nothing is ever downloaded), sizes are counted
in the model's tokens: each chunk is ``chunk_size`` tokens, and consecutive chunks share ``overlap``
tokens.

Chunks are trimmed of surrounding whitespace and blank ones are left out, so every non-whitespace
character of a document is in at least one chunk. Documents are read one at a time: a generator of
documents is chunked as it is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_huggingface.exceptions import ConfigurationError

__all__ = [
    "DEFAULT_SEPARATORS",
    "Chunk",
    "TextChunker",
    "chunk_documents",
]

# Where a character chunk prefers to end, best first: paragraph, line, sentence, word.
DEFAULT_SEPARATORS = ("\n\n", "\n", ". ", "? ", "! ", " ")
# (chunk_size, overlap divisor) when none is given: a chunk of about a page of text repeating a fifth of
# it, or 256 tokens (well inside the common embedding models' 512-token limit) repeating an eighth.
_CHARACTER_DEFAULTS = (1000, 5)
_TOKEN_DEFAULTS = (256, 8)
# A non-whitespace character at the start of the text or after whitespace.
_WORD_START = re.compile(r"(?<!\S)\S")
_TOKENIZERS_HINT = "install it with `pip install tokenizers`"


@dataclass(frozen=True)
class Chunk:
    """One piece of a document.

    :param document_id: the id of the document it comes from.
    :param index: its position among the document's chunks (0, 1, ...).
    :param start: the offset of its first character in the document.
    :param end: the offset just past its last character (``document[start:end] == text``).
    :param text: its text.
    """

    document_id: Any
    index: int
    start: int
    end: int
    text: str

    @property
    def id(self) -> str:
        """``"<document_id>:<index>"``, unique across documents with unique ids."""
        return f"{self.document_id}:{self.index}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for an XCom or a JSON Lines file): ``id``, ``document_id``, ``index``,
        ``start``, ``end`` and ``text``."""
        return {
            "id": self.id,
            "document_id": self.document_id,
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "text": self.text,
        }


class TextChunker:
    """Splits texts into overlapping chunks; build it once and use it for many documents.

    :param chunk_size: the most characters (or tokens, with ``tokenizer``) in a chunk. Default 1000
        characters, or 256 tokens.
    :param overlap: how many characters (or tokens) a chunk may repeat from the end of the one before,
        so a sentence cut by a boundary is whole in one of them; smaller than ``chunk_size``. Default a
        fifth of ``chunk_size`` in characters, an eighth in tokens.
    :param tokenizer: count in this tokenizer's tokens instead of characters: a ``tokenizers.Tokenizer``,
        a ``transformers`` fast tokenizer, or the path of a local ``tokenizer.json`` file.
    :param separators: for character chunks, where a chunk prefers to end, best first.
    """

    def __init__(
        self,
        *,
        chunk_size: int | None = None,
        overlap: int | None = None,
        tokenizer: Any = None,
        separators: Iterable[str] = DEFAULT_SEPARATORS,
    ) -> None:
        self.unit = "characters" if tokenizer is None else "tokens"
        default_size, divisor = _CHARACTER_DEFAULTS if tokenizer is None else _TOKEN_DEFAULTS
        self.chunk_size = default_size if chunk_size is None else chunk_size
        if overlap is None:
            overlap = self.chunk_size // divisor if isinstance(self.chunk_size, int) else 0
        self.overlap = overlap
        _check_sizes(self.chunk_size, self.overlap, self.unit)
        self.separators = tuple(s for s in separators if s)
        self._tokenizer: Any = None if tokenizer is None else _load_tokenizer(tokenizer)

    def __repr__(self) -> str:
        return f"TextChunker(chunk_size={self.chunk_size}, overlap={self.overlap}, unit={self.unit!r})"

    def chunk(self, text: str, *, document_id: Any = None) -> Iterator[Chunk]:
        """The chunks of one text, in order."""
        if not isinstance(text, str):
            raise ConfigurationError(
                f"document {document_id!r}: its text must be a string, not {type(text).__name__}."
            )
        spans = self._token_spans(text) if self._tokenizer is not None else self._character_spans(text)
        index = previous_end = 0
        for start, end in spans:
            start, end = _trim(text, start, end)
            # Left out: a blank span, and one that trimming (or a character made of several tokens, as
            # byte-level BPE splits rare characters) leaves inside the chunk before.
            if start < end and end > previous_end:
                yield Chunk(document_id, index, start, end, text[start:end])
                index += 1
                previous_end = end

    def chunk_documents(
        self, documents: Iterable[Any], *, id_key: str = "id", text_key: str = "text"
    ) -> Iterator[Chunk]:
        """The chunks of each document, document after document.

        A document is a string (its id is its position, from 0), an ``(id, text)`` pair, or a mapping
        with the text under ``text_key`` and the id under ``id_key`` (its position when missing).
        """
        for position, document in enumerate(documents):
            document_id, text = _document(document, position, id_key, text_key)
            yield from self.chunk(text, document_id=document_id)

    # ---- characters

    def _character_spans(self, text: str) -> Iterator[tuple[int, int]]:
        size, overlap, length = self.chunk_size, self.overlap, len(text)
        start = 0
        while start < length:
            limit = start + size
            if limit >= length:
                yield start, length
                return
            end = limit
            # Never before this: the next chunk must start after this one does, and a chunk that ends
            # at the first separator it meets could be a few characters long.
            earliest = start + max(overlap + 1, size // 2)
            for separator in self.separators:
                found = text.rfind(separator, earliest, limit)
                if found != -1:
                    end = found + len(separator)
                    break
            yield start, end
            start = end - overlap
            # Start at a word rather than inside one: the first word that starts within the overlap, or
            # right after this chunk when only whitespace lies between (that boundary then has no overlap).
            word = _WORD_START.search(text, start, min(length, end + size))
            if word is not None and (word.start() <= end or text[end : word.start()].isspace()):
                start = word.start()

    # ---- tokens

    def _token_spans(self, text: str) -> Iterator[tuple[int, int]]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        offsets = [offset for offset in encoding.offsets if offset[1] > offset[0]]
        step = self.chunk_size - self.overlap
        for first in range(0, len(offsets), step):
            last = min(first + self.chunk_size, len(offsets)) - 1
            yield offsets[first][0], offsets[last][1]
            if last == len(offsets) - 1:
                return


def chunk_documents(
    documents: Iterable[Any],
    *,
    chunk_size: int | None = None,
    overlap: int | None = None,
    tokenizer: Any = None,
    id_key: str = "id",
    text_key: str = "text",
) -> Iterator[Chunk]:
    """Chunk each document in turn; see :class:`TextChunker` for the sizes and the tokenizer and
    :meth:`TextChunker.chunk_documents` for what a document may be."""
    chunker = TextChunker(chunk_size=chunk_size, overlap=overlap, tokenizer=tokenizer)
    return chunker.chunk_documents(documents, id_key=id_key, text_key=text_key)


# ---------------------------------------------------------------------------------------------- helpers


def _check_sizes(chunk_size: Any, overlap: Any, unit: str) -> None:
    for name, value in (("chunk_size", chunk_size), ("overlap", overlap)):
        # bool is an int to Python, but chunk_size=True is a mistake.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(
                f"{name}={value!r}: give a whole number of {unit}, such as chunk_size=1000, overlap=200."
            )
    if overlap < 0:
        raise ConfigurationError(f"overlap={overlap}: give 0 (no overlap) or more {unit}.")
    if chunk_size <= overlap:
        raise ConfigurationError(
            f"chunk_size={chunk_size}, overlap={overlap}: chunk_size must be larger than overlap, "
            f"or no chunk would move past the one before; e.g. overlap={chunk_size // 5}."
        )


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _document(document: Any, position: int, id_key: str, text_key: str) -> tuple[Any, Any]:
    if isinstance(document, str):
        return position, document
    if isinstance(document, Mapping):
        if text_key not in document:
            raise ConfigurationError(
                f"document {position}: it has no {text_key!r} key (it has {sorted(map(str, document))}); "
                "name the key that holds the text with text_key=..."
            )
        return document.get(id_key, position), document[text_key]
    if isinstance(document, (tuple, list)) and len(document) == 2:
        return document[0], document[1]
    raise ConfigurationError(
        f"document {position}: a document is a string, an (id, text) pair or a mapping with "
        f"{text_key!r} (and {id_key!r}), not {type(document).__name__}."
    )


def _load_tokenizer(tokenizer: Any) -> Any:
    """A ``tokenizers.Tokenizer`` that neither truncates nor pads; nothing is downloaded."""
    # transformers' fast tokenizers wrap a tokenizers.Tokenizer.
    tokenizer = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = _tokenizer_from_file(os.fspath(tokenizer))
    elif not callable(getattr(tokenizer, "encode", None)):
        raise ConfigurationError(
            f"tokenizer={tokenizer!r}: give a tokenizers.Tokenizer or the path of a tokenizer.json file."
        )
    if getattr(tokenizer, "truncation", None) or getattr(tokenizer, "padding", None):
        # A tokenizer.json often sets truncation to the model's limit, which would silently drop the end
        # of every long document. Work on a copy, so the caller's tokenizer is left as it was.
        tokenizer = type(tokenizer).from_str(tokenizer.to_str())
        tokenizer.no_truncation()
        tokenizer.no_padding()
    return tokenizer


def _tokenizer_from_file(path: str) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ConfigurationError(
            f"tokenizer={path!r}: counting chunks in tokens needs the `tokenizers` package; "
            f"{_TOKENIZERS_HINT}, or leave tokenizer out to count characters."
        ) from None
    if not os.path.isfile(path):
        raise ConfigurationError(
            f"tokenizer={path!r}: there is no such file. Give the path of a local tokenizer.json (chunking "
            "never downloads one: fetch the model's tokenizer.json first, e.g. with huggingface_hub's "
            "hf_hub_download) or a tokenizers.Tokenizer."
        )
    try:
        return Tokenizer.from_file(path)
    except Exception as exc:
        raise ConfigurationError(
            f"tokenizer={path!r}: not a tokenizer.json the tokenizers package can read ({exc})."
        ) from None
