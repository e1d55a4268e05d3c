"""``qexplore doctor``: what is installed and what is missing, with the command that fixes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from qexplore import paths
from qexplore.catalog.schemes import SCHEMES
from qexplore.catalog.support import Support, support
from qexplore.catalog.targets import Target, detect_target
from qexplore.environment import Hardware, core_versions, hardware, serve_versions

SETUP = "make setup"


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
    return DoctorReport(hw, core, serve, checks, None if hw.gpus else detect_target("cpu"))


def _vllm_check(serve: dict[str, str | None] | None) -> Check:
    exe = paths.vllm_executable()
    fix = f"{SETUP} (or set QEXPLORE_VLLM to an existing vllm executable)"
    if not exe.exists():
        return Check("serve: vllm", False, f"no vllm executable at {exe}", fix)
    version = (serve or {}).get("vllm")
    if not version:
        return Check("serve: vllm", False, f"{exe} exists but its environment has no vllm", fix)
    return Check("serve: vllm", True, f"{version} ({exe})")


def _demo_check() -> Check:
    d = paths.demo_model_dir()
    built = (d / "qexplore-demo.json").exists()
    detail = str(d) if built else "not built yet (built on first use)"
    return Check("demo model", built, detail, "qexplore demo build", needed=False)
