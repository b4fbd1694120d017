"""Part B "where the time goes": per-step micro-benchmarks, multiplied by per-tx counts.

Each step of one private transaction's life in the 4-node network is timed on its own,
in this process (crypto, py-evm, SQLite) or against the running network (HTTP hops).
The table multiplies each by how many times one private transaction needs it across the
network. This is an estimate built from parts, not a measurement of the flow: it says
which parts are big, and what the ceiling on the machine's cores would be if nothing else
cost anything.
"""

from __future__ import annotations

import base64
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import rlp
from eth._utils.address import generate_contract_address
from eth.chains.base import Chain
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB

from bench.common import best_of
from bench.raw_evm import new_chain_class
from bench.workload import CALL_GAS, INITIAL_VALUE, DevChain, add_calldata, deploy_data
from devnet.q2t import q2t_client
from engine.abc import PrivacyManagerClientAPI, PrivateStateAPI, ReceivedPayload
from engine.chain.builder import build_block
from engine.chain.marker import sign_private_marker
from engine.chain.noprivacy import NoPrivateState
from engine.chain.vm import PrivnetTransactionBuilder, make_vm_class
from engine.privacy.private_state import PrivateStateManager
from engine.types import Address, PayloadHash, PrivacyFlag, PtmPublicKey

MARKER_GAS = 200_000


# -- counting ECDSA recoveries -------------------------------------------------------------


class _EcdsaCounter:
    def __init__(self) -> None:
        self.recover = 0
        self.verify = 0


@contextmanager
def count_ecdsa() -> Iterator[_EcdsaCounter]:
    """Count eth_keys ECDSA recoveries and verifications (the active backend's methods)."""
    from eth_keys.backends import get_backend

    backend_class = type(get_backend())
    original_recover, original_verify = backend_class.ecdsa_recover, backend_class.ecdsa_verify
    counter = _EcdsaCounter()

    def recover(self: Any, msg_hash: bytes, signature: Any) -> Any:
        counter.recover += 1
        return original_recover(self, msg_hash, signature)

    def verify(self: Any, msg_hash: bytes, signature: Any, public_key: Any) -> Any:
        counter.verify += 1
        return original_verify(self, msg_hash, signature, public_key)

    backend_class.ecdsa_recover = recover  # type: ignore[method-assign]
    backend_class.ecdsa_verify = verify  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        backend_class.ecdsa_recover = original_recover  # type: ignore[method-assign]
        backend_class.ecdsa_verify = original_verify  # type: ignore[method-assign]


# -- a database that records what a block import reads and writes -------------------------


class RecordingDB(BaseDB):
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.ops: list[tuple[str, bytes, bytes | None]] = []
        self.recording = False

    def __getitem__(self, key: bytes) -> bytes:
        if self.recording:
            self.ops.append(("get", key, None))
        return self.data[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if self.recording:
            self.ops.append(("set", key, value))
        self.data[key] = value

    def __delitem__(self, key: bytes) -> None:
        if self.recording:
            self.ops.append(("del", key, None))
        del self.data[key]

    def _exists(self, key: bytes) -> bool:
        if self.recording:
            self.ops.append(("get", key, None))
        return key in self.data


def replay_on_sqlite(before: dict[bytes, bytes], ops: list[tuple[str, bytes, bytes | None]]) -> float:
    """Seconds to replay `ops` (reads, writes, one commit) on a SqliteKV holding `before`."""
    from engine.db.store import SqliteKV

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteKV(Path(tmp) / "chain.sqlite")
        for k, v in before.items():
            store[k] = v
        store.commit()
        start = time.perf_counter()
        for op, key, value in ops:
            if op == "get":
                try:
                    store[key]
                except KeyError:
                    pass
            elif op == "set":
                store[key] = value  # type: ignore[assignment]
            else:
                try:
                    del store[key]
                except KeyError:
                    pass
        store.commit()
        elapsed = time.perf_counter() - start
        store.close()
    return elapsed


# -- py-evm pieces ---------------------------------------------------------------------------


def marker_import(chain: DevChain, block_size: int, blocks: int) -> dict[str, Any]:
    """Public side of private markers (no private executor): decode, build, import.

    Returns per-tx µs of the follower's import, the ECDSA recoveries counted in each phase,
    and the follower's database operations (replayed on SqliteKV for the database row).
    """
    chain_class = new_chain_class(chain)
    genesis = chain.genesis
    producer = chain_class.from_genesis(AtomicDB(), genesis.header_params(), genesis.state())
    recording = RecordingDB()
    follower = chain_class.from_genesis(AtomicDB(recording), genesis.header_params(), genesis.state())
    vm_class = chain_class.vm_configuration[0][1]
    builder, block_class = vm_class.get_transaction_builder(), vm_class.get_block_class()
    target = bytes.fromhex("11" * 20)
    accounts = chain.accounts
    nonces = [0] * len(accounts)
    raws = []
    for i in range(block_size * blocks):
        k = i % len(accounts)
        raws.append(sign_private_marker(accounts[k].private_key, nonces[k], MARKER_GAS, target, os.urandom(64)))
        nonces[k] += 1
    before = dict(recording.data)
    import_s = 0.0
    ecdsa = {phase: [0, 0] for phase in ("intake", "build", "import")}  # [recoveries, verifications]

    def add(phase: str, c: _EcdsaCounter) -> None:
        ecdsa[phase][0] += c.recover
        ecdsa[phase][1] += c.verify

    timestamp = genesis.timestamp + 1
    for b in range(blocks):
        batch = raws[b * block_size : (b + 1) * block_size]
        with count_ecdsa() as c:
            txs = []
            for raw in batch:  # as eth_sendRawTransaction / the producer's pool intake
                tx = builder.decode(raw)
                tx.check_signature_validity()
                _ = tx.sender
                txs.append(tx)
        add("intake", c)
        with count_ecdsa() as c:
            parent = producer.get_canonical_head()
            built = build_block(producer, parent, txs, timestamp, b"\x00" * 20)
            producer.persist_block(built.block)
        add("build", c)
        if built.rejected or built.deferred:
            raise RuntimeError(f"marker block rejected transactions: {built.rejected[:1]}")
        block_rlp = rlp.encode(built.block)
        recording.recording = True
        with count_ecdsa() as c:
            start = time.perf_counter()
            follower.import_block(rlp.decode(block_rlp, sedes=block_class))
            import_s += time.perf_counter() - start
        recording.recording = False
        add("import", c)
    n = len(raws)
    db_s = replay_on_sqlite(before, recording.ops)
    return {
        "block_size": block_size,
        "txs": n,
        "import_us_per_tx": import_s / n * 1e6,
        "ecdsa_per_tx": {phase: {"recover": r / n, "verify": v / n} for phase, (r, v) in ecdsa.items()},
        "db_ops_per_tx": {
            "reads": sum(1 for o in recording.ops if o[0] == "get") / n,
            "writes": sum(1 for o in recording.ops if o[0] != "get") / n,
        },
        "db_us_per_tx": db_s / n * 1e6,
    }


class HandedPayloads(PrivacyManagerClientAPI):
    """A manager client that is handed each payload in memory.

    The private-execution row times what a party's node does with a payload it has; the HTTP
    rows below time the manager round trips, so this one leaves them out.
    """

    def __init__(self) -> None:
        self.payloads: dict[bytes, ReceivedPayload] = {}

    def hand(self, payload: bytes) -> PayloadHash:
        key = PayloadHash(os.urandom(64))
        self.payloads[key] = ReceivedPayload(payload, PrivacyFlag.STANDARD_PRIVATE, (), b"", ())
        return key

    def upcheck(self) -> bool:
        return True

    def send(self, payload: bytes, private_from: PtmPublicKey | None, private_for: tuple[PtmPublicKey, ...],
             privacy_flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
             affected_contract_transactions: tuple[PayloadHash, ...] = (),
             exec_hash: bytes = b"", mandatory_recipients: tuple[PtmPublicKey, ...] = ()) -> PayloadHash:
        return self.hand(payload)

    def receive(self, payload_hash: PayloadHash) -> ReceivedPayload | None:
        return self.payloads.get(bytes(payload_hash))

    def receive_many(self, payload_hashes: list[PayloadHash]) -> dict[bytes, ReceivedPayload | None]:
        return {bytes(h): self.payloads.get(bytes(h)) for h in payload_hashes}

    def receive_raw(self, payload_hash: PayloadHash) -> bytes | None:
        received = self.payloads.get(bytes(payload_hash))
        return None if received is None else received.payload

    def store_raw(self, payload: bytes, private_from: PtmPublicKey | None) -> PayloadHash:
        return self.hand(payload)

    def send_signed(self, payload_hash: PayloadHash, private_for: tuple[PtmPublicKey, ...],
                    privacy_flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
                    affected_contract_transactions: tuple[PayloadHash, ...] = (),
                    exec_hash: bytes = b"", mandatory_recipients: tuple[PtmPublicKey, ...] = ()) -> PayloadHash:
        return payload_hash

    def public_keys(self) -> list[PtmPublicKey]:
        return []


class _Follower:
    """A chain that imports blocks the way the node's importer does, with the given private side."""

    def __init__(self, chain: DevChain, private: PrivateStateAPI, db: AtomicDB) -> None:
        vm_class = make_vm_class(private)
        chain_class = Chain.configure(__name__="BenchPrivateChain", vm_configuration=((0, vm_class),),
                                      chain_id=chain.chain_id)
        self.block_class = vm_class.get_block_class()
        self.private = private
        self.chain = chain_class.from_genesis(db, chain.genesis.header_params(), chain.genesis.state())
        private.on_genesis(self.chain.get_canonical_head())

    def import_rlp(self, block_rlp: bytes) -> float:
        """Seconds to import one block: prefetch, begin, py-evm import, finish (as BlockImporter)."""
        start = time.perf_counter()
        block = rlp.decode(block_rlp, sedes=self.block_class)
        self.private.prefetch(list(block.transactions))
        self.private.begin_block(self.chain.get_canonical_head())
        imported = self.chain.import_block(block).imported_block
        self.private.finish_block(imported)
        return time.perf_counter() - start

    def build(self, txs: list[Any], timestamp: int) -> bytes:
        parent = self.chain.get_canonical_head()
        self.private.prefetch(txs)
        self.private.begin_block(parent)
        built = build_block(self.chain, parent, txs, timestamp, b"\x00" * 20)
        if built.rejected or built.deferred:
            raise RuntimeError(f"private benchmark block rejected transactions: {built.rejected[:1]}")
        self.chain.persist_block(built.block)
        self.private.finish_block(built.block)
        return bytes(rlp.encode(built.block))


def private_execution(chain: DevChain, block_size: int, rounds: int = 3) -> dict[str, Any]:
    """µs per private add(1) as a party's node runs it, by difference: the same marker blocks are
    imported by a node whose private side is the node's own `PrivateStateManager` (private EVM,
    private trie persist, private receipts) and by one without a private side (`NoPrivateState`:
    the public marker side only)."""
    handed = HandedPayloads()
    producer_db = AtomicDB()
    producer = _Follower(chain, PrivateStateManager(handed, producer_db), producer_db)
    party_db = AtomicDB()
    party = _Follower(chain, PrivateStateManager(handed, party_db), party_db)
    outsider = _Follower(chain, NoPrivateState(), AtomicDB())
    builder = PrivnetTransactionBuilder
    deployer = chain.accounts[0]
    nonces = [0] * len(chain.accounts)
    timestamp = chain.genesis.timestamp + 1
    deploy = builder.decode(sign_private_marker(deployer.private_key, 0, 1_000_000, None, handed.hand(deploy_data())))
    nonces[0] = 1
    contract = generate_contract_address(deployer.address, 0)
    blocks = [producer.build([deploy], timestamp)]
    data = add_calldata(1)
    for _ in range(rounds):
        txs = []
        for i in range(block_size):
            k = i % len(chain.accounts)
            raw = sign_private_marker(chain.accounts[k].private_key, nonces[k], CALL_GAS + MARKER_GAS, contract,
                                      handed.hand(data))
            nonces[k] += 1
            txs.append(builder.decode(raw))
        blocks.append(producer.build(txs, timestamp))
    party.import_rlp(blocks[0])
    outsider.import_rlp(blocks[0])
    per_tx = []
    for block_rlp in blocks[1:]:
        with_private = party.import_rlp(block_rlp)
        public_only = outsider.import_rlp(block_rlp)
        per_tx.append(max(0.0, with_private - public_only) / block_size)
    head = party.chain.get_canonical_head()
    state = party.private.state_for(Address(contract), head, party.chain.get_vm(head).state)
    expected = INITIAL_VALUE + rounds * block_size
    if state is None or state.get_storage(contract, 0) != expected:
        raise RuntimeError(f"the private add(1) calls did not all run on the party (expected {expected})")
    return {"block_size": block_size, "us_per_tx": statistics.median(per_tx) * 1e6}


# -- crypto ----------------------------------------------------------------------------------


def crypto_steps() -> dict[str, float]:
    """µs: ECDSA recover and verify (coincurve), sign a marker (eth-account), envelope encrypt for 2
    boxes (sender + 1 recipient) of a 100-byte payload, decrypt one box + payload."""
    from eth_keys import keys
    from eth_utils import keccak

    from tessera_like.crypto.envelope import X25519Encryptor
    from tessera_like.sealing import decrypt, encrypt
    from tessera_like.types import KeyPair

    private = keys.PrivateKey(keccak(b"bench"))
    msg_hash = keccak(b"message")
    signature = private.sign_msg_hash(msg_hash)
    recover = best_of(lambda: signature.recover_public_key_from_msg_hash(msg_hash), 5, 400)
    public = private.public_key
    verify = best_of(lambda: public.verify_msg_hash(msg_hash, signature), 5, 400)
    key = keccak(b"bench-signer")
    payload_hash = os.urandom(64)
    sign = best_of(lambda: sign_private_marker(key, 1, MARKER_GAS, b"\x11" * 20, payload_hash), 5, 100)

    encryptor = X25519Encryptor()
    sender, recipient = KeyPair.generate(), KeyPair.generate()
    payload = os.urandom(100)
    sealed = encrypt(encryptor, payload, sender, [recipient.public])  # warms the wrap-key cache
    decrypt(encryptor, sealed, recipient)
    enc = best_of(lambda: encrypt(encryptor, payload, sender, [recipient.public]), 5, 200)
    dec = best_of(lambda: decrypt(encryptor, sealed, recipient), 5, 400)
    return {
        "ecdsa_recover_us": recover * 1e6,
        "ecdsa_verify_us": verify * 1e6,
        "sign_marker_us": sign * 1e6,
        "encrypt_2_boxes_us": enc * 1e6,
        "decrypt_us": dec * 1e6,
    }


# -- HTTP round trips against the running network ---------------------------------------------


def _rtt(fn: Callable[[], Any], n: int) -> float:
    fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def http_steps(spec: dict[str, Any], payload_hash: bytes, n: int = 200) -> dict[str, float]:
    """Median µs of keep-alive round trips: manager /upcheck (a bare hop), GET /transaction
    as a party (node2's manager: SQL read + decrypt) and as a non-party (node3's: 404),
    POST /send of 100 bytes to node2 (encrypt + push hop + two stores), and a JSON-RPC
    request that takes the node's worker-thread hop (eth_blockNumber)."""
    n1, n2, n3 = spec["nodes"][0], spec["nodes"][1], spec["nodes"][2]
    key = base64.b64encode(payload_hash).decode()
    quoted = key.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    body = {"payload": base64.b64encode(os.urandom(100)).decode(), "to": [n2["ptm_public_key"]]}
    rpc_body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    out: dict[str, float] = {}
    # Q2T is a unix socket under `privnet up` (http:// on older networks): one client per manager.
    with httpx.Client(timeout=30) as client, q2t_client(n1["ptm_q2t_url"]) as q1, \
            q2t_client(n2["ptm_q2t_url"]) as q2, q2t_client(n3["ptm_q2t_url"]) as q3:

        def upcheck() -> None:
            q1.get("/upcheck").raise_for_status()

        def get_party() -> None:
            r = q2.get(f"/transaction/{quoted}")
            if r.status_code != 200:
                raise RuntimeError(f"GET /transaction at node2's manager: {r.status_code} {r.text[:200]}")

        def get_non_party() -> None:
            r = q3.get(f"/transaction/{quoted}")
            if r.status_code != 404:
                raise RuntimeError(f"GET /transaction at node3's manager: expected 404, got {r.status_code}")

        def send() -> None:
            q1.post("/send", json=body).raise_for_status()

        def rpc() -> None:
            client.post(n1["rpc_url"], content=rpc_body, headers={"content-type": "application/json"})

        out["upcheck_us"] = _rtt(upcheck, n) * 1e6
        out["get_transaction_party_us"] = _rtt(get_party, n) * 1e6
        out["get_transaction_404_us"] = _rtt(get_non_party, n) * 1e6
        out["send_us"] = _rtt(send, max(20, n // 4)) * 1e6
        out["rpc_hop_us"] = _rtt(rpc, n) * 1e6
    return out
