"""Post-trade use cases on the private-contract platform (DOMAIN.md): trade confirmation, SBL
fee / collateral-interest / dividend-equivalent matching, and fund / SSI master data.

The contracts live under `solidity/{trade_confirmation,securities_lending,master_data,lib}`;
`reference` is the integer-exact Python model of their formulas that tests cross-check them with;
`clients` are typed per-node clients that talk to the nodes over web3 (JSON-RPC) only, `scenario`
is the demo's post-trade day and `calendar_data` the holiday list and tax table they deploy.
"""

from postrade import reference

__all__ = ["reference"]
