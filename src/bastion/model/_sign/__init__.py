"""Implementation of model signing and verification; the public API is `bastion.model.sign`."""
