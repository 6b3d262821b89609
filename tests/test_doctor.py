"""``app.py doctor`` shows how a model runs here and why; the UI measures a missing plan in the background.

Tiny random model, timing mocked (tests/fake_timing.py): the choice is known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import app as cli
from search.application import backend_plans
from search.application.backend_plans import BackgroundPlan, plan_pending
from search.application.services import Services
from search.core.settings import Settings
from search.models.encoders import planning
from search.models.specs import ModelSpec
from search.stores.base import VectorStore
from tests.fake_timing import fake_timing, native_bf16_cpu
from tests.tiny_models import save_tiny_encoder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    return save_tiny_encoder(tmp_path_factory.mktemp("doctor") / "e5")


def _doctor(tmp_path: Path, tiny: ModelSpec, *extra: str) -> int:
    return cli.main(
        [
            "--cache-dir",
            str(tmp_path / "cache"),
            "--data-dir",
            str(tmp_path / "data"),
            "doctor",
            "--model",
            tiny.source,
            *extra,
        ]
    )


def test_doctor_measures_once_and_prints_the_choice_and_the_figures(
    tiny: ModelSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_network: list[object],
) -> None:
    native_bf16_cpu(monkeypatch)
    monkeypatch.setattr(planning, "onnx_available", lambda: False)
    plans = fake_timing(monkeypatch, docs={"torch": 1.0, "bf16": 0.3}, queries={"torch": 0.01, "bf16": 0.012})
    assert _doctor(tmp_path, tiny) == 0
    out, err = capsys.readouterr()
    assert "passages run on bf16, queries on torch" in out
    assert "bf16: " in out and "passages/s" in out and "cosine" in out
    assert "plan cached in" in out and "Choosing how to run" in err  # measured now, said once on stderr
    assert len(plans) == 1
    assert _doctor(tmp_path, tiny) == 0  # cached: not measured again
    assert len(plans) == 1 and "Choosing" not in capsys.readouterr().err
    assert _doctor(tmp_path, tiny, "--replan") == 0
    assert len(plans) == 2


def test_doctor_with_an_explicit_backend_shows_no_plan(
    tiny: ModelSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main(
            [
                "--cache-dir",
                str(tmp_path),
                "--data-dir",
                str(tmp_path / "d"),
                "--backend",
                "bf16",
                "doctor",
                "--model",
                tiny.source,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "--backend bf16: passages run on bf16, queries on bf16" in out and "plan" not in out


def test_cli_commands_choose_when_to_measure() -> None:
    parse = cli.build_parser().parse_args
    assert cli.settings_from_args(parse(["index", "x"])).backend_planning == "now"
    assert cli.settings_from_args(parse(["search", "q"])).backend_planning == "later"
    assert cli.settings_from_args(parse([])).backend_planning == "background"  # the UI
    assert cli.settings_from_args(parse(["doctor", "--replan"])).backend_planning == "replan"
    assert cli.settings_from_args(parse(["--backend", "bf16", "search", "q"])).backend == "bf16"


class _NoStore:
    def close(self) -> None:
        pass


def test_background_plan_only_when_asked_and_missing(
    tiny: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store: VectorStore = _NoStore()  # type: ignore[assignment]
    later = Services(Settings(cache_dir=tmp_path, default_model=tiny.source), store)
    assert not plan_pending(later)  # the library default never spawns a process
    background = Services(
        Settings(cache_dir=tmp_path, default_model=tiny.source, backend_planning="background"), store
    )
    assert plan_pending(background)
    explicit = Services(
        Settings(
            cache_dir=tmp_path, default_model=tiny.source, backend="torch", backend_planning="background"
        ),
        store,
    )
    assert not plan_pending(explicit)
    command = BackgroundPlan(background).command()
    assert command[1:5] == ["-m", "search.application.backend_plans", "--model", tiny.source]
    assert command[command.index("--cache-dir") + 1] == str(tmp_path)

    # what the child process runs, here in-process with mocked timing: afterwards nothing is pending
    native_bf16_cpu(monkeypatch)
    monkeypatch.setattr(planning, "onnx_available", lambda: False)
    fake_timing(monkeypatch, docs={"bf16": 0.1}, queries={"bf16": 0.001})
    assert backend_plans.measure_plan(["--model", tiny.source, "--cache-dir", str(tmp_path)]) == 0
    (saved,) = (tmp_path / "plans").glob("*.json")
    assert json.loads(saved.read_text())["documents"] == "bf16"
    assert not plan_pending(background)
