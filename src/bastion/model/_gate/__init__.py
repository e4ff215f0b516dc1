"""Implementation of the deployment gate; the public API is `bastion.model.gate`."""
