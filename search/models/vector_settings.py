"""What stored vectors are besides the model's output, as the indexer writes them and the application
asks for them (kept here, below both, so the application layer never imports the indexer for it)."""

from __future__ import annotations

from dataclasses import dataclass

from search.models.language_bias import LanguageCentering


@dataclass(frozen=True)
class VectorSettings:
    """What the stored vectors are besides the model's output: the language correction applied to
    them and the search-time feedback they were measured with (both recorded per collection)."""

    correction: LanguageCentering | None = None
    feedback: str | None = None

    @property
    def names(self) -> tuple[str | None, str | None]:
        return (self.correction.name if self.correction else None, self.feedback)


RAW_VECTORS = VectorSettings()
