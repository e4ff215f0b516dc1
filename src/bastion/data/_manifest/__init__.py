"""Implementation of dataset integrity manifests; the public API is `bastion.data.manifest`."""
