"""Model engine: artifact scanning, signing, registry and deployment gates for model files."""
