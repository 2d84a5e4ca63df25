"""Embedding helpers that need no Hugging Face call: chunking long documents before embedding them."""

from __future__ import annotations

from airflow_provider_huggingface.embeddings.chunking import (
    DEFAULT_SEPARATORS,
    Chunk,
    TextChunker,
    chunk_documents,
)

__all__ = ["DEFAULT_SEPARATORS", "Chunk", "TextChunker", "chunk_documents"]
