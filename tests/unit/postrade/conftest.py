"""In-process harness for the post-trade contracts: a real py-evm chain (Prague) in memory.

Why: the contracts are the system of record, so the tests run them on a real EVM (signed
transactions, receipts, logs, reverts with their reason strings) rather than on a model. The
private network (Tessera-style recipients) comes later; here every party is a funded account on
one chain, and each contract instance names its recipient set through its role addresses.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.exceptions import Revert
from eth.vm.forks.prague import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode, encode
from eth_keys import keys
from eth_utils import keccak, to_wei

from devnet.solc import Artifact
from postrade import reference as ref

CHAIN_ID = 1337
GAS_LIMIT = 1_000_000_000
TX_GAS = 60_000_000
GENESIS_TIME = 1_546_300_800  # 2019-01-01T00:00:00Z
SHARED_EXAMPLES = Path("/work/shared/docs/domain_examples.json")
VENDORED_EXAMPLES = Path(__file__).parent / "data" / "domain_examples.json"

PARTIES = (
    "admin", "broker_a", "investor", "trustee1", "trustee2", "broker_b",
    "lender", "lender_manager", "borrower", "price_source", "outsider",
)

ERROR_SELECTOR = keccak(text="Error(string)")[:4]
PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]


class Reverted(Exception):
    """Raised when a transaction or call reverts; `reason` is the decoded Error(string)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Struct(dict):
    """A decoded ABI tuple: keys are the component names, also readable as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def abi_type(p: Mapping[str, Any]) -> str:
    t = p["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in p["components"]) + ")" + t[len("tuple"):]
    return t


def _array_dims(t: str) -> tuple[str, str | None]:
    """Split `T[..][n]` into (`T[..]`, the outer array suffix) or (t, None)."""
    if not t.endswith("]"):
        return t, None
    i = t.rindex("[")
    return t[:i], t[i:]


def _prepare(value: Any, p: Mapping[str, Any]) -> Any:
    """Python value -> eth_abi value: dicts/dataclass-like tuples for structs, recursively."""
    t = p["type"]
    inner, dim = _array_dims(t)
    if dim is not None:
        return [_prepare(v, {**p, "type": inner}) for v in value]
    if t == "tuple":
        comps = p["components"]
        if isinstance(value, Mapping):
            value = [value[c["name"]] for c in comps]
        return tuple(_prepare(v, c) for v, c in zip(value, comps, strict=True))
    if t.startswith("bytes") and t != "bytes" and isinstance(value, str):
        return value.encode()
    if t == "bytes" and isinstance(value, str):
        return value.encode()
    return value


def _convert(value: Any, p: Mapping[str, Any]) -> Any:
    t = p["type"]
    inner, dim = _array_dims(t)
    if dim is not None:
        return [_convert(v, {**p, "type": inner}) for v in value]
    if t == "tuple":
        return Struct({c["name"]: _convert(v, c) for v, c in zip(value, p["components"], strict=True)})
    return value


def decode_revert(output: bytes) -> str:
    if output[:4] == ERROR_SELECTOR:
        return decode(["string"], output[4:])[0]
    if output[:4] == PANIC_SELECTOR:
        return f"panic 0x{decode(['uint256'], output[4:])[0]:02x}"
    return f"revert 0x{output.hex()}"


@dataclass
class Event:
    name: str
    args: Struct
    address: bytes


@dataclass
class Receipt:
    gas_used: int
    events: list[Event]
    output: Any = None

    def named(self, name: str) -> list[Struct]:
        return [e.args for e in self.events if e.name == name]


class Contract:
    """A deployed contract: `c.call("fn", *args)` for views, `c.transact("fn", *args, sender=...)`."""

    def __init__(self, evm: EvmHarness, address: bytes, artifact: Artifact, name: str) -> None:
        self.evm = evm
        self.address = address
        self.artifact = artifact
        self.name = name
        self._fns = {e["name"]: e for e in artifact.abi if e.get("type") == "function"}
        self._events = {}
        for e in artifact.abi:
            if e.get("type") == "event":
                sig = f"{e['name']}({','.join(abi_type(i) for i in e['inputs'])})"
                self._events[keccak(text=sig)] = e

    def _calldata(self, fn: str, args: Sequence[Any]) -> tuple[bytes, Mapping[str, Any]]:
        try:
            abi = self._fns[fn]
        except KeyError:
            raise AttributeError(f"{self.name} has no function {fn!r}") from None
        types = [abi_type(i) for i in abi["inputs"]]
        if len(args) != len(types):
            raise TypeError(f"{self.name}.{fn} takes {len(types)} arguments, got {len(args)}")
        selector = keccak(text=f"{fn}({','.join(types)})")[:4]
        values = [_prepare(a, i) for a, i in zip(args, abi["inputs"], strict=True)]
        return selector + encode(types, values), abi

    def _decode_output(self, abi: Mapping[str, Any], output: bytes) -> Any:
        outs = abi["outputs"]
        if not outs:
            return None
        values = decode([abi_type(o) for o in outs], output)
        converted = [_convert(v, o) for v, o in zip(values, outs, strict=True)]
        return converted[0] if len(converted) == 1 else tuple(converted)

    def call(self, fn: str, *args: Any, sender: str = "outsider") -> Any:
        data, abi = self._calldata(fn, args)
        return self._decode_output(abi, self.evm.call(self.address, data, sender))

    def transact(self, fn: str, *args: Any, sender: str) -> Receipt:
        data, abi = self._calldata(fn, args)
        computation = self.evm.send(self.address, data, sender)
        events = [self.evm.decode_log(log) for log in computation.get_log_entries()]
        return Receipt(
            gas_used=computation.get_gas_used(),
            events=[e for e in events if e is not None],
            output=self._decode_output(abi, computation.output),
        )

    def decode_event(self, topics: Sequence[int], data: bytes) -> Event | None:
        topic0 = topics[0].to_bytes(32, "big") if topics else b""
        e = self._events.get(topic0)
        if e is None:
            return None
        indexed = [i for i in e["inputs"] if i["indexed"]]
        plain = [i for i in e["inputs"] if not i["indexed"]]
        values: dict[str, Any] = {}
        for i, t in zip(indexed, topics[1:], strict=True):
            raw = t.to_bytes(32, "big")
            if i["type"] in ("string", "bytes") or i["type"].endswith("]") or i["type"].startswith("tuple"):
                values[i["name"]] = raw
            else:
                values[i["name"]] = decode([abi_type(i)], raw)[0]
        decoded = decode([abi_type(i) for i in plain], data)
        for i, v in zip(plain, decoded, strict=True):
            values[i["name"]] = _convert(v, i)
        return Event(e["name"], Struct(values), b"")


class EvmHarness:
    """One in-memory chain with funded, named accounts; every transaction is mined at once."""

    CHAIN_CLASS = MiningChain.configure(vm_configuration=((0, PragueVM),), chain_id=CHAIN_ID)

    def __init__(self, artifacts: Mapping[str, Artifact], *, _db: AtomicDB | None = None) -> None:
        self.artifacts = artifacts
        self.keys = {name: keys.PrivateKey(keccak(text=f"postrade:{name}")) for name in PARTIES}
        self.addr = {name: k.public_key.to_canonical_address() for name, k in self.keys.items()}
        self.name_of = {a: n for n, a in self.addr.items()}
        if _db is None:
            genesis = {
                "difficulty": 0, "gas_limit": GAS_LIMIT, "timestamp": GENESIS_TIME,
                "coinbase": b"\0" * 20, "extra_data": b"", "nonce": b"\0" * 8, "mix_hash": b"\0" * 32,
            }
            state = {a: {"balance": to_wei(10_000, "ether"), "nonce": 0, "code": b"", "storage": {}}
                     for a in self.addr.values()}
            self.chain = self.CHAIN_CLASS.from_genesis(AtomicDB(), genesis, state)
        else:
            self.chain = self.CHAIN_CLASS(_db)
        self.db: AtomicDB = self.chain.chaindb.db
        self.nonces = dict.fromkeys(PARTIES, 0)
        self.now = GENESIS_TIME
        self.contracts: dict[bytes, Contract] = {}

    def name(self, address: str | bytes) -> str | None:
        """Party name of an address as decoded by eth_abi ('0x…'), None for the zero address."""
        raw = bytes.fromhex(address[2:]) if isinstance(address, str) else address
        if raw == b"\0" * 20:
            return None
        return self.name_of.get(raw, "0x" + raw.hex())

    def clone(self) -> EvmHarness:
        """An independent copy of the chain (same contracts, same state): a cheap per-test fork."""
        kv = dict(self.db.wrapped_db.kv_store)
        twin = EvmHarness(self.artifacts, _db=AtomicDB(MemoryDB(kv)))
        twin.nonces = dict(self.nonces)
        twin.now = self.now
        for address, c in self.contracts.items():
            twin.contracts[address] = Contract(twin, address, c.artifact, c.name)
        return twin

    # -- time -------------------------------------------------------------------------------------

    def set_today(self, day: str | int) -> None:
        """Make block.timestamp fall on `day` in Japan (noon JST)."""
        self.now = ref.to_day(day) * 86400 + 3 * 3600
        self._stamp()

    def _stamp(self) -> None:
        parent = self.chain.get_canonical_head()
        self.chain.set_header_timestamp(max(self.now, parent.timestamp + 1))

    # -- transactions -----------------------------------------------------------------------------

    def _tx(self, sender: str, to: bytes, data: bytes, gas: int) -> Any:
        vm = self.chain.get_vm()
        tx = vm.create_unsigned_transaction(
            nonce=self.nonces[sender], gas_price=10**9, gas=gas, to=to, value=0, data=data,
        )
        return tx.as_signed_transaction(self.keys[sender], chain_id=CHAIN_ID)

    def send(self, to: bytes, data: bytes, sender: str) -> Any:
        self._stamp()
        signed = self._tx(sender, to, data, TX_GAS)
        self.nonces[sender] += 1
        _, _, computation = self.chain.apply_transaction(signed)
        self.chain.mine_block()
        if computation.is_error:
            err = computation.error
            if isinstance(err, Revert):
                raise Reverted(decode_revert(err.args[0] if err.args else b""))
            raise Reverted(f"vm error: {type(err).__name__}: {err}")
        return computation

    def call(self, to: bytes, data: bytes, sender: str = "outsider") -> bytes:
        self._stamp()
        vm = self.chain.get_vm()
        tx = vm.create_unsigned_transaction(
            nonce=self.nonces[sender], gas_price=0, gas=TX_GAS, to=to, value=0, data=data,
        )
        spoofed = SpoofTransaction(tx, from_=self.addr[sender])
        try:
            return self.chain.get_transaction_result(spoofed, self.chain.header)
        except Revert as err:
            raise Reverted(decode_revert(err.args[0] if err.args else b"")) from None

    def deploy(self, name: str, *args: Any, sender: str = "admin") -> Contract:
        art = self.artifacts[name]
        ctor = next((e for e in art.abi if e.get("type") == "constructor"), {"inputs": []})
        types = [abi_type(i) for i in ctor["inputs"]]
        values = [_prepare(a, i) for a, i in zip(args, ctor["inputs"], strict=True)]
        data = bytes.fromhex(art.bytecode[2:]) + encode(types, values)
        computation = self.send(b"", data, sender)
        address = computation.msg.storage_address
        contract = Contract(self, address, art, name)
        self.contracts[address] = contract
        return contract

    def decode_log(self, log: tuple[bytes, Sequence[int], bytes]) -> Event | None:
        address, topics, data = log
        contract = self.contracts.get(address)
        if contract is None:
            return None
        event = contract.decode_event(topics, data)
        if event is not None:
            event.address = address
        return event

    def code_size(self, contract: Contract) -> int:
        return len(self.chain.get_vm().state.get_code(contract.address))


def revert_reason(fn: Callable[[], Any]) -> str:
    """Run `fn`, which must revert, and return the reason."""
    with pytest.raises(Reverted) as info:
        fn()
    return info.value.reason


# ---------------------------------------------------------------------------------------------
# Test data: calendar and tax table
# ---------------------------------------------------------------------------------------------

# Japanese national holidays (incl. substitute holidays) used as calendar data in the tests. The
# Dec 31 - Jan 3 exchange closure is the calendar's yearEndClosure parameter. Verify against the
# Cabinet Office list before using these for anything but tests.
JP_HOLIDAYS = {
    2019: ["01-14", "02-11", "03-21", "04-29", "04-30", "05-01", "05-02", "05-03", "05-06", "07-15",
           "08-12", "09-16", "09-23", "10-14", "10-22", "11-04"],
    2020: ["01-13", "02-11", "02-24", "03-20", "04-29", "05-04", "05-05", "05-06", "07-23", "07-24",
           "08-10", "09-21", "09-22", "11-03", "11-23"],
    2021: ["01-11", "02-11", "02-23", "04-29", "05-03", "05-04", "05-05", "07-22", "07-23", "08-09",
           "09-20", "09-23", "11-03", "11-23"],
    2022: ["01-10", "02-11", "02-23", "03-21", "04-29", "05-03", "05-04", "05-05", "07-18", "08-11",
           "09-19", "09-23", "10-10", "11-03", "11-23"],
    2023: ["01-09", "02-23", "03-21", "05-03", "05-04", "05-05", "07-17", "08-11", "09-18", "10-09",
           "11-03", "11-23"],
    2024: ["01-08", "02-12", "02-23", "03-20", "04-29", "05-03", "05-06", "07-15", "08-12", "09-16",
           "09-23", "10-14", "11-04"],
    2025: ["01-13", "02-11", "02-24", "03-20", "04-29", "05-05", "05-06", "07-21", "08-11", "09-15",
           "09-23", "10-13", "11-03", "11-24"],
}
CALENDAR_FROM = "2019-01-01"
CALENDAR_UNTIL = "2025-12-31"
TAX_TABLE = [("1997-04-01", 5), ("2014-04-01", 8), ("2019-10-01", 10)]


def holiday_days() -> list[int]:
    return sorted(ref.to_day(f"{y}-{md}") for y, mds in JP_HOLIDAYS.items() for md in mds)


def reference_calendar() -> ref.Calendar:
    return ref.Calendar(
        holidays=set(holiday_days()), weekend_mask=ref.WEEKEND_SAT_SUN, year_end_closure=True,
        valid_from=ref.to_day(CALENDAR_FROM), valid_until=ref.to_day(CALENDAR_UNTIL),
    )


def reference_tax_table() -> ref.TaxTable:
    return ref.TaxTable([(ref.to_day(d), pct) for d, pct in TAX_TABLE])


def b16(text: str) -> bytes:
    return text.encode().ljust(16, b"\0")


def isin_bytes(text: str) -> bytes:
    return text.encode()


# ---------------------------------------------------------------------------------------------
# Deployed worlds
# ---------------------------------------------------------------------------------------------


@dataclass
class Infra:
    calendar: Contract
    tax: Contract
    trade_calc: Contract
    sbl_calc: Contract
    ids: Contract


@dataclass
class TradeWorld:
    """Broker A and the investor, with one allocation book per trustee (TB1, TB2)."""

    evm: EvmHarness
    infra: Infra
    block_book: Contract
    alloc_books: dict[str, Contract]  # trustee name -> book
    fund_registry: Contract | None = None
    ssi_registries: dict[str, Contract] = field(default_factory=dict)
    schedule: ref.Schedule = field(default_factory=ref.Schedule)
    profile: ref.MatchingProfile = field(default_factory=ref.MatchingProfile)


@dataclass
class SblWorld:
    evm: EvmHarness
    infra: Infra
    market: Contract
    loans: Contract
    statements: Contract
    params: ref.SblParams


def deploy_infra(evm: EvmHarness) -> Infra:
    return Infra(
        calendar=evm.deploy("BusinessCalendar", evm.addr["admin"], ref.WEEKEND_SAT_SUN, True,
                            ref.to_day(CALENDAR_FROM), ref.to_day(CALENDAR_UNTIL), holiday_days()),
        tax=evm.deploy("ConsumptionTaxTable", evm.addr["admin"], [ref.to_day(d) for d, _ in TAX_TABLE],
                       [p for _, p in TAX_TABLE]),
        trade_calc=evm.deploy("TradeCalculator"),
        sbl_calc=evm.deploy("SblCalculator"),
        ids=evm.deploy("IdentifierChecker"),
    )


FUND_REGISTRY_DEFAULTS = {
    "strictIdentifierCase": True, "checkGiinShape": True, "requireEstablishedOnTradeDate": True,
    "requireSettlementByRedemption": True, "amlBlockingMask": (1 << 3) | (1 << 4),
    "trusteeChangeNeedsIncoming": True,
}


def deploy_trade_world(
    evm: EvmHarness,
    schedule: ref.Schedule | None = None,
    profile: ref.MatchingProfile | None = None,
    *,
    with_master_data: bool = False,
    trustee_approval_required: bool = False,
    infra: Infra | None = None,
) -> TradeWorld:
    infra = infra or deploy_infra(evm)
    schedule = schedule or ref.Schedule()
    profile = profile or ref.MatchingProfile()
    block_book = evm.deploy(
        "TradeBlockBook", evm.addr["broker_a"], evm.addr["investor"], infra.calendar.address,
        infra.tax.address, infra.trade_calc.address, schedule.as_abi(), sender="broker_a",
    )
    fund_registry = None
    ssi: dict[str, Contract] = {}
    if with_master_data:
        fund_registry = evm.deploy(
            "FundRegistry", evm.addr["investor"], [evm.addr["trustee1"], evm.addr["trustee2"]],
            FUND_REGISTRY_DEFAULTS, sender="investor",
        )
        for t in ("trustee1", "trustee2"):
            ssi[t] = evm.deploy("SsiRegistry", evm.addr["investor"], evm.addr[t], evm.addr["broker_a"], True, True,
                                sender="investor")
    zero = b"\0" * 20
    books = {
        t: evm.deploy(
            "FundAllocationBook", evm.addr["broker_a"], evm.addr["investor"], evm.addr[t],
            fund_registry.address if fund_registry else zero, ssi[t].address if ssi else zero, b"EQU",
            trustee_approval_required, profile.as_abi(), sender="investor",
        )
        for t in ("trustee1", "trustee2")
    }
    return TradeWorld(evm, infra, block_book, books, fund_registry, ssi, schedule, profile)


def deploy_sbl_world(
    evm: EvmHarness,
    params: ref.SblParams | None = None,
    statement_params: Mapping[str, Any] | None = None,
    *,
    with_manager: bool = True,
    infra: Infra | None = None,
) -> SblWorld:
    infra = infra or deploy_infra(evm)
    params = params or ref.SblParams()
    sp = {"tolFeeYen": 0, "tolInterestYen": 0, "tolDividendYen": 0, "adoptSide": 0,
          "requireManagerStatement": False, "paymentDayOfNextMonth": 10, "tolKind": [0, 0, 0],
          "tolRate_e6": [0, 0, 0], "billingUnit": 0, **(statement_params or {})}
    market = evm.deploy("SblMarketData", evm.addr["lender"], evm.addr["price_source"], infra.calendar.address,
                        sender="lender")
    manager = evm.addr["lender_manager"] if with_manager else b"\0" * 20
    loans = evm.deploy("SblLoanBook", evm.addr["lender"], manager, evm.addr["borrower"], market.address,
                       params.as_abi(), sender="lender")
    statements = evm.deploy("SblStatementBook", loans.address, sp, sender="lender")
    return SblWorld(evm, infra, market, loans, statements, params)


def rebind(obj: Any, evm: EvmHarness) -> Any:
    """The same world on a cloned chain: every Contract is swapped for the clone's."""
    if isinstance(obj, Contract):
        return evm.contracts[obj.address]
    if isinstance(obj, EvmHarness):
        return evm
    if isinstance(obj, dict):
        return {k: rebind(v, evm) for k, v in obj.items()}
    if isinstance(obj, (Infra, TradeWorld, SblWorld)):
        return dataclasses.replace(obj, **{f.name: rebind(getattr(obj, f.name), evm) for f in dataclasses.fields(obj)})
    return obj


def recipients(contract: Contract) -> set[str]:
    """Party names a contract instance is bound to through its role getters: the recipient set a
    private deployment must use as privateFor (one instance per recipient set, §6)."""
    roles = ("broker", "investor", "trustee", "assetManager", "lender", "lenderManager", "borrower",
             "priceSource", "admin")
    names = set()
    fns = {e["name"] for e in contract.artifact.abi if e.get("type") == "function"}
    for role in roles:
        if role in fns:
            name = contract.evm.name(contract.call(role))
            if name is not None:
                names.add(name)
    return names


def load_examples() -> list[dict[str, Any]]:
    """The product owners' sample: $POSTRADE_DOMAIN_EXAMPLES, else the shared docs copy, else the
    copy vendored beside these tests (kept identical by test_vendored_examples_match_shared)."""
    override = os.environ.get("POSTRADE_DOMAIN_EXAMPLES")
    for path in (Path(override) if override else None, SHARED_EXAMPLES, VENDORED_EXAMPLES):
        if path is not None and path.exists():
            return json.loads(path.read_text())
    raise FileNotFoundError("domain_examples.json not found")


@pytest.fixture(scope="session")
def base_evm(compiled_contracts: dict[str, Artifact]) -> tuple[EvmHarness, Infra]:
    evm = EvmHarness(compiled_contracts)
    return evm, deploy_infra(evm)


@pytest.fixture(scope="session")
def trade_template(base_evm: tuple[EvmHarness, Infra]) -> TradeWorld:
    evm, infra = base_evm
    evm = evm.clone()
    return deploy_trade_world(evm, infra=rebind(infra, evm))


@pytest.fixture(scope="session")
def sbl_template(base_evm: tuple[EvmHarness, Infra]) -> SblWorld:
    evm, infra = base_evm
    evm = evm.clone()
    return deploy_sbl_world(evm, infra=rebind(infra, evm))


@pytest.fixture
def evm(base_evm: tuple[EvmHarness, Infra]) -> EvmHarness:
    """A fresh chain with the public infrastructure (calendar, tax table, calculators) deployed."""
    return base_evm[0].clone()


@pytest.fixture
def infra(evm: EvmHarness, base_evm: tuple[EvmHarness, Infra]) -> Infra:
    return rebind(base_evm[1], evm)


@pytest.fixture
def tw(trade_template: TradeWorld) -> TradeWorld:
    """Default trade-confirmation world (no master-data checks), cloned per test."""
    return rebind(trade_template, trade_template.evm.clone())


@pytest.fixture
def sw(sbl_template: SblWorld) -> SblWorld:
    """Default SBL world (lender with manager, borrower), cloned per test."""
    return rebind(sbl_template, sbl_template.evm.clone())


@pytest.fixture(scope="session")
def trade_md_template(base_evm: tuple[EvmHarness, Infra]) -> TradeWorld:
    evm, infra = base_evm
    evm = evm.clone()
    w = deploy_trade_world(evm, with_master_data=True, infra=rebind(infra, evm))
    for code, trustee in DEFAULT_FUNDS.items():
        register_fund(w, code, trustee, "2019-01-04")
        register_ssi(w, code, trustee, "2019-01-04")
    return w


@pytest.fixture
def tw_md(trade_md_template: TradeWorld) -> TradeWorld:
    """Trade world whose allocation books check the fund registry and SSIs (FUND-A..D registered)."""
    return rebind(trade_md_template, trade_md_template.evm.clone())


# ---------------------------------------------------------------------------------------------
# Trade-confirmation flows
# ---------------------------------------------------------------------------------------------

DEFAULT_FUNDS = {"FUND-A": "trustee1", "FUND-B": "trustee2", "FUND-C": "trustee2", "FUND-D": "trustee1"}
TEST_LEI_AM = "549300TESTFUNDJP0A93"
TEST_LEI_TB = "HWUPKR0MPOU8FGXBT394"


def trustee_for(fund: str) -> str:
    return DEFAULT_FUNDS.get(fund, "trustee2")


def fills_abi(fills: Sequence[Mapping[str, int]]) -> list[tuple]:
    return [(b16(f"X{i}"), f["quantity"], f["price_e4"], b"XJPX") for i, f in enumerate(fills)]


def notice(block_id: str, isin: str, side: int, trade_date: str | int, order_type: int = ref.OrderType.AGENCY,
           unit: int = 100) -> tuple:
    return (b16(block_id), isin.encode(), int(side), int(order_type), ref.to_day(trade_date), unit)


@dataclass
class BlockRun:
    """A block carried through allocation: its block-book record and each fund's allocation id."""

    block_id: str
    block: Struct
    allocated: dict[str, int]
    alloc_ids: dict[str, bytes]
    books: dict[str, Contract]
    alloc_inputs: dict[str, tuple]


def post_block(w: TradeWorld, block_id: str, fills: Sequence[Mapping[str, int]], *, isin: str = "JP3633400001",
               side: int = ref.Side.BUY, trade_date: str | int = "2025-03-18",
               order_type: int = ref.OrderType.AGENCY, unit: int = 100) -> Struct:
    w.block_book.transact("postExecutionNotice", notice(block_id, isin, side, trade_date, order_type, unit),
                          fills_abi(fills), sender="broker_a")
    return w.block_book.call("getBlock", b16(block_id))


def accept_block(w: TradeWorld, block_id: str) -> Struct:
    b = w.block_book.call("getBlock", b16(block_id))
    w.block_book.transact("acceptBlock", b16(block_id), b.version, b.totalQuantity, b.avgPrice_e4,
                          sender="investor")
    return w.block_book.call("getBlock", b16(block_id))


def allocate_block(w: TradeWorld, block_id: str, orders: Mapping[str, int],
                   trustee_of: Callable[[str], str] = trustee_for, post_to_books: bool = True) -> BlockRun:
    """Investor allocates in the block book, then posts each fund's allocation to its trustee's book."""
    b = w.block_book.call("getBlock", b16(block_id))
    codes = list(orders)
    w.block_book.transact(
        "postAllocation", b16(block_id), b.version, [b16(c) for c in codes], [orders[c] for c in codes],
        [w.alloc_books[trustee_of(c)].address for c in codes], sender="investor",
    )
    lines = w.block_book.call("allocationsOf", b16(block_id), b.version)
    allocated = {ln.fundCode.rstrip(b"\0").decode(): ln.allocatedQuantity for ln in lines}
    run = BlockRun(block_id, w.block_book.call("getBlock", b16(block_id)), allocated, {}, {}, {})
    for ln in lines:
        code = ln.fundCode.rstrip(b"\0").decode()
        book = w.alloc_books[trustee_of(code)]
        inp = (b16(block_id), b.version, b16(code), b.isin, b.side, b.orderType, b.tradeDate, b.settlementDate,
               ln.orderedQuantity, ln.allocatedQuantity, b.avgPrice_e4)
        run.books[code] = book
        run.alloc_inputs[code] = inp
        run.alloc_ids[code] = book.call("allocationId", b16(block_id), b.version, b16(code))
        if post_to_books:
            book.transact("postAllocation", inp, sender="investor")
    return run


def confirmation(run: BlockRun, fund: str, figures: ref.Figures | Sequence[int], *,
                 calc_hash: bytes = b"\0" * 32, **l1_override: Any) -> tuple:
    a = run.alloc_inputs[fund]
    fields = {"isin": a[3], "side": a[4], "tradeDate": a[6], "settlementDate": a[7], "quantity": a[9]}
    fields.update(l1_override)
    figs = figures.as_tuple() if isinstance(figures, ref.Figures) else tuple(figures)
    return (a[0], a[1], a[2], fields["isin"], fields["side"], fields["tradeDate"], fields["settlementDate"],
            fields["quantity"], figs, calc_hash)


def submit(run: BlockRun, fund: str, figures: ref.Figures | Sequence[int], sender: str, **kw: Any) -> Receipt:
    return run.books[fund].transact("submitConfirmation", confirmation(run, fund, figures, **kw), sender=sender)


def alloc_state(run: BlockRun, fund: str) -> str:
    return ALLOC_STATES[run.books[fund].call("getAllocation", run.alloc_ids[fund]).state]


ALLOC_STATES = ["NONE", "ALLOCATED", "MATCHED", "MATCHED_WITH_TOLERANCE", "MISMATCHED", "MATCH_AGREED",
                "SETTLEMENT_INSTRUCTED", "SETTLED", "CANCEL_REQUESTED", "CANCELLED", "SUPERSEDED"]
BLOCK_STATES = ["NONE", "NOE_POSTED", "BLOCK_AGREED", "BLOCK_DISPUTED", "ALLOCATED", "CONFIRMED",
                "SETTLEMENT_INSTRUCTED", "SETTLED", "CANCELLED"]


def block_state(w: TradeWorld, block_id: str) -> str:
    return BLOCK_STATES[w.block_book.call("getBlock", b16(block_id)).state]


# ---------------------------------------------------------------------------------------------
# Master-data flows
# ---------------------------------------------------------------------------------------------


def fund_input(code: str, trustee_addr: bytes, establishment: str | int, **over: Any) -> dict[str, Any]:
    x = {
        "fundCode": b16(code), "fundType": 0, "nameJa": f"{code} ファンド", "nameEn": f"{code} Fund",
        "assetManagerLei": TEST_LEI_AM, "trusteeLei": TEST_LEI_TB, "trustee": trustee_addr, "fundLei": "",
        "establishmentDate": ref.to_day(establishment), "fiscalPeriodEnd": "0331", "taxStatus": "TAXABLE",
        "giin": "", "fatcaClassification": "NFFE", "crsStatus": "REPORTABLE",
    }
    x.update(over)
    return x


def register_fund(w: TradeWorld, code: str, trustee: str, establishment: str | int) -> None:
    reg = w.fund_registry
    assert reg is not None
    reg.transact("createFund", fund_input(code, w.evm.addr[trustee], establishment), sender="investor")
    reg.transact("submitFund", b16(code), sender="investor")
    reg.transact("confirmFund", b16(code), sender=trustee)


def ssi_input(code: str, effective: str | int, account: str = "TB1-0001", **over: Any) -> dict[str, Any]:
    x = {
        "fundCode": b16(code), "securityType": b"EQU", "market": b"JP", "method": b"JASDEC", "pset": "JJSDJPJT",
        "agentBic": "MHCBJPJT", "agentJasdecCode": "12345", "safekeepingAccount": account.encode(),
        "cashAccount": b"CASH-" + account.encode(), "effectiveDate": ref.to_day(effective),
    }
    x.update(over)
    return x


def register_ssi(w: TradeWorld, code: str, trustee: str, effective: str | int, account: str = "TB1-0001") -> int:
    reg = w.ssi_registries[trustee]
    reg.transact("registerSsi", ssi_input(code, effective, account), sender="investor")
    version = reg.call("versionCount", b16(code), b"EQU")
    reg.transact("approveSsi", b16(code), b"EQU", version, sender="broker_a")
    return version


# ---------------------------------------------------------------------------------------------
# SBL flows
# ---------------------------------------------------------------------------------------------

SBL_ISIN = "JP3633400001"
PRICED_RANGES = (("2024-01-24", "2024-03-08"), ("2025-03-14", "2025-06-30"))


def close_of(day: int) -> int:
    """Deterministic, varying closes (yen x 10^4) posted by the priced SBL template."""
    return 25_000_000 + (day * 7919 % 23) * 5_000


def reference_closes() -> dict[int, int]:
    cal = reference_calendar()
    out = {}
    for a, b in PRICED_RANGES:
        for d in range(ref.to_day(a), ref.to_day(b) + 1):
            if cal.is_business_day(d):
                out[d] = close_of(d)
    return out


def post_closes(sw: SblWorld, closes: Mapping[int, int], isin: str = SBL_ISIN) -> None:
    days = sorted(closes)
    sw.market.transact("postPrices", isin.encode(), days, [closes[d] for d in days], sender="price_source")


def loan_terms(loan_id: str, *, shares: int = 100_000, start: str = "2025-04-07", fee: int = 5000,
               rebate: int = 1000, price: int = 25_000_000, cash: bool = True, margin: int = 0, ratio: int = 0,
               isin: str = SBL_ISIN, fund: str = "FUND-L1", term_end: str | None = None) -> dict[str, Any]:
    return {
        "loanId": b16(loan_id), "lenderFundCode": b16(fund), "isin": isin.encode(),
        "collateralType": 0 if cash else 1, "tradeDate": ref.to_day(start), "startDate": ref.to_day(start),
        "termEndDate": ref.to_day(term_end) if term_end else 0, "shares": shares, "referencePrice_e4": price,
        "feeRate_e6": fee, "rebateRate_e6": rebate, "margin_e6": margin, "dividendRatio_e6": ratio,
    }


def open_loan(sw: SblWorld, loan_id: str, proposer: str = "borrower", **kw: Any) -> Struct:
    sw.loans.transact("proposeLoan", loan_terms(loan_id, **kw), sender=proposer)
    loan = sw.loans.call("getLoan", b16(loan_id))
    sw.loans.transact("confirmTerms", b16(loan_id), loan.termsHash,
                      sender="lender" if proposer == "borrower" else "borrower")
    sw.loans.transact("reportDelivery", b16(loan_id), sender="lender")
    return sw.loans.call("getLoan", b16(loan_id))


def return_shares(sw: SblWorld, loan_id: str, shares: int, day: str | int, cash_after: int) -> None:
    sw.loans.transact("reportReturn", b16(loan_id), shares, ref.to_day(day), sender="borrower")
    sw.loans.transact("acknowledgeReturn", b16(loan_id), cash_after, sender="lender")


def change_rate(sw: SblWorld, loan_id: str, kind: int, day: str | int, rate: int) -> None:
    sw.loans.transact("proposeRateChange", b16(loan_id), kind, ref.to_day(day), rate, sender="lender")
    sw.loans.transact("confirmRateChange", b16(loan_id), sender="borrower")


def period_figures(sw: SblWorld, loan_id: str, period: int) -> Struct:
    return sw.statements.call("periodFigures", b16(loan_id), period)


@pytest.fixture(scope="session")
def sbl_priced_template(sbl_template: SblWorld) -> SblWorld:
    w = rebind(sbl_template, sbl_template.evm.clone())
    post_closes(w, reference_closes())
    return w


@pytest.fixture
def sp(sbl_priced_template: SblWorld) -> SblWorld:
    """SBL world with closes posted for late Jan - early Mar 2024 and mid Mar - Jun 2025, cloned per test."""
    return rebind(sbl_priced_template, sbl_priced_template.evm.clone())


def agreement_on(base: SblWorld, params: ref.SblParams, statement_params: Mapping[str, Any] | None = None,
                 with_manager: bool = True) -> SblWorld:
    """A new lending agreement (loan and statement books) on `base`'s chain, reusing its market data."""
    evm = base.evm
    sp = {"tolFeeYen": 0, "tolInterestYen": 0, "tolDividendYen": 0, "adoptSide": 0,
          "requireManagerStatement": False, "paymentDayOfNextMonth": 10, "tolKind": [0, 0, 0],
          "tolRate_e6": [0, 0, 0], "billingUnit": 0, **(statement_params or {})}
    manager = evm.addr["lender_manager"] if with_manager else b"\0" * 20
    loans = evm.deploy("SblLoanBook", evm.addr["lender"], manager, evm.addr["borrower"], base.market.address,
                       params.as_abi(), sender="lender")
    statements = evm.deploy("SblStatementBook", loans.address, sp, sender="lender")
    return SblWorld(evm, base.infra, base.market, loans, statements, params)


@pytest.fixture
def make_sbl(sbl_priced_template: SblWorld) -> Callable[..., SblWorld]:
    """Factory for non-default agreements on a per-test clone of the priced template."""
    base = rebind(sbl_priced_template, sbl_priced_template.evm.clone())

    def make(params: ref.SblParams, statement_params: Mapping[str, Any] | None = None,
             with_manager: bool = True) -> SblWorld:
        return agreement_on(base, params, statement_params, with_manager)

    return make
