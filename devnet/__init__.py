"""Development-network tooling: the `privnet` CLI, the process launcher, the demo, manager key and
config generation, and the pinned Solidity compiler driver.

The top of the stack: it starts `engine` nodes and `tessera_like` managers as processes and drives
them with the `postrade` clients; nothing below imports it (except `postrade`, which compiles its
contracts with `devnet.solc`).
"""
