"""Adversarial and out-of-distribution input detection for classic models."""
