"""Model-extraction detection per client: PRADA distance test, query volume, off-distribution share."""
