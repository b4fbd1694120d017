"""The post-trade e2e world: one 6-node network with the demo's scenario run once, shared by the
post-trade e2e modules (a network per module would cost the suite half a minute each).

node1 = broker A, node2 = asset manager M, node3 = trust bank TB1, node4 = broker B (the outsider),
node5 = trust bank TB2, node6 = regulator R (a mandatory recipient of every private record).
Modules add their own instances with fresh ids (`World.fresh_tag`), so no module depends on
another's records.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devnet.network import LocalNetwork
from postrade.clients import Party, PostTradeNetwork
from postrade.scenario import Cast, PostTradeScenario
from tests.helpers.network import E2ENetwork, NodeHandle

NODES = 6


@dataclass
class World:
    e2e: E2ENetwork
    net: PostTradeNetwork  # as the scenario sends: the regulator added to every private set
    s: PostTradeScenario

    @property
    def cast(self) -> Cast:
        return self.s.cast

    def node(self, party: Party) -> NodeHandle:
        return self.e2e.node(party.node)

    @staticmethod
    def fresh_tag() -> str:
        """12 random hex characters: ids such as BLK-<tag> fill their bytes16 and occur nowhere by chance."""
        return secrets.token_hex(6).upper()


@contextmanager
def running_world(directory: Path) -> Iterator[World]:
    local = LocalNetwork(directory, nodes=NODES)
    local.start()
    e2e = E2ENetwork(local)
    try:
        net = PostTradeNetwork(local.spec)
        scenario = PostTradeScenario(net, Cast.from_network(net), tag=World.fresh_tag()).run()
        yield World(e2e, scenario.net, scenario)
    finally:
        local.stop()
        e2e.close()
