"""Writes long.jsonl: 200–300-token prompts (about 160–220 English words; Llama-family
tokenizers average ~1.3 tokens per word). Run once; a test checks the file matches.

    python -m qexplore.loadtest.prompts.make_long
"""

from __future__ import annotations

import json
import random
from pathlib import Path

TOPICS = [
    ("a regional bakery chain", "opening a fourth shop near a train station"),
    ("a city library", "moving its archive to a climate-controlled basement"),
    ("a small software team", "replacing a nightly batch job with a message queue"),
    ("a cycling club", "planning a three-day ride across hilly terrain"),
    ("a community garden", "sharing water fairly during a dry summer"),
    ("a hospital pharmacy", "reducing the time patients wait for prescriptions"),
    ("a mountain hut", "running on solar power through a cloudy week"),
    ("a ferry operator", "publishing reliable timetables in winter storms"),
    ("a high-school robotics team", "preparing for a national competition"),
    ("a family-run vineyard", "deciding when to harvest after early rain"),
    ("a data-center operator", "cutting cooling costs without risking outages"),
    ("a public swimming pool", "scheduling lanes for clubs and casual swimmers"),
]
FACTS = [
    "Last year the budget grew by about eight percent, while costs rose faster than expected.",
    "Two experienced staff members retired in spring, and their knowledge was only partly written down.",
    "Customers mostly praise the friendly service but complain about long queues at peak hours.",
    "A new regulation requires a written safety review before any change to the main building.",
    "The board asked for a plan that can be reviewed again after six months.",
    "Volunteers offered weekend help, although nobody has yet organized their schedules.",
    "An older system still handles bookings and cannot be replaced before next year.",
    "Energy prices doubled over the winter and are expected to stay high for a while.",
    "A local newspaper recently published a critical article about the delays.",
    "Most of the equipment is reliable, but one essential machine breaks down every few weeks.",
    "The team already tried a quick fix in the autumn, which helped for only a month.",
    "Neighbours support the idea in general but worry about noise and extra traffic.",
    "A nearby university offered students who could collect and analyse data for free.",
    "Insurance will cover part of the cost only if the work is finished before December.",
]
ASKS = [
    "Write a short plan with three concrete steps, and explain the biggest risk of each.",
    "Summarize the situation in four sentences and recommend one decision, with reasons.",
    "List the questions you would ask the manager before committing to a plan.",
    "Draft a friendly message to the people affected, explaining what will change and when.",
    "Compare two possible approaches and say which one you would choose and why.",
]


def prompt(rng: random.Random) -> str:
    who, goal = rng.choice(TOPICS)
    facts = rng.sample(FACTS, 11)
    return (f"You are advising {who} that is {goal}. Here is what we know so far. "
            + " ".join(facts) + " " + rng.choice(ASKS))


def prompts(n: int = 48, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [{"prompt": prompt(rng)} for _ in range(n)]


if __name__ == "__main__":
    out = Path(__file__).with_name("long.jsonl")
    out.write_text("".join(json.dumps(p) + "\n" for p in prompts()))
    print(f"wrote {out}")
