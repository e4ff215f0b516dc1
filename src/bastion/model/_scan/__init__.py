"""Implementation of the model artifact scanner (private; use `bastion.model.scan`)."""
