"""The README's first two commands are the contract with a newcomer and with CI."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _first_code_blocks(n: int) -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```(?:bash)?\n(.*?)```", text, re.S)[:n]]


def test_readme_starts_with_exactly_two_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    before_first_heading = text.split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash)?\n(.*?)```", before_first_heading, re.S)
    assert len(blocks) == 2
    assert all(len(block.strip().splitlines()) == 1 for block in blocks)
    launch, test = (block.strip() for block in blocks)
    assert "torch==2.13.0" in launch and launch.endswith("app.py")
    assert "torch==2.13.0" in test and "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    test_command = _first_code_blocks(2)[1]
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert test_command in ci_lines
