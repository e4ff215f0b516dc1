"""De-identification: operators, the tokenization vault, table policies, data minimization."""
