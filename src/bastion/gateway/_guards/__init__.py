"""The guard chain and the built-in guards."""
