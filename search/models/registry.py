"""One generic registry for every kind of model: names, aliases and helpful errors.

``ModelRegistry`` also resolves a local folder that carries a ``model_spec.json``;
``RerankerRegistry`` also accepts any hub id or local folder (the family is read
from its config when it is loaded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from search.core.errors import UnknownModelError
from search.models.catalog import MODEL_SPECS, RERANKER_SPECS
from search.models.hub import looks_like_hub_id
from search.models.specs import SPEC_FILENAME, ModelSpec, RerankerSpec, load_spec_file


class Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...


S = TypeVar("S", bound=Named)


class Registry(Generic[S]):
    """Specs by name and alias (aliases are case-insensitive); ``fallback`` resolves other names."""

    def __init__(
        self,
        specs: Iterable[S],
        *,
        kind: str,
        fallback: Callable[[str], S | None] | None = None,
        hint: str = "",
    ) -> None:
        self._specs: dict[str, S] = {}
        self._aliases: dict[str, str] = {}
        self._kind = kind
        self._fallback = fallback
        self._hint = hint
        for spec in specs:
            self.register(spec)

    def register(self, spec: S) -> None:
        self._specs[spec.name] = spec
        for alias in spec.aliases:
            self._aliases[alias.lower()] = spec.name

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[S]:
        return list(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._specs or name.lower() in self._aliases)

    def get(self, name: str) -> S:
        if name in self._specs:
            return self._specs[name]
        canonical = self._aliases.get(name.lower())
        if canonical:
            return self._specs[canonical]
        found = self._fallback(name) if self._fallback is not None else None
        if found is not None:
            return found
        raise UnknownModelError(
            f"Unknown {self._kind} {name!r}. Known {self._kind}s: {', '.join(self.names())}." + self._hint
        )


class ModelRegistry(Registry[ModelSpec]):
    """Known embedding models plus local folders that carry a model_spec.json (registered on first use)."""

    def __init__(self, specs: Iterable[ModelSpec] = MODEL_SPECS) -> None:
        super().__init__(
            specs,
            kind="model",
            fallback=self._from_folder,
            hint=(
                f" To use your own local model, put a {SPEC_FILENAME} in its folder "
                "(see README, 'Models') and pass the folder path."
            ),
        )

    def _from_folder(self, name: str) -> ModelSpec | None:
        folder = Path(name).expanduser()
        if not (folder / SPEC_FILENAME).is_file():
            return None
        spec = load_spec_file(folder / SPEC_FILENAME)
        self.register(spec)
        return spec


class RerankerRegistry(Registry[RerankerSpec]):
    """Known rerankers; any other hub id ("org/model") or local folder is accepted as it is."""

    def __init__(self, specs: Iterable[RerankerSpec] = RERANKER_SPECS) -> None:
        super().__init__(
            specs,
            kind="reranker",
            fallback=_any_reranker,
            hint=(
                " Any cross-encoder works by its hub id (org/name, once in the local Hugging Face cache) "
                "or by the path of its local folder."
            ),
        )


def _any_reranker(name: str) -> RerankerSpec | None:
    if Path(name).expanduser().is_dir() or looks_like_hub_id(name):
        return RerankerSpec(name=name, source=name)
    return None
