"""Key pairs, key files and envelope encryption, all on the `cryptography` package."""
