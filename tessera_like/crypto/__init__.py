"""Cryptography over domain values, on the `cryptography` package: key store, key files,
envelope encryption and party-info ownership proofs. Nothing here knows the payload codec,
the store, the APIs or the peers (`tessera_like.sealing` assembles payloads)."""
