"""Implementation of the tamper-evident audit log; the public surface is `bastion.core.audit`."""
