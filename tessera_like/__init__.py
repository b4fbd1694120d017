"""tessera_like: a Tessera-shaped private transaction manager.

It holds a node's key pairs, encrypts private payloads for their recipients, stores them
(SQLite or PostgreSQL), distributes them to the other managers over the P2P API and serves
its own node over the Q2T API. It does not depend on the chain node; they talk over HTTP.
"""

__version__ = "0.1.0"

#: API versions this manager speaks, in the form GoQuorum reads from `GET /version/api`
#: ("2.1" enhanced privacy, "3.0" multi-tenancy-aware fields, "4.0" mandatory recipients).
API_VERSIONS: tuple[str, ...] = ("1.0", "2.0", "2.1", "3.0", "4.0")

__all__ = ["API_VERSIONS", "__version__"]
