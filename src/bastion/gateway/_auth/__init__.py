"""Who is calling: API keys, OIDC/JWT bearer tokens, administrator sessions."""
