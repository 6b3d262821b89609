"""Embedder and reranker implementations, one module per model family."""
