"""Imported by every Python process of a server qexplore starts with ``QEXPLORE_CPU_ISA=avx2``
(this folder is put first on its ``PYTHONPATH``; see :func:`qexplore.cpu.force_env`).

Makes torch, and so vLLM, see a CPU without AVX-512 or AMX: vLLM then loads its AVX2 kernel
library, exactly as on an AVX2-only machine. Nothing happens without the variable.
"""

import os

if os.environ.get("QEXPLORE_CPU_ISA") == "avx2":
    import torch.cpu

    for _name in dir(torch.cpu):
        if _name.startswith(("_is_avx512", "_is_amx", "_is_vnni")):
            setattr(torch.cpu, _name, lambda: False)
