"""Key providers (local keyring, PKCS#11, hybrid post-quantum) and the key repository."""
