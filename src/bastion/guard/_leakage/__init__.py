"""Output guards: PII/secret leakage, system-prompt and canary leakage, unsafe links, confidence limiting."""
