"""Build-level facts about the post-trade contracts: size limit, no linking, parameters exposed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devnet.solc import Artifact
from tests.unit.postrade.conftest import EvmHarness, Infra, SblWorld, TradeWorld

POSTRADE_DIRS = ("solidity/trade_confirmation", "solidity/securities_lending", "solidity/master_data", "solidity/lib")
DEPLOYABLE = [
    "BusinessCalendar", "ConsumptionTaxTable", "TradeCalculator", "TradeBlockBook", "FundAllocationBook",
    "SblCalculator", "SblMarketData", "SblLoanBook", "SblStatementBook", "IdentifierChecker",
    "InstitutionRegistry", "FundRegistry", "SsiRegistry",
]
EIP170_LIMIT = 24_576


def postrade_artifacts(compiled: dict[str, Artifact]) -> dict[str, Artifact]:
    return {k: a for k, a in compiled.items() if a.source_path.startswith(POSTRADE_DIRS)}


def test_every_deployable_contract_is_compiled(compiled_contracts: dict[str, Artifact]) -> None:
    names = set(postrade_artifacts(compiled_contracts))
    assert set(DEPLOYABLE) <= names


@pytest.mark.parametrize("name", DEPLOYABLE)
def test_deployed_code_under_the_24_kib_limit_and_needs_no_linking(compiled_contracts: dict[str, Artifact],
                                                                   name: str) -> None:
    art = compiled_contracts[name]
    size = (len(art.deployed_bytecode) - 2) // 2
    assert 0 < size <= EIP170_LIMIT, f"{name}: {size} bytes"
    assert not re.search(r"__\$[0-9a-f]{34}\$__", art.bytecode), f"{name} needs library linking"


def test_deployed_sizes_on_chain(tw_md: TradeWorld, sw: SblWorld) -> None:
    """py-evm enforces EIP-170 at deployment; the code on chain is the compiled runtime code."""
    evm: EvmHarness = tw_md.evm
    for c in (tw_md.block_book, *tw_md.alloc_books.values(), tw_md.fund_registry,
              *tw_md.ssi_registries.values()):
        assert evm.code_size(c) == (len(c.artifact.deployed_bytecode) - 2) // 2
    for c in (sw.market, sw.loans, sw.statements):
        assert sw.evm.code_size(c) <= EIP170_LIMIT


def test_solidity_sources_live_in_their_use_case_folders() -> None:
    repo = Path(__file__).resolve().parents[3]
    for folder in POSTRADE_DIRS:
        assert list((repo / folder).glob("*.sol")), folder


def test_calendar_and_tax_parameters_are_exposed(infra: Infra) -> None:
    assert infra.calendar.call("weekendMask") == 0x60
    assert infra.calendar.call("yearEndClosure") is True
    assert infra.tax.call("entryCount") == 3
