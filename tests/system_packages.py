"""Debian packages the tests need, installed with apt where the tests run as root (as CI does).

Elsewhere the tests that need them skip with the command that would install them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache

import pytest


def apt_install(packages: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
    """``apt-get install`` as root (after one ``apt-get update`` when the lists are stale); None where apt
    or root is missing."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:  # stale or missing package lists
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=900, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
    return done


# The packs the OCR tests read: one language per script family, Japanese vertical, and OSD.
OCR_PACKS = (
    "eng",
    "osd",
    "deu",
    "rus",
    "ell",
    "ara",
    "heb",
    "hin",
    "chi_sim",
    "chi_tra",
    "jpn",
    "jpn_vert",
    "kor",
    "tha",
)


@cache
def ensure_tesseract(packs: tuple[str, ...] = OCR_PACKS) -> None:
    """Tesseract with ``packs``, installed with apt when missing (root only); skips with the reason otherwise."""
    from indexer.ocr.engine import find_tesseract
    from indexer.ocr.languages import install_command

    engine = find_tesseract()
    missing = [code for code in packs if engine is None or code not in engine.packs]
    if not missing:
        return
    command = install_command(missing)
    done = apt_install(command.split()[4:])
    if done is None:
        pytest.skip(
            f"Tesseract or its packs are missing ({', '.join(missing)}): {command} (needs root and apt)"
        )
    engine = find_tesseract()
    still = [code for code in packs if engine is None or code not in engine.packs]
    if still:
        pytest.skip(f"could not install {', '.join(still)} with apt: {done.stderr.strip()[-300:]}")
