"""Contract extension (GoQuorum's `quorumExtension_*`, PROTOCOL.md §11).

A party of a private contract adds a new party by sharing the contract's *current* state, not
its history. The parts: `contract` (the embedded management contract's calls and events),
`snapshot` (take, encode and install one contract's state), `registry` (the extensions this node
takes part in, written during block processing), `applier` (the hook the private side calls after
each private transaction: it installs a shared state at the block that records it) and `service`
(the JSON-RPC methods and the initiator's state share after the recipient accepts).
"""
