"""Implementation of the trusted registry; the public API is `bastion.model.registry`."""
