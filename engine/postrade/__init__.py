"""Post-trade use cases on the private-contract platform (DOMAIN.md): trade confirmation, SBL
fee / collateral-interest / dividend-equivalent matching, and fund / SSI master data.

The contracts live under `solidity/{trade_confirmation,securities_lending,master_data,lib}`;
`reference` is the integer-exact Python model of their formulas that tests cross-check them with.
Typed per-node clients come later, with the private network.
"""

from engine.postrade import reference

__all__ = ["reference"]
