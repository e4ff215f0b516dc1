"""Data and prediction drift: per-feature tests, multivariate tests, the monitor and its stored windows."""
