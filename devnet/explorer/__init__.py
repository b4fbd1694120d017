"""`privnet explorer`: a page showing the public chain and, per node, what that node sees of it.

A development tool, run beside a network started by `privnet up`: it reads each node over its
JSON-RPC URL in network.json, as an outside client, and decodes private payloads with the ABIs
of compiled artifacts (`privnet compile`). It binds 127.0.0.1 by default: it shows every party's
private data to whoever reaches it.
"""

from __future__ import annotations

from devnet.explorer.serve import ExplorerError, default_artifact_dirs, serve

__all__ = ["ExplorerError", "default_artifact_dirs", "serve"]
