"""Text formats: tables, JSON Lines, notebooks, prompts, LLM/agent configs, dotenv.

Text is the common case in a real tree (source code, docs), so the checks are
ordered cheapest first and most of them look only at the first few KiB. Whole-file
JSON parsing happens only when the entire file is already in the head.
"""

from __future__ import annotations

import csv
import json
import re
from typing import Any

import yaml

from bastion.core.types import Asset, AssetKind
from bastion.discover._sniff._base import Ctx

PROBE = 8192

# Variable names and value shapes of model-provider API keys (names only are ever stored).
MODEL_KEY_NAMES = re.compile(
    r"^(?:export\s+)?((?:OPENAI|AZURE_OPENAI|ANTHROPIC|CLAUDE|COHERE|MISTRAL|GROQ|GEMINI|GOOGLE_AI|GOOGLE_GENAI|"
    r"PALM|HUGGINGFACE(?:HUB)?|HF|REPLICATE|TOGETHER|PERPLEXITY|PPLX|DEEPSEEK|FIREWORKS|XAI|OPENROUTER|VOYAGE|"
    r"PINECONE|WEAVIATE|QDRANT|LANGCHAIN|LANGSMITH|WANDB|AI21|ANYSCALE|NVIDIA|CEREBRAS)[A-Z0-9_]*"
    r"(?:API_KEY|_TOKEN|_KEY|_SECRET)[A-Z0-9_]*)\s*=",
    re.M,
)
MODEL_KEY_VALUES = re.compile(
    r"(?<![A-Za-z0-9])(sk-ant-[A-Za-z0-9_-]{20,}|sk-(?:proj-)?[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|"
    r"AIza[0-9A-Za-z_-]{35}|gsk_[A-Za-z0-9]{40,}|r8_[A-Za-z0-9]{30,}|xai-[A-Za-z0-9]{40,}|"
    r"pplx-[A-Za-z0-9]{40,}|co-[A-Za-z0-9]{30,})"
)
_DOTENV_LINE = re.compile(r"^(?:export\s+)?[A-Za-z_][A-Za-z0-9_.]*\s*=")
_LLM_MODEL = re.compile(
    r"(?i)^(?:gpt-|o[1-9](?:-|$)|chatgpt|text-davinci|text-embedding|claude|gemini|llama|mistral|mixtral|"
    r"command-r|qwen|deepseek|phi-|gemma|anthropic[./:]|openai[./:]|azure[./:]|ollama[./:]|bedrock[./:])"
)
_PROMPT_START = re.compile(
    r"(?is)^\s*(?:#[^\n]*\n\s*)?(?:you are (?:a|an|the)\b|you're (?:a|an)\b|act as (?:a|an)\b|"
    r"as an ai\b|system:\s|<\|im_start\|>system|<\|system\|>|\[INST\]|<<SYS>>|<system>)"
)
_PROMPT_SIGNALS = re.compile(
    r"(?i)\b(?:you must|you should|do not|never|always|respond|answer|assistant|user|instructions?)\b"
)
_YAML_PROMPT = re.compile(
    r"(?m)^(?:_type:\s*(?:prompt|few_shot|chat)|input_variables:|system_prompt:|"
    r"system_message:|template:\s*[|>]?)"
)
_YAML_AGENT = re.compile(r"(?m)^[ \t]*(?:backstory|goal|role):[ \t]")
_YAML_LLM = re.compile(r"(?m)^[ \t]*(?:model|model_name|llm|deployment_name):[ \t]*['\"]?([\w./:-]+)")
_CODE_CELL = re.compile(r"[=(){}]|^\s*(?:from|import|def|class|return|var|let|const)\s")
_YAML_KEYS = (
    "flavors:",
    "_type:",
    "input_variables:",
    "system_prompt:",
    "system_message:",
    "template:",
    "backstory:",
    "goal:",
    "role:",
    "model:",
    "model_name:",
    "llm:",
    "deployment_name:",
    "dataset:",
    "train_data:",
    "training_data:",
    "train_file:",
    "data_path:",
    "epochs:",
    "learning_rate:",
)
# Keys that, two or more together, mark a training configuration (which data, which model).
_YAML_TRAIN = re.compile(
    r"(?m)^\s*(dataset|train(?:ing)?_(?:data|file|path|set)|data_path|model_output|output_dir|"
    r"learning_rate|epochs|num_epochs|batch_size|label|features|experiment)\s*:"
)
_MLMODEL = re.compile(r"(?m)^flavors:\s*$")
_PROMPTY = re.compile(r"(?s)^---\s*\n.*?^model:\s*\n.*?^---\s*\n", re.M)


def decode_text(head: bytes) -> str | None:
    """The head as text, or None when it is binary (NULs, invalid UTF-8 before the cut)."""
    probe = head[:PROBE]
    if b"\x00" in probe:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and len(head) > 3:
            return head[: exc.start].decode("utf-8", "ignore")
        return None


def _complete_lines(c: Ctx, text: str, limit: int = 64) -> list[str]:
    lines = text.split("\n", limit)
    if len(lines) > limit or not c.whole or len(text) < len(c.head) - 4:
        lines = lines[:-1]  # the last one may be cut
    return [ln.rstrip("\r") for ln in lines[:limit] if ln.strip()]


def _first_lines(text: str, n: int) -> list[str]:
    out: list[str] = []
    pos = 0
    while len(out) < n and pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end].strip()
        if line:
            out.append(line)
        pos = end + 1
    return out


def sniff_dotenv(c: Ctx, text: str) -> Asset | None:
    first = next((ln for ln in _first_lines(text, 4) if not ln.startswith("#")), "")
    if not _DOTENV_LINE.match(first):
        return None
    lines = [ln.strip() for ln in text[:PROBE].splitlines()]
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if not body or sum(1 for ln in body if _DOTENV_LINE.match(ln)) < max(1, int(0.8 * len(body))):
        return None
    names = sorted({m.group(1) for m in MODEL_KEY_NAMES.finditer(text)})
    values = len(MODEL_KEY_VALUES.findall(text))
    if not names and not values:
        return None
    return c.asset(
        AssetKind.SECRETS,
        "dotenv",
        confidence=0.9,
        model_key_names=names[:32],
        model_key_values=values,
        variables=len(body),
    )


def _notebook(c: Ctx, doc: dict[str, Any] | None, text: str) -> Asset | None:
    if doc is None:
        if '"cells"' not in text[: PROBE * 4] and '"nbformat"' not in text[: PROBE * 4]:
            return None
        if not re.search(r'"(?:cells|nbformat|metadata)"\s*:', text[: PROBE * 4]):
            return None
        return c.asset(AssetKind.NOTEBOOK, "jupyter", framework="jupyter", confidence=0.85)
    cells = doc.get("cells")
    if not isinstance(cells, list) or "nbformat" not in doc:
        return None
    outputs = sum(len(cell.get("outputs") or []) for cell in cells if isinstance(cell, dict))
    meta: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    ks: dict[str, Any] = meta["kernelspec"] if isinstance(meta.get("kernelspec"), dict) else {}
    return c.asset(
        AssetKind.NOTEBOOK,
        "jupyter",
        framework="jupyter",
        nbformat=doc.get("nbformat"),
        cells=len(cells),
        outputs=outputs,
        kernel=ks.get("name"),
    )


def _is_llm_config(d: dict[str, Any]) -> bool:
    model = d.get("model") or d.get("model_name") or d.get("deployment_name")
    if not isinstance(model, str) or not _LLM_MODEL.match(model):
        return False
    return (
        bool(
            {
                "temperature",
                "max_tokens",
                "api_key",
                "api_base",
                "base_url",
                "top_p",
                "provider",
                "api_type",
                "messages",
                "stream",
                "max_completion_tokens",
            }
            & d.keys()
        )
        or len(d) <= 3
    )


def classify_json(c: Ctx, doc: Any) -> Asset | None:
    if isinstance(doc, list):
        if (
            doc
            and all(isinstance(x, dict) and "model" in x for x in doc[:16])
            and any({"api_key", "base_url", "api_type", "api_base"} & x.keys() for x in doc[:16])
        ):
            return c.asset(AssetKind.CONFIG, "llm-config", framework="autogen", confidence=0.85, entries=len(doc))
        if doc and all(isinstance(x, dict) and {"role", "content"} <= x.keys() for x in doc[:16]):
            return c.asset(
                AssetKind.PROMPT, "chat-messages", confidence=0.85, system=any(x.get("role") == "system" for x in doc)
            )
        return None
    if not isinstance(doc, dict):
        return None
    keys = doc.keys()
    nb = _notebook(c, doc, "")
    if nb is not None:
        return nb
    if isinstance(doc.get("mcpServers"), dict) or isinstance(doc.get("mcp_servers"), dict):
        servers = doc.get("mcpServers") or doc.get("mcp_servers") or {}
        return c.asset(AssetKind.CONFIG, "mcp-config", framework="mcp", servers=sorted(map(str, servers))[:32])
    if (
        isinstance(doc.get("servers"), dict)
        and doc["servers"]
        and all(isinstance(v, dict) and ({"command", "url"} & v.keys()) for v in doc["servers"].values())
    ):
        return c.asset(
            AssetKind.CONFIG,
            "mcp-config",
            framework="mcp",
            confidence=0.85,
            servers=sorted(map(str, doc["servers"]))[:32],
        )
    if (
        doc.get("lc") == 1
        and doc.get("type") in ("constructor", "secret", "not_implemented")
        and isinstance(doc.get("id"), list)
    ):
        ident = [str(x) for x in doc["id"]]
        kind = AssetKind.PROMPT if any("prompt" in x.lower() for x in ident) else AssetKind.CONFIG
        return c.asset(kind, "langchain-serialized", framework="langchain", object=".".join(ident)[:128])
    t = doc.get("_type")
    if isinstance(t, str) and (
        "template" in keys
        or "input_variables" in keys
        or "llm" in keys
        or "prompt" in keys
        or "model_name" in keys
        or "messages" in keys
    ):
        kind = AssetKind.PROMPT if ("prompt" in t or "template" in keys) and "llm" not in keys else AssetKind.CONFIG
        return c.asset(kind, "langchain-config", framework="langchain", type=t[:64])
    if (
        "docstore/data" in keys
        or "index_store/data" in keys
        or "vector_store/data" in keys
        or ({"embedding_dict", "text_id_to_ref_doc_id"} <= keys)
    ):
        return c.asset(AssetKind.VECTOR_STORE, "llamaindex-json", framework="llama_index", confidence=0.9)
    if ("model_type" in keys or "architectures" in keys) and (
        {
            "transformers_version",
            "hidden_size",
            "vocab_size",
            "torch_dtype",
            "_name_or_path",
            "d_model",
            "num_hidden_layers",
            "n_layer",
        }
        & keys
    ):
        return c.asset(
            AssetKind.CONFIG,
            "hf-model-config",
            framework="transformers",
            model_type=doc.get("model_type"),
            name_or_path=doc.get("_name_or_path"),
        )
    if isinstance(doc.get("learner"), dict) and isinstance(doc.get("version"), list):
        return c.asset(AssetKind.MODEL, "xgboost-json", framework="xgboost")
    if doc.get("name") == "tree" and "tree_info" in keys:
        return c.asset(AssetKind.MODEL, "lightgbm-json", framework="lightgbm")
    msgs = doc.get("messages")
    if isinstance(msgs, list) and msgs and all(isinstance(m, dict) and "role" in m for m in msgs[:16]):
        if "model" in keys and _is_llm_config(doc):
            return c.asset(AssetKind.PROMPT, "chat-request", confidence=0.85, model=str(doc["model"])[:64])
        return c.asset(
            AssetKind.PROMPT, "chat-messages", confidence=0.85, system=any(m.get("role") == "system" for m in msgs)
        )
    if any(k in keys for k in ("system_prompt", "system_message", "systemPrompt", "prompt_template")):
        return c.asset(AssetKind.PROMPT, "prompt-json", confidence=0.8)
    if _is_llm_config(doc):
        return c.asset(
            AssetKind.CONFIG,
            "llm-config",
            confidence=0.8,
            model=str(doc.get("model") or doc.get("model_name") or doc.get("deployment_name"))[:64],
        )
    return None


def _jsonl(c: Ctx, text: str) -> Asset | None:
    lines = _complete_lines(c, text)
    if len(lines) < 2:
        return None
    objs = []
    for ln in lines:
        try:
            obj = json.loads(ln)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        objs.append(obj)
    keys = sorted({k for o in objs for k in o})[:64]
    chat = all("messages" in o for o in objs) or all({"prompt", "completion"} <= o.keys() for o in objs)
    return c.asset(
        AssetKind.DATASET, "jsonl", confidence=0.9 if len(lines) >= 3 else 0.75, columns=keys, chat_format=chat or None
    )


def sniff_json(c: Ctx, text: str) -> Asset | None:
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped or stripped[0] not in "{[":
        return None
    doc: Any = None
    if c.whole:
        try:
            doc = json.loads(stripped)
        except (ValueError, RecursionError):
            doc = None
        if doc is not None:
            return classify_json(c, doc)
    if stripped[0] == "{":
        first = stripped.split("\n", 1)[0]
        if first.rstrip().endswith("}"):
            j = _jsonl(c, stripped)
            if j is not None:
                return j
        if not c.whole:
            return _notebook(c, None, stripped) or _json_prefix(c, stripped)
    return None


def _json_prefix(c: Ctx, text: str) -> Asset | None:
    """Large JSON documents: classify from top-level keys seen in the head."""
    keys = set(re.findall(r'"([A-Za-z_/$][\w/$.-]{0,40})"\s*:', text[: PROBE * 2]))
    if "mcpServers" in keys:
        return c.asset(AssetKind.CONFIG, "mcp-config", framework="mcp", confidence=0.8)
    if {"docstore/data", "index_store/data", "embedding_dict"} & keys:
        return c.asset(AssetKind.VECTOR_STORE, "llamaindex-json", framework="llama_index", confidence=0.8)
    if "learner" in keys and "gradient_booster" in keys:
        return c.asset(AssetKind.MODEL, "xgboost-json", framework="xgboost", confidence=0.85)
    if "tree_info" in keys and '"name":"tree"' in text.replace(" ", "")[:200]:
        return c.asset(AssetKind.MODEL, "lightgbm-json", framework="lightgbm", confidence=0.85)
    return None


def sniff_table(c: Ctx, text: str) -> Asset | None:
    heads = _first_lines(text, 2)
    if len(heads) < 2 or not any(d in heads[0] and d in heads[1] for d in ",\t;|"):
        return None
    lines = _complete_lines(c, text[:PROBE], 50)
    if len(lines) < 2:
        return None
    first = lines[0]
    best: tuple[int, str] | None = None
    for delim in (",", "\t", ";", "|"):
        n = first.count(delim)
        if n == 0 or lines[1].count(delim) == 0:
            continue
        try:
            rows = list(csv.reader(lines, delimiter=delim))
        except csv.Error:
            continue
        width = len(rows[0])
        if width < 2 or any(len(r) != width for r in rows):
            continue
        if best is None or width > best[0]:
            best = (width, delim)
    if best is None:
        return None
    width, delim = best
    header = next(csv.reader([first], delimiter=delim))
    if delim == "|" and first.startswith("|"):
        return None  # a Markdown table
    if sum(len(h) for h in header) / width > 48 or any(len(h.split()) > 6 for h in header):
        return None  # prose with commas, not a header row
    if any(_CODE_CELL.search(h) for h in header):
        return None  # source code, not a header row
    rows_seen = len(lines)
    conf = 0.95 if rows_seen >= 4 else 0.7
    fmt = "tsv" if delim == "\t" else "csv"
    return c.asset(
        AssetKind.DATASET,
        fmt,
        confidence=conf,
        delimiter=None if delim in ",\t" else delim,
        columns=[h.strip()[:64] for h in header[:128]],
    )


def sniff_yaml_like(c: Ctx, text: str) -> Asset | None:
    probe = text[:PROBE]
    if not any(k in probe for k in _YAML_KEYS):
        return None
    if _MLMODEL.search(probe):
        try:
            doc = yaml.safe_load(text) if c.whole else None
        except yaml.YAMLError:
            doc = None
        if doc is None or (isinstance(doc, dict) and isinstance(doc.get("flavors"), dict)):
            run = doc.get("run_id") if isinstance(doc, dict) else None
            return c.asset(
                AssetKind.CONFIG,
                "mlflow-mlmodel",
                framework="mlflow",
                run_id=run,
                flavors=sorted(map(str, doc["flavors"])) if isinstance(doc, dict) else None,
            )
    if probe.startswith("---") and _PROMPTY.search(probe):
        return c.asset(AssetKind.PROMPT, "prompty", confidence=0.9)
    if _YAML_PROMPT.search(probe) or _YAML_AGENT.search(probe) or _YAML_LLM.search(probe):
        if not c.whole or len(text) > 1 << 20:
            return None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
        if isinstance(doc, dict):
            if _YAML_AGENT.search(probe):
                agents = [v for v in doc.values() if isinstance(v, dict) and {"role", "goal"} <= v.keys()]
                if agents or {"role", "goal", "backstory"} <= doc.keys():
                    return c.asset(
                        AssetKind.CONFIG, "agent-config", framework="crewai", confidence=0.85, agents=len(agents) or 1
                    )
            found = classify_json(c, doc)
            if found is not None:
                found.tags["syntax"] = "yaml"
                return found
            if "template" in doc and isinstance(doc["template"], str) and "{" in doc["template"]:
                return c.asset(AssetKind.PROMPT, "prompt-template", confidence=0.75, syntax="yaml")
    train_keys = {m.group(1) for m in _YAML_TRAIN.finditer(probe)}
    if len(train_keys) >= 2:
        return c.asset(AssetKind.CONFIG, "training-config", confidence=0.7, keys=sorted(train_keys)[:16])
    return None


def sniff_lightgbm(c: Ctx, text: str) -> Asset | None:
    if text.startswith("tree\nversion=") or text.startswith("tree\r\nversion="):
        return c.asset(AssetKind.MODEL, "lightgbm-text", framework="lightgbm")
    return None


def sniff_prompt(c: Ctx, text: str) -> Asset | None:
    probe = text[:4096]
    m = _PROMPT_START.match(probe)
    if not m:
        return None
    signals = len(_PROMPT_SIGNALS.findall(probe))
    placeholders = len(re.findall(r"\{\{\s*\w+\s*\}\}|\{[a-z_]+\}", probe))
    system = bool(re.match(r"(?is)\s*(?:you|act as|as an ai|system:|<\|im_start\|>system|<\|system\|>|<<SYS>>)", probe))
    conf = min(0.95, 0.6 + 0.05 * signals + 0.05 * placeholders)
    return c.asset(
        AssetKind.PROMPT, "system-prompt" if system else "prompt", confidence=conf, placeholders=placeholders or None
    )


def sniff_text(c: Ctx, text: str) -> Asset | None:
    if text.startswith("\ufeff"):
        text = text[1:]
    first = text.lstrip()[:1]
    if first in ("{", "["):
        return sniff_json(c, text)
    for sniff in (sniff_lightgbm, sniff_dotenv, sniff_yaml_like, sniff_prompt, sniff_table):
        found = sniff(c, text)
        if found is not None:
            return found
    return None
