"""The sizes of lm-eval tasks a recipe may name, for the plan's estimate of how long an
evaluation takes. Document counts are the tasks' published split sizes; prompt lengths are
rough averages of the few-shot prompts at the few-shot counts shown (Llama-3-style tokens),
estimates rather than measurements: the plan says so."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSize:
    docs: int  # documents in the split lm-eval evaluates
    requests_per_doc: float  # log-likelihood requests per document (one per choice), or 1
    prompt_tokens: int  # a request's prompt, with its few-shot examples
    generated_tokens: int = 0  # tokens generated per document (generation tasks)
    fewshot: int = 0  # the few-shot count the prompt length is for (and lm-eval's default)
    subtasks: int = 1  # a group's subtasks: lm-eval's --limit applies to each
    # the few-shot examples are the same for every document (lm-eval's ``first_n`` sampler):
    # with prefix caching, only each document's own question is computed
    shared_fewshot: bool = False

    def prompt_at(self, fewshot: int) -> float:
        """A request's prompt with ``fewshot`` examples (each about the size of the question)."""
        return self.prompt_tokens * (fewshot + 1) / (self.fewshot + 1)

    def docs_at(self, limit: int | None) -> int:
        """Documents evaluated under an lm-eval ``limit`` (per subtask)."""
        return self.docs if limit is None else min(self.docs, limit * self.subtasks)


TASKS: dict[str, TaskSize] = {
    # GSM8K test split: 1,319 problems; lm-eval generates until "Question:" (≤ 256 tokens).
    "gsm8k": TaskSize(1_319, 1, 900, 150, fewshot=5),
    # MMLU test split: 14,042 questions over 57 subjects, four choices each; each subject's
    # few-shot examples are its dev split's first five (lm-eval's mmlu template: first_n).
    "mmlu": TaskSize(14_042, 4, 600, fewshot=5, subtasks=57, shared_fewshot=True),
    # ARC-Challenge test split: 1,172 questions, about four choices each.
    "arc_challenge": TaskSize(1_172, 4, 1_600, fewshot=25),
    # HellaSwag validation split: 10,042 contexts, four endings each.
    "hellaswag": TaskSize(10_042, 4, 900, fewshot=10),
    # WinoGrande validation split (winogrande_xl): 1,267 sentences, two options each.
    "winogrande": TaskSize(1_267, 2, 200, fewshot=5),
    # qexplore's demo tasks (qexplore/demo/tasks): 100 sums, 50 perplexity texts.
    "demo_add_mc": TaskSize(100, 4, 12),
    "demo_add_gen": TaskSize(100, 1, 12, 4),
    "demo_ppl": TaskSize(50, 1, 120),
}
