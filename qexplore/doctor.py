"""``qexplore doctor``: what is installed and what is missing, with the command that fixes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from qexplore import paths
from qexplore.catalog.schemes import SCHEMES
from qexplore.catalog.support import Support, support
from qexplore.catalog.targets import Target, detect_target
from qexplore.environment import Gpu, Hardware, core_versions, hardware, serve_versions

SETUP = "make setup"
# vLLM's CUDA wheels are built with CUDA 12.9 (its GPU install docs). CUDA's release notes: a
# CUDA 12.x build runs on drivers from 525.60.13 (minor-version compatibility); 12.9's own
# driver is 575.51.03, which features beyond that compatibility need.
DRIVER_MIN, DRIVER_CUDA_12_9 = "525.60.13", "575.51.03"


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str
    fix: str | None = None
    needed: bool = True


@dataclass(frozen=True)
class DoctorReport:
    hardware: Hardware
    core: dict[str, str | None]
    serve: dict[str, str | None] | None
    checks: list[Check] = field(default_factory=list)
    cpu_target: Target | None = None  # this CPU as a serving target (machines without a GPU)

    def cpu_schemes(self) -> list[tuple[str, Support]]:
        """Each scheme's support on this CPU, as the plan would judge it."""
        if self.cpu_target is None:
            return []
        return [(name, support(name, self.cpu_target)) for name in SCHEMES.names()]

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks if c.needed)


def diagnose() -> DoctorReport:
    """Inspect both environments, the hardware and the demo model."""
    core, serve = core_versions(), serve_versions()
    checks = [
        *(
            Check(f"core: {name}", v is not None, v or "missing", f"{SETUP} (core env)")
            for name, v in core.items()
        ),
        _vllm_check(serve),
        _demo_check(),
    ]
    hw = hardware()
    checks += driver_checks(hw.gpus)
    return DoctorReport(hw, core, serve, checks, None if hw.gpus else detect_target("cpu"))


def _vllm_check(serve: dict[str, str | None] | None) -> Check:
    exe = paths.vllm_executable()
    fix = f"{SETUP} (or set QEXPLORE_VLLM to an existing vllm executable)"
    if not exe.exists():
        return Check("serve: vllm", False, f"no vllm executable at {exe}", fix)
    version = (serve or {}).get("vllm")
    if not version:
        return Check("serve: vllm", False, f"{exe} exists but neither its environment nor "
                     "`vllm --version` names a vLLM version", fix)
    return Check("serve: vllm", True, f"{version} ({exe})")


def driver_checks(gpus: list[Gpu]) -> list[Check]:
    """The NVIDIA driver against what vLLM's CUDA 12.9 build needs (nothing without a GPU)."""
    driver = next((g.driver for g in gpus if g.driver), None)
    if driver is None:
        return []
    fix = (f"install NVIDIA driver ≥ {DRIVER_CUDA_12_9} (the CUDA 12.9 driver; ≥ "
           f"{DRIVER_MIN} at the very least)")
    if _version_tuple(driver) < _version_tuple(DRIVER_MIN):
        return [Check("NVIDIA driver", False, f"{driver}: too old for vLLM's CUDA 12.9 build",
                      fix)]
    if _version_tuple(driver) < _version_tuple(DRIVER_CUDA_12_9):
        return [Check("NVIDIA driver", False, f"{driver}: runs CUDA 12.9 builds through "
                      "minor-version compatibility only", fix, needed=False)]
    return [Check("NVIDIA driver", True, driver)]


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def _demo_check() -> Check:
    d = paths.demo_model_dir()
    built = (d / "qexplore-demo.json").exists()
    detail = str(d) if built else "not built yet (built on first use)"
    return Check("demo model", built, detail, "qexplore demo build", needed=False)
