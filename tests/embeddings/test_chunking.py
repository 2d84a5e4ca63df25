"""Chunking: boundaries, offsets, overlap and sizes, by characters and by a real ``tokenizers`` tokenizer.

The property checks run the chunker over many seeded random documents (words, sentences, paragraphs,
long unbroken runs, non-ASCII text) and check what must hold for every one of them.
"""

from __future__ import annotations

import itertools
import random
import string
from typing import TYPE_CHECKING

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from airflow_provider_huggingface.embeddings import Chunk, TextChunker, chunk_documents
from airflow_provider_huggingface.exceptions import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "while",
    "river",
    "boats",
    "drift",
    "past",
    "old",
    "stone",
    "bridges",
    "at",
    "dawn",
]
ODD = ["naïve", "café", "Straße", "日本語", "🎉", "x" * 40, "-", "(note)"]


def random_document(rng: random.Random) -> str:
    """Paragraphs of sentences of words, with odd words, runs of spaces and now and then a long run."""
    paragraphs = []
    for _ in range(rng.randint(0, 6)):
        sentences = []
        for _ in range(rng.randint(1, 6)):
            words = [rng.choice(ODD if rng.random() < 0.1 else WORDS) for _ in range(rng.randint(1, 14))]
            sentences.append(" ".join(words).capitalize() + rng.choice([".", "?", "!", ""]))
        paragraphs.append(rng.choice([" ", "  ", "\n"]).join(sentences))
    if rng.random() < 0.2:
        paragraphs.append("".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(50, 400))))
    return rng.choice(["\n\n", "\n\n\n", "\n"]).join(paragraphs)


def check_chunks(text: str, chunks: list[Chunk]) -> None:
    """What holds for every chunking, in any unit: offsets, coverage, order and overlap."""
    covered = [False] * len(text)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text
        assert chunk.text == chunk.text.strip()
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    missed = [i for i, char in enumerate(text) if not char.isspace() and not covered[i]]
    assert not missed, f"characters {missed[:5]} are in no chunk"
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    for before, after in itertools.pairwise(chunks):
        assert after.start >= before.start
        assert after.end > before.end
        # No gap but whitespace between consecutive chunks.
        assert after.start <= before.end or text[before.end : after.start].isspace()


# ------------------------------------------------------------------------------------------- characters


@pytest.mark.parametrize("seed", range(300))
def test_character_chunks_hold_for_random_documents(seed: int) -> None:
    rng = random.Random(seed)
    text = random_document(rng)
    chunk_size = rng.choice([8, 20, 50, 120, 500])
    overlap = rng.choice([0, 1, chunk_size // 5, chunk_size // 2, chunk_size - 1])

    chunks = list(TextChunker(chunk_size=chunk_size, overlap=overlap).chunk(text, document_id="d"))

    check_chunks(text, chunks)
    assert all(len(chunk.text) <= chunk_size for chunk in chunks)
    for before, after in itertools.pairwise(chunks):
        assert after.start > before.start
        assert before.end - after.start <= overlap
        if overlap == 0:
            assert after.start >= before.end
    assert {chunk.document_id for chunk in chunks} <= {"d"}
    # The same text always splits the same way.
    assert list(TextChunker(chunk_size=chunk_size, overlap=overlap).chunk(text, document_id="d")) == chunks


def test_breaks_prefer_paragraphs_then_sentences_then_words() -> None:
    paragraph = "The first paragraph is about cats. It ends here."
    text = f"{paragraph}\n\nThe second one is about dogs and it is long enough to need a cut somewhere."
    chunks = list(TextChunker(chunk_size=70, overlap=0).chunk(text))
    assert chunks[0].text == paragraph

    sentences = "Cats sleep a lot during the day. Dogs like to run around outside. Birds sing."
    chunks = list(TextChunker(chunk_size=60, overlap=0).chunk(sentences))
    assert chunks[0].text == "Cats sleep a lot during the day."

    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda"
    chunks = list(TextChunker(chunk_size=30, overlap=0).chunk(words))
    assert [c.text for c in chunks] == [
        "alpha beta gamma delta",
        "epsilon zeta eta theta iota",
        "kappa lambda",
    ]


def test_overlap_repeats_whole_words_from_the_chunk_before() -> None:
    text = " ".join(f"w{i:02d}" for i in range(40))  # 4-character words, 159 characters
    chunks = list(TextChunker(chunk_size=40, overlap=12).chunk(text))

    for before, after in itertools.pairwise(chunks):
        shared = text[after.start : before.end]
        assert 0 < len(shared) <= 12
        assert shared.startswith("w")  # starts at a word, never inside one
        assert after.text.startswith(shared)
    assert chunks[0].text.startswith("w00")
    assert chunks[-1].text.endswith("w39")


def test_a_run_without_spaces_is_cut_at_the_limit() -> None:
    text = "a" * 25
    chunks = list(TextChunker(chunk_size=10, overlap=3).chunk(text))
    assert [(c.start, c.end) for c in chunks] == [(0, 10), (7, 17), (14, 24), (21, 25)]


def test_short_empty_and_blank_documents() -> None:
    chunker = TextChunker()
    assert [c.text for c in chunker.chunk("  short text \n")] == ["short text"]
    assert next(iter(chunker.chunk("  short text \n"))).start == 2
    assert list(chunker.chunk("")) == []
    assert list(chunker.chunk(" \n\n\t ")) == []


def test_documents_as_strings_pairs_and_mappings_keep_their_ids() -> None:
    documents = [
        "first text",
        ("doc-b", "second text"),
        {"id": 42, "text": "third text"},
        {"body": "fourth text", "name": "n"},
        {"body": "fifth text"},
    ]
    chunks = list(chunk_documents(documents[:3], chunk_size=100, overlap=10))
    assert [(c.document_id, c.text) for c in chunks] == [
        (0, "first text"),
        ("doc-b", "second text"),
        (42, "third text"),
    ]
    keyed = list(chunk_documents(documents[3:], id_key="name", text_key="body"))
    assert [(c.document_id, c.text) for c in keyed] == [("n", "fourth text"), (1, "fifth text")]
    assert keyed[0].as_dict() == {
        "id": "n:0",
        "document_id": "n",
        "index": 0,
        "start": 0,
        "end": 11,
        "text": "fourth text",
    }


def test_documents_are_read_one_at_a_time() -> None:
    read: list[int] = []

    def documents():
        for i in range(3):
            read.append(i)
            yield f"document number {i}"

    chunks = chunk_documents(documents(), chunk_size=100, overlap=0)
    assert read == []
    assert next(chunks).document_id == 0
    assert read == [0]
    assert [c.document_id for c in chunks] == [1, 2]


def test_default_sizes() -> None:
    chunker = TextChunker()
    assert (chunker.chunk_size, chunker.overlap, chunker.unit) == (1000, 200, "characters")
    assert TextChunker(chunk_size=100).overlap == 20
    assert TextChunker(chunk_size=4).overlap == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_size": 100, "overlap": 100}, "chunk_size must be larger than overlap"),
        ({"chunk_size": 10, "overlap": 50}, "chunk_size must be larger than overlap"),
        ({"chunk_size": 0, "overlap": 0}, "chunk_size must be larger than overlap"),
        ({"chunk_size": 100, "overlap": -1}, "overlap=-1: give 0"),
        ({"chunk_size": 10.5, "overlap": 2}, "chunk_size=10.5: give a whole number of characters"),
        ({"chunk_size": 100, "overlap": 2.0}, "overlap=2.0: give a whole number"),
        ({"chunk_size": True, "overlap": 0}, "chunk_size=True"),
        ({"chunk_size": "100", "overlap": 0}, "chunk_size='100'"),
    ],
)
def test_bad_sizes_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        TextChunker(**kwargs)


def test_bad_documents_are_refused_with_their_position() -> None:
    with pytest.raises(ConfigurationError, match=r"document 1: it has no 'text' key \(it has \['body'\]\)"):
        list(chunk_documents(["fine", {"body": "x"}]))
    with pytest.raises(ConfigurationError, match="document 0: a document is a string"):
        list(chunk_documents([b"bytes"]))
    with pytest.raises(ConfigurationError, match="document 'a': its text must be a string, not int"):
        list(chunk_documents([("a", 5)]))


# ------------------------------------------------------------------------------------------- tokens


def word_tokenizer(truncate_at: int | None = None) -> Tokenizer:
    """A tiny word-level tokenizer: one token per word or run of punctuation, [UNK] for the rest."""
    vocab = {"[UNK]": 0, **{word: i + 1 for i, word in enumerate(sorted(set(WORDS)))}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    if truncate_at is not None:
        tokenizer.enable_truncation(truncate_at)
    return tokenizer


def byte_bpe_tokenizer() -> Tokenizer:
    """A byte-level BPE (GPT-2 style) trained in the test on a few sentences: no download."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator([" ".join(WORDS)] * 5 + ["naïve café 日本語"], trainer)
    return tokenizer


def token_count(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


@pytest.mark.parametrize("seed", range(60))
def test_token_chunks_hold_for_random_documents(seed: int) -> None:
    rng = random.Random(seed)
    text = random_document(rng)
    tokenizer = word_tokenizer()
    chunk_size = rng.choice([3, 8, 32])
    overlap = rng.choice([0, 1, chunk_size // 2, chunk_size - 1])

    chunks = list(TextChunker(chunk_size=chunk_size, overlap=overlap, tokenizer=tokenizer).chunk(text))

    check_chunks(text, chunks)
    sizes = [token_count(tokenizer, chunk.text) for chunk in chunks]
    assert all(size <= chunk_size for size in sizes)
    # Every chunk but the last is a full window, and consecutive windows share exactly `overlap` tokens.
    assert all(size == chunk_size for size in sizes[:-1])
    for before, after in itertools.pairwise(chunks):
        shared = text[after.start : before.end] if after.start < before.end else ""
        assert token_count(tokenizer, shared) == overlap


def test_token_offsets_are_characters_not_bytes() -> None:
    text = "naïve café 日本語 🎉 the cat sat on a mat while river boats drift"
    tokenizer = byte_bpe_tokenizer()
    chunks = list(TextChunker(chunk_size=4, overlap=1, tokenizer=tokenizer).chunk(text, document_id="u"))

    check_chunks(text, chunks)
    assert chunks[0].text.startswith("naïve")
    assert chunks[-1].text.endswith("drift")
    assert len(chunks) > 3


def test_a_truncating_tokenizer_still_sees_the_whole_document() -> None:
    # tokenizer.json files often truncate at the model's limit; chunking must not lose the tail.
    tokenizer = word_tokenizer(truncate_at=4)
    text = " ".join(WORDS)
    chunks = list(TextChunker(chunk_size=5, overlap=0, tokenizer=tokenizer).chunk(text))

    assert chunks[-1].text.endswith("dawn")
    assert sum(token_count(word_tokenizer(), c.text) for c in chunks) == len(WORDS)
    assert tokenizer.truncation is not None  # the caller's tokenizer is left as it was


def test_tokenizer_from_a_local_file_and_the_token_defaults(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    word_tokenizer().save(str(path))

    chunker = TextChunker(tokenizer=path)
    assert (chunker.chunk_size, chunker.overlap, chunker.unit) == (256, 32, "tokens")
    chunks = list(
        chunk_documents([("d", "the cat sat on a mat")], chunk_size=2, overlap=0, tokenizer=str(path))
    )
    assert [c.text for c in chunks] == ["the cat", "sat on", "a mat"]


def test_a_transformers_style_tokenizer_is_unwrapped() -> None:
    class FastTokenizer:  # what transformers' PreTrainedTokenizerFast exposes
        backend_tokenizer = word_tokenizer()

    chunks = list(
        TextChunker(chunk_size=3, overlap=0, tokenizer=FastTokenizer()).chunk("the cat sat on a mat")
    )
    assert [c.text for c in chunks] == ["the cat sat", "on a mat"]


def test_tokenizer_problems_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"no such file.*never downloads"):
        TextChunker(tokenizer="sentence-transformers/all-MiniLM-L6-v2")
    broken = tmp_path / "tokenizer.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigurationError, match=r"not a tokenizer\.json the tokenizers package can read"):
        TextChunker(tokenizer=broken)
    with pytest.raises(ConfigurationError, match=r"give a tokenizers\.Tokenizer or the path"):
        TextChunker(tokenizer=42)
    with pytest.raises(ConfigurationError, match="give a whole number of tokens"):
        TextChunker(tokenizer=word_tokenizer(), chunk_size=2.5)


def test_a_missing_tokenizers_package_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    word_tokenizer().save(str(path))
    # A None entry in sys.modules makes `import tokenizers` raise ImportError, as when it is not installed.
    monkeypatch.setitem(__import__("sys").modules, "tokenizers", None)

    with pytest.raises(ConfigurationError, match=r"needs the `tokenizers` package; install it with `pip"):
        TextChunker(tokenizer=path)
    # Counting characters needs no tokenizers at all.
    assert [c.text for c in TextChunker(chunk_size=10, overlap=0).chunk("plain text")] == ["plain text"]
