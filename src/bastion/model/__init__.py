"""Model engine: scanning model artifacts for malicious or tampered serialization."""
