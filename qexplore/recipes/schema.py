"""The recipe schema. Every model forbids unknown fields; every field says what it is for."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from qexplore.catalog.schemes import SCHEMES
from qexplore.catalog.targets import resolve_target
from qexplore.recipes.model import Calibration, ModelSpec, Strict
from qexplore.recipes.resolve import Resolved, resolve


class Variant(Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] = Field(
        description="Unique name; used in file names and report rows."
    )
    scheme: str = Field(description=f"One of: {', '.join(SCHEMES.names())}.")
    checkpoint: str | None = Field(
        None, description="For scheme 'prequantized': the checkpoint folder or hub id."
    )
    smoothing_strength: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.8, description="SmoothQuant migration strength (W8A8)."
    )
    group_size: PositiveInt | None = Field(128, description="GPTQ group size; null = per channel.")
    dampening_frac: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.01, description="GPTQ Hessian dampening fraction."
    )
    actorder: Literal["static", "group", "weight"] | None = Field(
        "static", description="GPTQ activation ordering; null disables it."
    )
    ignore: list[str] = Field(["lm_head"], description="Modules left unquantized.")
    calibration: Calibration | None = Field(
        None, description="Overrides the recipe-level calibration for this variant."
    )
    serve_args: list[str] = Field([], description="Extra `vllm serve` arguments for this variant.")

    @field_validator("scheme")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        try:
            return SCHEMES.canonical(v)
        except KeyError as e:
            raise ValueError(e.args[0]) from None

    @model_validator(mode="after")
    def _checkpoint_iff_prequantized(self) -> Variant:
        if (self.scheme == "prequantized") != (self.checkpoint is not None):
            raise ValueError("'checkpoint' is required for scheme 'prequantized' and only there")
        return self


class Serve(Strict):
    kv_cache_gb: PositiveFloat = Field(
        2.0, description="KV-cache size on the CPU backend (VLLM_CPU_KVCACHE_SPACE)."
    )
    gpu_memory_utilization: Annotated[float, Field(gt=0, le=1)] = Field(
        0.9, description="Share of GPU memory vLLM may use (GPU targets)."
    )
    max_num_seqs: PositiveInt | None = Field(None, description="vLLM --max-num-seqs.")
    tensor_parallel_size: PositiveInt = Field(
        1, description="GPUs each variant's server shards every layer over (vLLM "
        "--tensor-parallel-size); all on one node.")
    pipeline_parallel_size: PositiveInt = Field(
        1, description="GPUs each variant's server splits the layers over (vLLM "
        "--pipeline-parallel-size); all on one node.")
    startup_timeout_s: PositiveFloat = Field(300, description="Deadline for the server to be ready.")
    args: list[str] = Field([], description="Extra `vllm serve` arguments for every variant.")
    env: dict[str, str] = Field({}, description="Extra environment variables for the server.")
    endpoint: str | None = Field(
        None, description="Use this running OpenAI-compatible server instead of starting one."
    )
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the endpoint's API key."
    )


class Workload(Strict):
    name: Annotated[str, Field(min_length=1)] = Field(description="Name shown in reports.")
    prompts: str = Field(
        "short",
        description="'short' or 'long' (built-in sets), 'random' (exact input_len tokens), "
        "or a path to a JSONL file with a 'prompt' field.",
    )
    api: Literal["chat", "completions"] = Field("chat", description="OpenAI API to call.")
    input_len: PositiveInt | None = Field(None, description="Prompt tokens for 'random'.")
    max_tokens: PositiveInt = Field(100, description="max_tokens per request.")
    ignore_eos: bool = Field(False, description="Generate exactly max_tokens.")
    concurrency: list[PositiveInt] = Field(
        [1, 10, 50, 100], min_length=1, description="Closed-loop concurrent users, one level each."
    )
    requests: PositiveInt = Field(300, description="Requests measured per concurrency level, "
                                  "split evenly over its trials.")
    requests_per_user: PositiveInt | None = Field(
        None, description="Instead of 'requests': each level measures this many requests per "
        "user (10 → 10/100/1,000 requests at 1/10/100 users, as published benchmarks do).")
    trials: PositiveInt = Field(
        3, description="Trials per level, interleaved (trial 1 of every level, then trial 2, "
        "…): the spread between them goes into each figure's confidence interval.")
    warmup: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Unmeasured requests before each level (default: one per user, so "
        "the server has seen the level's batch size before measuring)."
    )
    seed: int = Field(0, description="Seed for prompt order and random prompts.")
    beyond_max_num_seqs: bool = Field(
        False, description="Levels above serve.max_num_seqs are meant (vLLM queues the excess).")

    @field_validator("concurrency")
    @classmethod
    def _sorted_unique(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("concurrency levels must be unique")
        return sorted(v)

    def requests_at(self, users: int) -> int:
        """Requests measured at a level of ``users`` users, all trials together."""
        return self.requests if self.requests_per_user is None else users * self.requests_per_user

    def per_trial(self, users: int) -> int:
        """Measured requests in each trial of a level of ``users`` users."""
        return -(-self.requests_at(users) // self.trials)

    def problems(self, path: str, max_model_len: int | None, max_num_seqs: int | None
                 ) -> list[str]:
        """Values that cannot work together, one ``path.field: problem`` line each."""
        users, out = max(self.concurrency), []
        if self.per_trial(users) < users:
            split = f" ({self.requests_at(users)} over {self.trials} trials)" \
                if self.trials > 1 else ""
            field = "requests_per_user" if self.requests_per_user else "requests"
            out.append(f"{path}.{field}: {self.per_trial(users)} requests{split} cannot keep "
                       f"{users} users busy (workloads[].concurrency); a closed-loop level "
                       "needs at least as many requests per trial as users")
        prompt = (self.input_len or 1) if self.prompts == "random" else 1  # at least one token
        need = self.max_tokens + prompt
        if max_model_len and need > max_model_len:
            out.append(f"{path}.max_tokens: {need} tokens (prompt and output) cannot fit "
                       f"model.max_model_len {max_model_len}")
        if max_num_seqs and users > max_num_seqs and not self.beyond_max_num_seqs:
            out.append(f"{path}.concurrency: {users} users > serve.max_num_seqs {max_num_seqs}: "
                       f"vLLM queues the rest; set {path}.beyond_max_num_seqs: true to measure "
                       "that on purpose")
        return out


class EvalTask(Strict):
    name: str = Field(description="lm-eval task name (or a task defined under include_path).")
    num_fewshot: Annotated[int, Field(ge=0)] | None = Field(None, description="Few-shot count.")
    limit: PositiveInt | None = Field(None, description="Evaluate only the first N samples.")


class Eval(Strict):
    tasks: list[EvalTask] = Field([], description="Tasks to run against each served variant.")
    limit: PositiveInt | None = Field(None, description="Default sample limit per task.")
    num_fewshot: Annotated[int, Field(ge=0)] | None = Field(None, description="Default few-shot.")
    include_path: str | None = Field(
        None, description="Folder of extra task YAMLs; '@demo' for the demo model's tasks."
    )
    num_concurrent: PositiveInt = Field(8, description="Concurrent requests lm-eval sends.")
    seed: int = Field(1234, description="lm-eval seed.")

    @field_validator("tasks", mode="before")
    @classmethod
    def _names_as_tasks(cls, v: object) -> object:
        if isinstance(v, list):
            return [{"name": t} if isinstance(t, str) else t for t in v]
        return v


class Slo(Strict):
    min_user_tps: PositiveFloat = Field(
        10.0, description="Floor on the slowest-1% per-user output tok/s."
    )
    max_ttft_ms: PositiveFloat | None = Field(None, description="Ceiling on TTFT p99, if any.")
    speed_margin_pct: Annotated[float, Field(ge=0, lt=100)] = Field(
        10, description="Speed margin: a difference smaller than this is never 'faster' or "
        "'slower'; 'equivalent' needs the ratio's whole interval within it.")
    session_spread_pct: Annotated[float, Field(ge=0, lt=100)] = Field(
        5, description="How much one server session's speed strays from another's on this "
        "machine (a standard deviation, %); speed verdicts and compare allow for it. Measure it "
        "with bench/aa_calibration.py.")
    target_users: PositiveInt | None = Field(
        None, description="Concurrency the deployment must serve (default: the highest level)."
    )
    max_accuracy_drop_pct: Annotated[float, Field(ge=0)] = Field(
        1.0, description="Largest accuracy loss vs. the baseline, in percent, still acceptable."
    )


class Precision(Strict):
    """How long a sweep measures: until each speed and accuracy comparison with the baseline
    is decided, within these bounds. Speed's margin is ``slo.speed_margin_pct``, accuracy's budget
    ``slo.max_accuracy_drop_pct``."""

    max_rounds: PositiveInt = Field(
        3, description="Rounds of trials a level may take (each round: workloads[].trials more "
        "trials of the levels still undecided, on freshly started servers, the baseline's and "
        "the undecided variants'); at most max_rounds × trials trials per level. 1: a fixed "
        "budget for speed. Every round is one look at a level's data: each look's speed test is "
        "at 5 %/max_rounds (Bonferroni), so more rounds also make each look stricter. (The "
        "evaluation's looks are first_docs'.)")
    time_budget_min: PositiveFloat | None = Field(
        None, description="No new round starts that would end after this invocation of the "
        "sweep has run this long (a round's time estimated from its servers' start-up and its "
        "levels' trials so far).")
    first_docs: PositiveInt | None = Field(
        250, description="Evaluate in chunks: each task's first look takes this many documents "
        "of one seeded shuffled order, and each later round doubles them (250, 500, 1,000, …) "
        "for the variants whose accuracy verdict is still undecided and the baseline, up to the "
        "task's documents (or eval.limit). Every look's test is at 5 %/the task's planned "
        "looks (Bonferroni). null: every document at once.")


class Hardware(Strict):
    """The target's figures, declared: each one given overrides qexplore's table (GPUs) or its
    own measurement (the CPU) in the capacity plan and every "% of bound"."""

    memory_gb: PositiveFloat | None = Field(None, description="Accelerator memory, GiB.")
    memory_bandwidth_gbs: PositiveFloat | None = Field(None, description="Memory bandwidth, GB/s.")
    fp16_tflops: PositiveFloat | None = Field(None, description="Dense FP16/BF16 peak, TFLOPS.")
    int8_tops: PositiveFloat | None = Field(None, description="Dense INT8 peak, TOPS.")
    fp8_tflops: PositiveFloat | None = Field(None, description="Dense FP8 peak, TFLOPS.")
    fp4_tflops: PositiveFloat | None = Field(None, description="Dense FP4 peak, TFLOPS.")


class Executor(Strict):
    """Where the sweep's variants run: here, one after another (``local``), or as Ray tasks on
    a cluster, in parallel up to its capacity (``ray``). Not part of the recipe's identity: a run
    started locally resumes on Ray and back."""

    kind: Literal["local", "ray"] = Field("local", description="'local' or 'ray'.")
    address: str = Field("auto", description="Ray cluster address ('auto': the cluster this "
                         "machine belongs to; 'host:port' of its head).")
    build_cache: str | None = Field(None, description="Build cache every node reads and writes "
                                    "(a shared filesystem path); checkpoints move between nodes "
                                    "only through it. Default: each node's own.")
    per_node: PositiveInt = Field(1, description="Variants measured at once on one CPU-only "
                                  "node (1: never two servers share a node's cores).")
    @field_validator("build_cache")
    @classmethod
    def _absolute(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_absolute():
            raise ValueError(f"{v!r}: an absolute path every node sees (a shared filesystem)")
        return v

    env: list[str] = Field(["HF_TOKEN", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"],
                           description="Environment variables passed from the machine running "
                           "the sweep to every variant's task (their values travel through the "
                           "cluster's control store, not on a command line).")


class Output(Strict):
    dir: str = Field("reports", description="Folder for <run-id>/ reports (relative to the "
                     "working directory).")
    store: str | None = Field(None, description="Results database (default: see `qexplore doctor`).")


class Recipe(Strict):
    name: Annotated[str, Field(min_length=1)] = Field(description="Recipe name, used in run ids.")
    description: str = Field("", description="Free text shown in reports.")
    model: ModelSpec
    target: str = Field("cpu", description="'cpu', a GPU name (rtx3090, a100, h100…) or 'sm_86'.")
    hardware: Hardware = Field(Hardware(), description="The target's figures, where qexplore's "
                               "own (see `qexplore plan`) should not be used.")
    calibration: Calibration | None = Field(None, description="Default calibration data.")
    variants: list[Variant] = Field(min_length=1, description="The precisions to compare.")
    serve: Serve = Serve()
    workloads: list[Workload] = Field([Workload(name="short")], description="Load-test workloads.")
    eval: Eval = Eval()
    slo: Slo = Slo()
    precision: Precision = Field(Precision(), description="How long to measure: until decided, "
                                 "within these bounds.")
    output: Output = Output()
    executor: Executor = Executor()
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _resolved: Resolved | None = PrivateAttr(default=None)

    def with_base_dir(self, base_dir: Path) -> Recipe:
        """Relative paths in the recipe are relative to ``base_dir`` (the recipe's folder)."""
        self._base_dir = base_dir
        self._resolved = None
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False
                   ) -> Recipe:
        """A copy, resolved again on first use (its model or paths may differ)."""
        copy = super().model_copy(update=update, deep=deep)
        copy._resolved = None
        return copy

    @property
    def resolved(self) -> Resolved:
        """Where the names the recipe gives are: the model, tokenizer, eval tasks and target
        resolved once; a variant's or workload's files through its methods."""
        if self._resolved is None:
            m = self.model
            self._resolved = resolve(self.base_dir, m.named, m.tokenizer, self.eval.include_path,
                                     self.target, m.speed_only)
        return self._resolved

    @property
    def gpus_per_variant(self) -> int:
        """GPUs one variant's server uses (tensor × pipeline parallel; 0 on the CPU)."""
        if resolve_target(self.target).is_cpu:
            return 0
        return self.serve.tensor_parallel_size * self.serve.pipeline_parallel_size

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @field_validator("target")
    @classmethod
    def _known_target(cls, v: str) -> str:
        try:
            resolve_target(v)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
        return v

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Recipe:
        # Raised as one "path: problem" line each; the loader keeps the paths as they are.
        # A stored recipe was checked when it ran: reading it back never refuses it.
        if info.context and info.context.get("stored"):
            return self
        problems = [
            *_duplicates("variants", [v.name for v in self.variants], "variant"),
            *_duplicates("workloads", [w.name for w in self.workloads], "workload"),
        ]
        problems += [f"variants[{i}].calibration: {problem}" for i, v in enumerate(self.variants)
                     if (problem := self.calibration_problem(v))]
        if self.model.speed_only and self.eval.tasks:
            problems.append("eval.tasks: model.weights is random: a speed-only run has no "
                            "accuracy to measure (its answers are noise); leave eval.tasks empty")
        if self.model.speed_only:
            problems += [f"variants[{i}].scheme: random weights come from qexplore; a "
                         "prequantized checkpoint has real ones"
                         for i, v in enumerate(self.variants) if v.scheme == "prequantized"]
            problems += [f"workloads[{i}].ignore_eos: random weights end answers at random; set "
                         "ignore_eos: true so that every request generates its max_tokens"
                         for i, w in enumerate(self.workloads) if not w.ignore_eos]
        for i, w in enumerate(self.workloads):
            problems += w.problems(f"workloads[{i}]", self.model.max_model_len,
                                   self.serve.max_num_seqs)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def calibration_for(self, variant: Variant) -> Calibration | None:
        """The calibration data a variant is built with."""
        return variant.calibration or self.calibration

    def calibrated(self, variant: Variant) -> bool:
        """Whether a variant is built with calibration data: its scheme's usual algorithm
        (GPTQ, SmoothQuant), except on random weights, which are built by round-to-nearest."""
        return SCHEMES.get(variant.scheme).calibrated and not self.model.speed_only

    def calibration_problem(self, variant: Variant) -> str | None:
        """What is wrong with a variant's calibration data (a calibrated scheme without any),
        for this recipe's variants or one it does not list."""
        if self.calibrated(variant) and not self.calibration_for(variant):
            return (f"scheme {variant.scheme} needs calibration data (set it in the variant or "
                    "in the top-level 'calibration')")
        return None


def _duplicates(section: str, names: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    out = []
    for i, n in enumerate(names):
        if n in seen:
            out.append(f"{section}[{i}].name: duplicate {what} name '{n}'")
        seen.add(n)
    return out
