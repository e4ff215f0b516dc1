"""Prompt-injection and jailbreak detection: normalisation, heuristics, a shipped linear classifier."""
