"""What this machine's CPU offers a model's forward pass, read without importing torch.

Why: whether bf16 is worth trying depends on the hardware. AVX512_BF16 (Cooper
Lake, Zen 4 and later) and AMX-BF16 (Sapphire Rapids and later) run bf16
matrix products natively; elsewhere oneDNN emulates them, slower than fp32. And
a backend plan measured on one CPU must not be reused on another, so the plan's
cache key carries this CPU's signature. Reading ``/proc/cpuinfo`` and package
metadata costs microseconds; importing torch costs a second, which a cold
``app.py search`` with a cached plan should not pay.

``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` is not a native check (it is
true on any AVX-512 CPU, where bf16 is emulated), so the flags decide here and
``search.models.backends`` adds torch's own check when it builds a bf16 model.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# Flags that change which kernels the libraries pick; the CPU signature keeps only these.
SIGNATURE_FLAGS = frozenset(
    {
        "avx2",
        "fma",
        "avx512f",
        "avx512bw",
        "avx512_vnni",
        "avx_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "amx_tile",
        "amx_bf16",
        "amx_int8",
        "amx_fp16",
    }
)
# oneDNN's ISA caps that still allow native bf16 (an explicit lower cap makes bf16 emulated).
BF16_ISA_CAPS = frozenset(
    {
        "ALL",
        "AVX512_CORE_BF16",
        "AVX512_CORE_FP16",
        "AVX512_CORE_AMX",
        "AVX512_CORE_AMX_FP16",
        "AVX10_1_512_AMX",
        "AVX10_1_512_AMX_FP16",
        "AVX10_2_512_AMX_2",
    }
)
# Read by oneDNN and OpenMP when torch / ONNX Runtime load; a plan measured under other values
# is not this process's plan, so they are part of its key (they are never acted on here).
LIBRARY_ENVIRONMENT = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
LIBRARIES = ("torch", "onnxruntime", "transformers", "tokenizers")
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuInfo:
    machine: str  # x86_64, aarch64, arm64 ...
    model: str  # "Intel(R) Xeon(R) Processor" under a hypervisor: the flags say more
    flags: frozenset[str]  # the SIGNATURE_FLAGS this CPU has
    cpus: int  # CPUs this process may run on (affinity), what the libraries size their pools by
    environment: tuple[tuple[str, str], ...] = ()  # LIBRARY_ENVIRONMENT values that are set

    @property
    def isa_cap(self) -> str | None:
        values = dict(self.environment)
        cap = values.get("ONEDNN_MAX_CPU_ISA") or values.get("DNNL_MAX_CPU_ISA")
        return cap.upper() if cap else None

    @property
    def native_bf16(self) -> bool:
        """bf16 matrix products run on bf16 hardware here (x86 only: other CPUs are not measured)."""
        if self.machine.lower() not in ("x86_64", "amd64"):
            return False
        if self.isa_cap is not None and self.isa_cap not in BF16_ISA_CAPS:
            return False
        return bool(self.flags & NATIVE_BF16_FLAGS)

    def signature(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "model": self.model,
            "flags": sorted(self.flags),
            "cpus": self.cpus,
            "environment": dict(self.environment),
        }

    def describe(self) -> str:
        bf16 = "native bf16" if self.native_bf16 else "no native bf16"
        flags = " ".join(sorted(self.flags)) or "no AVX flags read"
        cap = f"; ONEDNN_MAX_CPU_ISA={self.isa_cap}" if self.isa_cap else ""
        return f"{self.model or self.machine}, {self.cpus} CPU(s), {bf16} ({flags}){cap}"


def _read_cpuinfo(path: Path) -> tuple[str, frozenset[str]]:
    model, flags = "", frozenset[str]()
    try:
        with path.open(encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = frozenset(value.split())
                if model and flags:
                    break
    except OSError:
        pass
    return model, flags


def read_cpu_info(cpuinfo: Path = CPUINFO, environ: dict[str, str] | None = None) -> CpuInfo:
    model, flags = _read_cpuinfo(cpuinfo)
    env = os.environ if environ is None else environ
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return CpuInfo(
        machine=platform.machine(),
        model=model or platform.processor(),
        flags=flags & SIGNATURE_FLAGS,
        cpus=cpus,
        environment=tuple((name, env[name]) for name in LIBRARY_ENVIRONMENT if env.get(name)),
    )


@cache
def cpu_info() -> CpuInfo:
    """This process's CPU (read once; affinity and the library environment do not change under it)."""
    return read_cpu_info()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that run the model, from package metadata (nothing is imported)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "-"
    return versions


def cuda_possible() -> bool:
    """False when no GPU driver is present, so choosing the CPU needs no torch import.

    Only a machine with an NVIDIA (or ROCm) device node can run CUDA; there torch decides.
    """
    return (
        any(Path(node).exists() for node in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd"))
        or not Path("/dev").is_dir()
    )


@dataclass(frozen=True)
class CpuSample:
    wall: float
    busy: float  # CPU seconds every process on the machine has used
    own: float  # CPU seconds this process has used


def cpu_sample() -> CpuSample | None:
    """A point to measure foreign load from; None where the system does not say."""
    try:
        import psutil

        times = psutil.cpu_times()
        mine = psutil.Process().cpu_times()
    except Exception:  # noqa: BLE001 - no load reading is not a reason to fail; the plan says "unknown"
        return None
    busy = sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
    return CpuSample(time.perf_counter(), busy, mine.user + mine.system)


def foreign_cores(start: CpuSample | None, end: CpuSample | None) -> float | None:
    """Cores other processes kept busy between two samples: timings taken meanwhile are suspect."""
    if start is None or end is None or end.wall <= start.wall:
        return None
    return max(0.0, ((end.busy - start.busy) - (end.own - start.own)) / (end.wall - start.wall))


def pick_device(device: str | None = None) -> str:
    """CUDA when torch sees a GPU; the CPU without importing torch where no GPU driver exists."""
    if device:
        return device
    if not cuda_possible():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
