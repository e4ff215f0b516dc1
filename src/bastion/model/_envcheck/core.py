"""Python environment check: AI/ML package inventory and requirement hygiene.

Installed packages are read from their metadata (never imported). A package whose
metadata carries a PEP 610 ``direct_url.json`` was installed from a URL, a VCS or a
local path, i.e. not from any index; pip does not record which index served a
normal install, so index allowlisting is enforced on the requirement files, where
`--index-url`/`--extra-index-url` and `name @ url` lines say it.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bastion.core.types import Asset, AssetKind, Finding, Location
from bastion.model._sign import rules as R

DEFAULT_INDEXES = ("https://pypi.org/simple",)
MAX_REQUIREMENT_BYTES = 4 * 1024 * 1024
MAX_INCLUDE_DEPTH = 8

# name -> category; names are PEP 503-normalised.
_GROUPS: dict[str, tuple[str, ...]] = {
    "framework": (
        "torch", "torchvision", "torchaudio", "tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib",
        "flax", "paddlepaddle", "mxnet", "lightning", "pytorch-lightning", "fastai", "deepspeed", "triton",
    ),
    "model-hub": (
        "transformers", "tokenizers", "datasets", "accelerate", "diffusers", "sentence-transformers", "peft",
        "trl", "bitsandbytes", "huggingface-hub", "timm", "safetensors", "sentencepiece", "tiktoken", "vllm",
        "spacy", "nltk", "gensim",
    ),
    "ml": (
        "scikit-learn", "xgboost", "lightgbm", "catboost", "statsmodels", "cleanlab", "opacus", "flwr",
        "tenseal", "adversarial-robustness-toolbox",
    ),
    "serving": ("onnx", "onnxruntime", "onnxruntime-gpu", "gguf", "h5py", "joblib", "model-signing", "mlflow", "ray"),
    "llm": (
        "openai", "anthropic", "cohere", "mistralai", "google-generativeai", "langchain", "langchain-core",
        "langchain-community", "langchain-openai", "llama-index", "llama-index-core", "litellm",
        "guardrails-ai", "chromadb", "faiss-cpu", "faiss-gpu", "pinecone-client", "weaviate-client",
        "qdrant-client",
    ),
}  # fmt: skip
AI_PACKAGES: dict[str, str] = {name: cat for cat, names in _GROUPS.items() for name in names}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def ai_category(name: str) -> str | None:
    n = normalize(name)
    if n in AI_PACKAGES:
        return AI_PACKAGES[n]
    if n.startswith(("langchain-", "llama-index-", "nvidia-cu")):
        return "llm" if not n.startswith("nvidia") else "framework"
    return None


@dataclass(slots=True)
class Package:
    name: str
    version: str
    category: str | None
    installer: str | None
    origin: str  # "index" | "url" | "vcs" | "local" | "editable"
    origin_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "category": self.category,
            "installer": self.installer,
            "origin": self.origin,
            "origin_url": self.origin_url,
        }

    def asset(self, project: str = "default") -> Asset:
        """The package as an AI-BOM component (kind `component`)."""
        return Asset(
            uri=f"pkg:pypi/{normalize(self.name)}@{self.version}",
            kind=AssetKind.COMPONENT,
            format="python-package",
            project=project,
            framework=self.category,
            tags={"origin": self.origin, "installer": self.installer or "unknown"},
        )


@dataclass(slots=True)
class EnvReport:
    packages: list[Package] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)

    @property
    def ai_packages(self) -> list[Package]:
        return [p for p in self.packages if p.category]

    def assets(self, project: str = "default") -> list[Asset]:
        return [p.asset(project) for p in self.ai_packages]

    def to_dict(self) -> dict[str, Any]:
        return {
            "packages": [p.to_dict() for p in self.ai_packages],
            "total_packages": len(self.packages),
            "requirements": self.requirements,
            "findings": [f.to_dict() for f in self.findings],
        }


def site_paths_of(python: Path) -> list[str]:
    """Another interpreter's sys.path, so its environment is read without importing anything of it."""
    out = subprocess.run(
        [str(python), "-I", "-c", "import sys, json; print(json.dumps(sys.path))"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if out.returncode != 0:
        raise ValueError(f"{python}: cannot run this interpreter ({out.stderr.strip()[:200] or out.returncode})")
    paths = json.loads(out.stdout)
    return [p for p in paths if isinstance(p, str) and p]


def _origin(dist: metadata.Distribution) -> tuple[str, str | None]:
    raw = dist.read_text("direct_url.json")
    if not raw:
        return "index", None
    try:
        info = json.loads(raw)
    except json.JSONDecodeError:
        return "url", None
    url = info.get("url") if isinstance(info, dict) else None
    if not isinstance(info, dict):
        return "url", None
    if "vcs_info" in info:
        return "vcs", url
    dir_info = info.get("dir_info")
    if isinstance(dir_info, dict):
        return ("editable" if dir_info.get("editable") else "local"), url
    if isinstance(url, str) and url.startswith("file:"):
        return "local", url
    return "url", url


def inventory(paths: Sequence[str] | None = None) -> list[Package]:
    """Every installed distribution on `paths` (default: this interpreter's sys.path)."""
    seen: dict[str, Package] = {}
    dists: Iterable[metadata.Distribution] = (
        metadata.distributions(path=list(paths)) if paths is not None else metadata.distributions()
    )
    for dist in dists:
        name = getattr(dist, "name", None)
        if not name:
            continue
        key = normalize(name)
        if key in seen:
            continue  # first on the path wins, as for imports
        installer = (dist.read_text("INSTALLER") or "").strip() or None
        origin, url = _origin(dist)
        seen[key] = Package(name, dist.version, ai_category(name), installer, origin, url)
    return sorted(seen.values(), key=lambda p: normalize(p.name))


def _finding(rule: Any, uri: str, evidence: str, line: int | None = None, **props: Any) -> Finding:
    return rule.finding(
        asset_uri=uri,
        location=Location(path=uri, line=line),
        scanner=R.SCANNER_NAME,
        evidence=evidence,
        properties=props,
    )


def _index_ok(url: str, allowed: Sequence[str]) -> bool:
    u = url.strip().rstrip("/")
    return any(u == a.strip().rstrip("/") for a in allowed)


_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def check_requirements(
    path: Path, *, allowed_indexes: Sequence[str] = DEFAULT_INDEXES, _depth: int = 0, _seen: set[Path] | None = None
) -> list[Finding]:
    """Flag unpinned and unhashed requirements and anything from outside the allowlisted index."""
    seen = _seen if _seen is not None else set()
    real = path.resolve()
    if real in seen:
        return []
    seen.add(real)
    size = path.stat().st_size
    if size > MAX_REQUIREMENT_BYTES:
        raise ValueError(f"{path}: {size} bytes is too large for a requirements file")
    text = path.read_text(encoding="utf-8", errors="replace")
    uri = path.as_posix()
    findings: list[Finding] = []
    logical: list[tuple[int, str]] = []
    buf, start = "", 0
    for i, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        if not buf:
            start = i
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        if buf.strip():
            logical.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        logical.append((start, buf.strip()))
    for lineno, line in logical:
        tokens = line.split()
        head = tokens[0]
        include = _option(tokens, ("-r", "--requirement", "-c", "--constraint"))
        if include is not None:
            if _depth >= MAX_INCLUDE_DEPTH:
                raise ValueError(f"{path}:{lineno}: requirement includes nest deeper than {MAX_INCLUDE_DEPTH}")
            inc = (path.parent / include).resolve()
            if inc.is_file():
                findings.extend(check_requirements(inc, allowed_indexes=allowed_indexes, _depth=_depth + 1, _seen=seen))
            continue
        links = _option(tokens, ("-f", "--find-links"))
        index = _option(tokens, ("-i", "--index-url", "--extra-index-url"))
        if links is not None or index is not None:
            url = links if links is not None else index or ""
            if links is not None or not _index_ok(url, allowed_indexes):
                findings.append(
                    _finding(R.ENV_UNTRUSTED_INDEX, uri, f"index {_safe_url(url)} is not allowlisted", lineno)
                )
            continue
        if head.startswith("-") and head not in ("-e", "--editable"):
            continue  # other pip options (--require-hashes, --no-binary ...)
        if head in ("-e", "--editable"):
            findings.append(
                _finding(R.ENV_UNTRUSTED_INDEX, uri, f"editable install {_safe_url(' '.join(tokens[1:2]))}", lineno)
            )
            continue
        hashes = [t for t in tokens if t.startswith("--hash")]
        spec = " ".join(t for t in tokens if not t.startswith("--"))
        if (
            re.match(r"^(git\+|hg\+|svn\+|bzr\+|https?://|file:)", spec)
            or " @ " in f" {spec} "
            or "@" in spec.split(";")[0]
        ):
            name = spec.split("@", 1)[0].strip() or spec[:60]
            findings.append(
                _finding(
                    R.ENV_UNTRUSTED_INDEX, uri, f"{name[:80]} is installed from a direct URL, not an index", lineno
                )
            )
            continue
        m = _REQ.match(spec)
        if not m:
            continue
        name, rest = m.group(1), m.group(3).split(";", 1)[0].strip()
        pinned = re.match(r"^===?\s*[^*,\s]+$", rest) is not None
        cat = ai_category(name)
        if not pinned:
            findings.append(
                _finding(
                    R.ENV_UNPINNED, uri, f"{name} {rest or '(any version)'} is not pinned", lineno, package=name, ai=cat
                )
            )
        if not hashes:
            findings.append(_finding(R.ENV_UNHASHED, uri, f"{name} has no --hash", lineno, package=name, ai=cat))
    return findings


def _option(tokens: list[str], names: tuple[str, ...]) -> str | None:
    """The value of a pip option in any of its spellings (`-r x`, `-rx`, `--requirement=x`)."""
    head = tokens[0]
    for name in names:
        if head == name:
            return tokens[1] if len(tokens) > 1 else ""
        if name.startswith("--") and head.startswith(name + "="):
            return head[len(name) + 1 :]
        if not name.startswith("--") and head.startswith(name) and len(head) > len(name):
            return head[len(name) :]
    return None


def _safe_url(url: str) -> str:
    """URLs may embed index credentials (https://user:token@host): never echo them."""
    return re.sub(r"//[^/@\s]+@", "//***@", url)[:200]


def check_environment(
    *,
    paths: Sequence[str] | None = None,
    python: Path | None = None,
    requirements: Sequence[Path] = (),
    allowed_indexes: Sequence[str] = DEFAULT_INDEXES,
) -> EnvReport:
    """Inventory an environment's AI/ML packages and check requirement files."""
    if python is not None:
        paths = site_paths_of(python)
    report = EnvReport(packages=inventory(paths))
    for pkg in report.ai_packages:
        if pkg.origin != "index":
            report.findings.append(
                _finding(
                    R.ENV_UNTRUSTED_INDEX,
                    f"pkg:pypi/{normalize(pkg.name)}@{pkg.version}",
                    f"{pkg.name} {pkg.version} was installed from a {pkg.origin} source "
                    f"{_safe_url(pkg.origin_url or '')}".rstrip(),
                    package=pkg.name,
                    origin=pkg.origin,
                )
            )
    for req in requirements:
        report.requirements.append(str(req))
        report.findings.extend(check_requirements(Path(req), allowed_indexes=allowed_indexes))
    return report
