"""HTTP routes: OpenAI-compatible, prediction, admin, health/metrics."""
