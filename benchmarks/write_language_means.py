"""Write the shipped language means of a model into the package (run after changing the reference text).

    python -m benchmarks.write_language_means [--model multilingual-e5-small] [--cache-dir DIR]

A maintenance script, not part of the app: the app reads the shipped means (or computes and caches
them on first use, search.models.language_bias.centering_for).
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from search.models.embed_cache import model_key
from search.models.language_bias import SHIPPED, _file_name, compute_centering, save_centering
from search.models.loading import load_embedder
from search.models.reference_text import REFERENCE_FOLDER, REFERENCE_PACKAGE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--cache-dir", type=Path, help="model cache (converted bundled model)")
    args = parser.parse_args()
    embedder = load_embedder(args.model, cache_dir=args.cache_dir, backend="torch")
    key = model_key(embedder.spec, getattr(embedder, "max_tokens", None))
    centering = compute_centering(embedder, key)
    folder = Path(str(resources.files(REFERENCE_PACKAGE) / REFERENCE_FOLDER / SHIPPED))
    save_centering(centering, folder / _file_name(centering.name))
    print(f"{centering.name}: {len(centering.languages)} languages -> {folder / _file_name(centering.name)}")


if __name__ == "__main__":
    main()
