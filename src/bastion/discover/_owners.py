"""Who owns an asset: explicit config first, then CODEOWNERS, then git history.

Config wins because it is a deliberate statement; CODEOWNERS is the team's own
review map; the last committer is a fallback that at least names a person.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

_CODEOWNERS_PLACES = ("CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")
MAX_GIT_LOOKUPS = 500


def _codeowners_regex(pattern: str) -> re.Pattern[str]:
    """gitignore-style CODEOWNERS pattern -> regex over POSIX relative paths."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    p = pattern.strip("/")
    dir_only = pattern.endswith("/")
    out = ""
    i = 0
    while i < len(p):
        if p[i : i + 3] == "**/":
            out += "(?:.*/)?"
            i += 3
        elif p[i : i + 2] == "**":
            out += ".*"
            i += 2
        elif p[i] == "*":
            out += "[^/]*"
            i += 1
        elif p[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(p[i])
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    suffix = "/.*" if dir_only else "(?:/.*)?"
    return re.compile(f"^{prefix}{out}{suffix}$")


class OwnerResolver:
    def __init__(self, root: Path, config: Mapping[str, str] | None = None, *, use_git: bool = True) -> None:
        self.root = root if root.is_dir() else root.parent
        self.config = dict(config or {})
        self.use_git = use_git
        self._git_calls = 0

    @cached_property
    def codeowners(self) -> list[tuple[re.Pattern[str], str]]:
        for place in _CODEOWNERS_PLACES:
            path = self.root / place
            try:
                text = path.read_text("utf-8", "replace")[: 1 << 20]
            except OSError:
                continue
            rules = []
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                parts = line.split()
                if len(parts) >= 2:
                    rules.append((_codeowners_regex(parts[0]), " ".join(parts[1:])))
            return rules
        return []

    @cached_property
    def git_root(self) -> bool:
        if not self.use_git or shutil.which("git") is None:
            return False
        try:
            out = subprocess.run(
                ["git", "-C", str(self.root), "rev-parse", "--is-inside-work-tree"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return out.stdout.strip() == "true"

    def resolve(self, relpath: str) -> tuple[str | None, str | None]:
        """(owner, source) where source is config / codeowners / git."""
        for pattern, configured in self.config.items():
            if fnmatch.fnmatch(relpath, pattern) or fnmatch.fnmatch(relpath, pattern.rstrip("/") + "/*"):
                return configured, "config"
        owner: str | None = None
        for regex, who in self.codeowners:
            if regex.match(relpath):
                owner = who  # last match wins, as in GitHub's semantics
        if owner:
            return owner, "codeowners"
        if self.git_root and self._git_calls < MAX_GIT_LOOKUPS:
            self._git_calls += 1
            try:
                out = subprocess.run(
                    ["git", "-C", str(self.root), "log", "-1", "--format=%an <%ae>", "--", relpath],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=False,
                )
            except (OSError, subprocess.SubprocessError):
                return None, None
            who = out.stdout.strip()
            if who:
                return who, "git"
        return None, None
