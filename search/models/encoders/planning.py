"""``--backend auto`` for a model folder: the cached plan, a plan measured now, or the provisional choice.

Why here: the planner (search.models.planner) times embedders, so the candidates
are views of one TransformersEmbedder (same tokenizer, prompts, pooling) over
different runners; this module builds them and hands the chosen runners back, so
nothing planning built is built twice.

When there is no plan for this model, CPU and libraries yet, ``planning`` says
what to do: "now" measures (about 10-25 s the first time, an ONNX export
included), "replan" measures even when a plan is cached, and "later" runs on the
provisional choice (bf16 where the CPU runs it natively, else torch fp32: neither
needs an export) and leaves the measuring to a later run, e.g. the background
run the UI starts after its first-launch indexing (``python -m
search.application.backend_plans``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from search.core.environment import child_environment
from search.core.errors import OnnxExportError, UnsafeModelFileError
from search.models.backends import (
    PRECISION_ORDER,
    Runner,
    build_runner,
    exported_onnx,
    onnx_available,
    onnx_dir,
    torch_bf16_supported,
    weights_signature,
)
from search.models.cpu import cpu_info, library_versions, pick_device
from search.models.encoders.weights import refusing_unsafe_pickles
from search.models.hub import model_folder
from search.models.planner import (
    Candidate,
    Plan,
    load_plan,
    measure,
    plan_key,
    plan_path,
    probe,
    provisional,
    save_plan,
)
from search.models.planner import log as plan_log
from search.models.scratch import remove_stale_temporaries
from search.models.specs import ModelSpec

if TYPE_CHECKING:
    from transformers import PreTrainedModel

# ONNX exports from a model folder run in a child process (tests that replace the exporter in this
# process turn it off).
EXPORT_IN_CHILD = True
# Run by ModelFiles.export_in_child: export a model folder's fp32 weights to ONNX, or say on the
# last line of stdout what failed (its kind decides whether the failure is remembered).
_EXPORT_CHILD = """
import json, sys
from pathlib import Path
from search.core.errors import OnnxExportError, UnsafeModelFileError
from search.models.backends import export_onnx
from search.models.encoders.planning import ModelFiles
folder, model_id, cache_dir, device, dest = sys.argv[1:6]
try:
    export_onnx(ModelFiles(Path(folder), model_id, Path(cache_dir), device).load_fp32(), Path(dest))
except OSError as exc:
    print(json.dumps({"kind": "os", "errno": exc.errno, "message": str(exc)}))
    sys.exit(3)
except UnsafeModelFileError as exc:
    print(json.dumps({"kind": "unsafe", "message": str(exc)}))
    sys.exit(3)
except Exception as exc:
    message = str(exc) if isinstance(exc, OnnxExportError) else f"{type(exc).__name__}: {exc}"
    print(json.dumps({"kind": "export", "message": " ".join(message.split())[:500]}))
    sys.exit(3)
"""

# "background" is "later" for loading; it tells the UI to start the measuring process itself.
Planning = Literal["now", "later", "background", "replan"]
PLANNINGS: tuple[str, ...] = ("now", "later", "background", "replan")


@dataclass(frozen=True)
class ModelFiles:
    """Where a model's weights are and where what is derived from them goes."""

    folder: Path
    model_id: str  # name and revision: exports and plans are kept per model
    cache_dir: Path
    device: str

    def load_fp32(self) -> PreTrainedModel:
        return self._load("float32")

    def load_bf16(self) -> PreTrainedModel:
        """The weights cast to bfloat16 as they are read: no fp32 copy is held on the way (half the peak)."""
        return self._load("bfloat16")

    def _load(self, dtype: str) -> PreTrainedModel:
        import torch
        from transformers import AutoModel

        with refusing_unsafe_pickles(self.folder):
            model = AutoModel.from_pretrained(self.folder, local_files_only=True, dtype=getattr(torch, dtype))
        return model.to(self.device).eval()

    def build(self, backend: str, load_model: Callable[[], PreTrainedModel] | None = None) -> Any:
        default = self.load_bf16 if backend == "bf16" else self.load_fp32
        runner, _ = build_runner(
            backend,
            load_model or default,
            model_folder=self.folder,
            model_id=self.model_id,
            cache_dir=self.cache_dir,
            device=self.device,
            export=self.export_in_child if load_model is None and EXPORT_IN_CHILD else None,
        )
        return runner

    def export_first(self) -> None:
        """Make a missing ONNX export now, while this process holds no model (the planner starts with it).

        A failure is left to the ONNX candidate's build, which reports it (or tries again if
        it was the disk, not the model).
        """
        dest = onnx_dir(self.cache_dir, self.folder, self.model_id)
        try:
            remove_stale_temporaries(dest.parent)
            exported_onnx(self.load_fp32, dest, self.export_in_child if EXPORT_IN_CHILD else None)
        except Exception as exc:  # noqa: BLE001 - reported when the candidate is built
            plan_log.debug("ONNX export before planning failed: %s", exc)

    def export_in_child(self, dest: Path) -> Path:
        """Export the ONNX graph in a child process; this one never holds the exporter's memory.

        Why: torch's exporter and the check of its graph against torch peaked at ~2.3 GB for
        e5-small, and much of it stayed in the process after (the first launch's planner then
        held 1.5 GB timing bf16). The child's error comes back as the exception it raised.
        """
        env = child_environment()
        args = [str(self.folder), self.model_id, str(self.cache_dir), self.device, str(dest)]
        done = subprocess.run(
            [sys.executable, "-c", _EXPORT_CHILD, *args], capture_output=True, text=True, env=env, check=False
        )
        if done.returncode == 0:
            return dest / "model.onnx"
        lines = done.stdout.strip().splitlines()
        try:
            failure = json.loads(lines[-1])
        except (IndexError, ValueError):
            tail = " ".join(done.stderr.strip().splitlines()[-1:]) or f"exit code {done.returncode}"
            raise OnnxExportError(f"the export process failed ({tail})") from None
        if failure["kind"] == "os":
            raise OSError(failure["errno"], failure["message"])
        if failure["kind"] == "unsafe":
            raise UnsafeModelFileError(failure["message"])
        raise OnnxExportError(failure["message"])

    def weights(self, backend: str) -> Path:
        """Where the files a backend runs are: the ONNX export's folder, or the model folder."""
        return (
            onnx_dir(self.cache_dir, self.folder, self.model_id)
            if backend.startswith("onnx")
            else self.folder
        )

    def plan_file(self) -> tuple[Path, str, dict[str, Any]]:
        key, parts = plan_key(
            self.model_id, weights_signature(self.folder), cpu_info(), library_versions(), self.device
        )
        return plan_path(self.cache_dir, self.model_id, key), key, parts


def cached_plan(files: ModelFiles) -> Plan | None:
    """The plan cached for this model, CPU and libraries; None when there is none, or when it names a
    backend that did not pass the quality gate (a plan file is plain JSON anyone could edit: a backend
    "auto" may run is one the gate measured and passed, never int8)."""
    path, key, _ = files.plan_file()
    plan = load_plan(path)
    if plan is None or plan.key != key:
        return None
    refused = [name for name in dict.fromkeys((plan.documents, plan.queries)) if not passed_gate(plan, name)]
    if refused:
        plan_log.warning(
            "%s names %s, which did not pass the quality gate there: plan ignored (measured again)",
            path,
            " and ".join(refused),
        )
        return None
    return plan


def passed_gate(plan: Plan, backend: str) -> bool:
    """Whether ``plan`` may run ``backend``: one of the backends that pass the gate (never int8), and not
    one the plan itself measured failing it here."""
    measured = plan.measurement(backend)
    return backend in PRECISION_ORDER and (measured is None or (measured.passed and not measured.error))


def model_id(spec: ModelSpec) -> str:
    """Name and revision: what exports and plans are kept under."""
    return f"{spec.name}-{spec.revision or 'local'}"


def plan_missing(
    spec: ModelSpec, *, cache_dir: Path, device: str | None = None, allow_downloads: bool = False
) -> bool:
    """Whether "auto" would run this model on the provisional choice (checked without loading it)."""
    device = pick_device(device)
    if device != "cpu":
        return False
    folder = model_folder(spec, allow_downloads=allow_downloads, cache_dir=cache_dir)
    return cached_plan(ModelFiles(folder, model_id(spec), cache_dir, device)) is None


def runners_for(
    backend: str,
    files: ModelFiles,
    view: Callable[[Runner], Candidate],
    planning: Planning,
) -> tuple[Runner, Runner, Plan | None]:
    """(passages' runner, queries' runner, the plan followed); runners not built until first used."""
    if backend != "auto" or files.device != "cpu":
        name = "torch" if backend == "auto" else backend
        runner = Runner(name, lambda: files.build(name), source=files.weights(name))
        return runner, runner, None
    plan = None if planning == "replan" else cached_plan(files)
    if plan is None and planning in ("now", "replan"):
        plan = make_plan(files, view)
    if plan is None:
        plan = provisional(
            cpu_info(),
            bf16_ok=True,  # checked by torch when the bf16 model is built
            reason="provisional (not measured yet on this machine): "
            + ("bf16, the CPU runs it natively" if cpu_info().native_bf16 else "torch fp32, no native bf16"),
        )
    return _lazy(plan, files)


def _lazy(plan: Plan, files: ModelFiles) -> tuple[Runner, Runner, Plan]:
    documents = Runner(
        plan.documents, lambda: files.build(plan.documents), source=files.weights(plan.documents)
    )
    if plan.queries == plan.documents:
        return documents, documents, plan
    queries = Runner(plan.queries, lambda: files.build(plan.queries), source=files.weights(plan.queries))
    return documents, queries, plan


def make_plan(files: ModelFiles, view: Callable[[Runner], Candidate]) -> Plan:
    """Measure the candidates on this machine one at a time, cache the plan, log its figures.

    Each candidate loads its own weights and is dropped before the next is built (the planner
    holds one model at a time, search.models.planner.measure); the chosen backends are built
    again by the caller when first used.
    """
    cpu = cpu_info()

    def bf16() -> Any:
        if not torch_bf16_supported():
            raise RuntimeError("torch cannot run bf16 on this CPU")
        return files.build("bf16")

    makers: dict[str, Callable[[], Any]] = {"torch": files.load_fp32}
    if onnx_available():
        makers["onnx"] = lambda: files.build("onnx")
    if cpu.native_bf16:
        makers["bf16"] = bf16
        makers["bf16-autocast"] = lambda: files.build("bf16-autocast")

    def builder(name: str) -> Callable[[], Candidate]:
        return lambda: view(Runner.ready(name, makers[name](), source=files.weights(name)))

    plan_log.info(
        "Choosing how to run %s on this machine (once; %s): timing %s",
        files.model_id,
        cpu.describe(),
        ", ".join(n for n in makers if n != "bf16-autocast"),
    )
    if "onnx" in makers:
        files.export_first()  # in a child, before any candidate: the exporter and a model are never both held
    plan = measure(
        {name: builder(name) for name in makers},
        probe(),
        fallbacks={"bf16": "bf16-autocast"} if "bf16" in makers else None,
    )
    path, key, parts = files.plan_file()
    plan = replace(plan, key=key, key_parts=parts)
    saved = True
    try:
        save_plan(path, plan)
    except OSError as exc:  # a full or read-only cache: the plan is used now and measured again next time
        saved = False
        plan_log.warning(
            "could not save the backend plan in %s (%s): it is measured again next time", path, exc
        )
    for line in plan.describe():
        plan_log.info("%s", line)
    if saved:
        plan_log.info("plan saved in %s", path)
    return plan
