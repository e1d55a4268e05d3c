"""Checks of this machine against a plan, before any work: is the recipe's GPU here, and can the
model be had (a folder, the Hugging Face cache, or the hub). A sweep refuses at once what would
otherwise fail minutes later, variant by variant."""

from __future__ import annotations

import os

from qexplore import paths
from qexplore.catalog.models import is_hub_id, local_folder
from qexplore.catalog.targets import Target, card_target
from qexplore.environment import Gpu, hardware
from qexplore.errors import HardwareError, QexploreError, RecipeError
from qexplore.quantize.build import shape_config
from qexplore.recipes.schema import Recipe

HUB_TIMEOUT_S = 10


def check_machine(recipe: Recipe, gpus: list[Gpu] | None = None) -> None:
    """Raise HardwareError (exit 3) when the recipe's GPU or vLLM is not on this machine, and
    RecipeError/HardwareError when its model cannot be had. Attaching to a running server
    (``serve.endpoint``) needs none of them."""
    if recipe.serve.endpoint:
        return
    check_vllm()
    target = recipe.resolved.target
    if not target.is_cpu:
        _check_gpu(target, hardware().gpus if gpus is None else gpus)
    r = recipe.resolved
    checkpoints = [r.checkpoint(v.checkpoint) for v in recipe.variants if v.checkpoint]
    if r.speed_only and not r.demo_model:  # random weights: the shape's config is all it needs
        shape_config(recipe)
    for model in (r.model, *checkpoints):
        if not (r.demo_model or r.speed_only) or model != r.model:
            check_model(model)


def check_vllm() -> None:
    """The ``vllm`` executable servers are launched with must exist (else every variant would
    fail at its server's start)."""
    exe = paths.vllm_executable()
    if not exe.exists():
        raise HardwareError(f"no vllm executable at {exe}: run `make setup` (or set QEXPLORE_VLLM "
                            "to an existing vllm executable, or serve.endpoint to a running "
                            "server)")


def _check_gpu(target: Target, gpus: list[Gpu]) -> None:
    if any(_is(target, g) for g in gpus):
        return
    here = ", ".join(f"{g.name} ({g.capability:.1f})" for g in gpus) or "no NVIDIA GPU " \
        "(nvidia-smi finds none)"
    raise HardwareError(f"target {target.name}: this machine has {here}; run the recipe on a "
                        "machine with that GPU, set serve.endpoint to measure a server running "
                        "there, or use --dry-run / `qexplore plan` to see the plan")


def _is(target: Target, gpu: Gpu) -> bool:
    """Whether ``gpu`` is the target: the same card by name, or (for a capability target such
    as sm_86) the same compute capability."""
    if target.name.startswith("sm_"):
        return gpu.capability == target.capability
    card = card_target(gpu.name)
    return card is not None and card.name == target.name


def check_model(model: str) -> None:
    """A model named by hub id must be in the local cache or reachable on the hub."""
    if local_folder(model) is not None:
        return
    if not is_hub_id(model):
        raise RecipeError(f"model {model}: no such folder (and not a hub id such as "
                          "org/name)")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise HardwareError(f"model {model}: not in the Hugging Face cache and HF_HUB_OFFLINE "
                            f"is set: `huggingface-cli download {model}` first, or point the "
                            "recipe at a local folder")
    _reach_hub(model)


def _reach_hub(model: str) -> None:
    from huggingface_hub import model_info
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        model_info(model, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        raise HardwareError(f"model {model}: gated on the hub; accept its licence there and set "
                            "HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise RecipeError(f"model {model}: no such local folder, and no such model on the hub "
                          "(or it is private: set HF_TOKEN)") from None
    except QexploreError:
        raise
    except Exception as e:  # any network failure means the same to the user
        raise HardwareError(f"model {model}: not on this machine and the hub is unreachable "
                            f"({type(e).__name__}); download it where the hub can be reached "
                            "and copy the folder, or set HF_HUB_OFFLINE=1 with it cached") from None
