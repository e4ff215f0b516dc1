"""Implementation of the Python environment check; the public API is `bastion.model.envcheck`."""
