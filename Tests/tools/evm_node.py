"""A real EVM behind several JSON-RPC faces: eth-tester with the py-evm backend.

Usage: python evm_node.py [--faces N] [--port P ...] [--control-port P] [--watch-stdin]

One process holds one chain (`EthereumTester(PyEVMBackend())`, Prague rules, every
transaction mined into its own block at once) and serves it over HTTP JSON-RPC on N
ports, the faces. Each face can be stopped (connection refused, open keep-alive
connections dropped) and started again on the same port, independently, through
the control port:

    POST /kill?face=I     POST /start?face=I     GET /faces

Port 0 means an ephemeral port (kept across restarts). On start it prints
`chain <id>`, `face <i> http://127.0.0.1:<port>` per face, `control http://...`,
`account <address> <private key>` per funded account, then `ready`.
With --watch-stdin it exits when its standard input closes (its parent died).

Answers are spec hex: quantities as 0x-hex without leading zeros, data as 0x-hex.
eth_getProof is read from py-evm's own state trie (and the account's storage trie)
at the state root of the requested block. eth_getBlockReceipts takes a block number,
tag or hash; eth_getLogs refuses the filters geth refuses, with geth's -32602 errors.
"""
import argparse
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import rlp
from eth.rlp.accounts import Account as RLPAccount
from eth_bloom import BloomFilter
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import (
    BlockNotFound,
    TransactionFailed,
    TransactionNotFound,
    ValidationError as TesterValidationError,
)
from eth_utils import decode_hex, encode_hex, keccak, to_canonical_address, to_checksum_address
from trie import HexaryTrie

# The one chain and the lock every face takes around it (eth-tester is not thread-safe).
TESTER = EthereumTester(PyEVMBackend())
CHAIN_LOCK = threading.RLock()
CHAIN_ID = TESTER.backend.chain.chain_id
BLANK_ROOT = decode_hex("0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
EMPTY_CODE_HASH = keccak(b"")
PRIORITY_FEE = 10**9


class RPCError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


# --- encoding ---------------------------------------------------------------------------


def qty(value):
    return hex(int(value))


def data(value):
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value
    return encode_hex(bytes(value))


def addr(value):
    return None if value in (None, "", b"") else data(to_canonical_address(value))


def parse_qty(value, name="quantity"):
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not value.startswith("0x") or len(value) < 3:
        raise RPCError(-32602, f"invalid {name}: {value!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise RPCError(-32602, f"invalid {name}: {value!r}") from None


def head_number():
    # eth-tester's chain.get_block() is the pending block; the newest mined one is below it.
    return TESTER.backend.chain.get_block().number - 1


def parse_block(tag):
    """A block parameter (tag, number, or EIP-1898 object) as a mined block number."""
    if tag is None or tag in ("latest", "safe", "finalized", "pending"):
        return head_number()
    if tag == "earliest":
        return 0
    if isinstance(tag, dict):
        if "blockNumber" in tag:
            return parse_block(tag["blockNumber"])
        if "blockHash" in tag:
            try:
                return TESTER.backend.chain.get_block_by_hash(decode_hex(tag["blockHash"])).number
            except Exception:
                raise RPCError(-32001, "header not found") from None
    number = parse_qty(tag, "block number")
    if number > head_number():
        raise RPCError(-32001, "header not found")
    return number


def header_json(header):
    out = {
        "number": qty(header.block_number),
        "hash": data(header.hash),
        "parentHash": data(header.parent_hash),
        "sha3Uncles": data(header.uncles_hash),
        "miner": data(header.coinbase),
        "stateRoot": data(header.state_root),
        "transactionsRoot": data(header.transaction_root),
        "receiptsRoot": data(header.receipt_root),
        "logsBloom": "0x" + int(header.bloom).to_bytes(256, "big").hex(),
        "difficulty": qty(header.difficulty),
        "gasLimit": qty(header.gas_limit),
        "gasUsed": qty(header.gas_used),
        "timestamp": qty(header.timestamp),
        "extraData": data(header.extra_data),
        "mixHash": data(header.mix_hash),
        "nonce": data(header.nonce),
    }
    for field, key, kind in (
        ("base_fee_per_gas", "baseFeePerGas", qty),
        ("withdrawals_root", "withdrawalsRoot", data),
        ("blob_gas_used", "blobGasUsed", qty),
        ("excess_blob_gas", "excessBlobGas", qty),
        ("parent_beacon_block_root", "parentBeaconBlockRoot", data),
        ("requests_hash", "requestsHash", data),
    ):
        if hasattr(header, field):
            out[key] = kind(getattr(header, field))
    return out


TX_KEYS = {
    "hash": ("hash", data), "nonce": ("nonce", qty), "block_hash": ("blockHash", data),
    "block_number": ("blockNumber", qty), "transaction_index": ("transactionIndex", qty),
    "from": ("from", addr), "to": ("to", addr), "value": ("value", qty), "gas": ("gas", qty),
    "data": ("input", data), "chain_id": ("chainId", qty), "max_fee_per_gas": ("maxFeePerGas", qty),
    "max_priority_fee_per_gas": ("maxPriorityFeePerGas", qty), "gas_price": ("gasPrice", qty),
    "v": ("v", qty), "r": ("r", qty), "s": ("s", qty), "y_parity": ("yParity", qty), "type": ("type", qty),
}


def transaction_json(tx):
    out = {}
    for key, value in tx.items():
        if key == "access_list":
            out["accessList"] = [
                {"address": addr(entry["address"]), "storageKeys": [data(k) if isinstance(k, (bytes, str)) else "0x%064x" % k
                                                                   for k in entry["storage_keys"]]}
                for entry in value
            ]
        elif key in TX_KEYS:
            name, kind = TX_KEYS[key]
            out[name] = None if value is None else kind(int(value, 16) if key == "type" else value)
    if "type" in out and out["type"] == "0x0":
        out.pop("yParity", None)
    return out


def log_json(log):
    return {
        "address": addr(log["address"]),
        "topics": [data(topic) for topic in log["topics"]],
        "data": data(log["data"]),
        "blockNumber": qty(log["block_number"]),
        "blockHash": data(log["block_hash"]),
        "transactionHash": data(log["transaction_hash"]),
        "transactionIndex": qty(log["transaction_index"]),
        "logIndex": qty(log["log_index"]),
        "removed": False,
    }


def receipt_json(receipt):
    logs = [log_json(log) for log in receipt["logs"]]
    bloom = BloomFilter()
    for log in receipt["logs"]:
        bloom.add(decode_hex(addr(log["address"])))
        for topic in log["topics"]:
            bloom.add(decode_hex(data(topic)))
    return {
        "transactionHash": data(receipt["transaction_hash"]),
        "transactionIndex": qty(receipt["transaction_index"]),
        "blockHash": data(receipt["block_hash"]),
        "blockNumber": qty(receipt["block_number"]),
        "from": addr(receipt["from"]),
        "to": addr(receipt["to"]),
        "cumulativeGasUsed": qty(receipt["cumulative_gas_used"]),
        "gasUsed": qty(receipt["gas_used"]),
        "effectiveGasPrice": qty(receipt["effective_gas_price"]),
        "contractAddress": addr(receipt["contract_address"]),
        "logs": logs,
        "logsBloom": "0x" + int(bloom).to_bytes(256, "big").hex(),
        "status": qty(receipt["status"]),
        "type": qty(int(receipt["type"], 16)),
    }


def block_receipts(tag):
    """The receipts of one block, in block order, as eth_getTransactionReceipt gives each;
    None for a block that does not exist (the block may be named by number, tag or hash)."""
    try:
        if isinstance(tag, str) and len(tag) == 66:
            number = parse_block({"blockHash": tag})
        else:
            number = parse_block(tag)
    except RPCError as error:
        if error.code == -32602:
            raise
        return None
    block = TESTER.get_block_by_number(number)
    return [receipt_json(TESTER.get_transaction_receipt(tx_hash)) for tx_hash in block["transactions"]]


def call_object(obj):
    """A JSON-RPC call object as eth-tester wants it (ints and hex strings, snake_case)."""
    # Without a sender, a funded account pays (eth-tester charges gas even in eth_call).
    out = {"from": to_checksum_address(obj.get("from") or TESTER.get_accounts()[0])}
    if obj.get("to"):
        out["to"] = to_checksum_address(obj["to"])
    for key, name in (("gas", "gas"), ("value", "value"), ("gasPrice", "gas_price"),
                      ("maxFeePerGas", "max_fee_per_gas"), ("maxPriorityFeePerGas", "max_priority_fee_per_gas"),
                      ("nonce", "nonce")):
        if obj.get(key) is not None:
            out[name] = parse_qty(obj[key], key)
    payload = obj.get("input", obj.get("data"))
    if payload:
        out["data"] = payload
    return out


# --- methods ----------------------------------------------------------------------------


def get_block(number, full):
    header = TESTER.backend.chain.get_canonical_block_header_by_number(number)
    tester_block = TESTER.get_block_by_number(number, full_transactions=full)
    out = header_json(header)
    out["size"] = qty(tester_block["size"])
    out["totalDifficulty"] = "0x0"
    out["uncles"] = []
    out["transactions"] = [transaction_json(tx) if full else data(tx) for tx in tester_block["transactions"]]
    out["withdrawals"] = []
    return out


def get_proof(address, slots, tag):
    number = parse_block(tag)
    chain = TESTER.backend.chain
    header = chain.get_canonical_block_header_by_number(number)
    db = chain.chaindb.db
    state = HexaryTrie(db, header.state_root)
    account_key = keccak(to_canonical_address(address))
    account_proof = [data(rlp.encode(node)) for node in state.get_proof(account_key)]
    encoded = state.get(account_key)
    if encoded:
        account = rlp.decode(encoded, sedes=RLPAccount)
        nonce, balance, storage_root, code_hash = account.nonce, account.balance, account.storage_root, account.code_hash
    else:
        nonce, balance, storage_root, code_hash = 0, 0, BLANK_ROOT, EMPTY_CODE_HASH
    storage = HexaryTrie(db, storage_root)
    storage_proofs = []
    for slot in slots:
        key = parse_qty(slot, "storage key")
        slot_key = keccak(key.to_bytes(32, "big"))
        stored = storage.get(slot_key)
        value = rlp.decode(stored, sedes=rlp.sedes.big_endian_int) if stored else 0
        storage_proofs.append({
            "key": qty(key),
            "value": qty(value),
            "proof": [data(rlp.encode(node)) for node in storage.get_proof(slot_key)],
        })
    return {
        "address": addr(address), "balance": qty(balance), "nonce": qty(nonce),
        "codeHash": data(code_hash), "storageHash": data(storage_root),
        "accountProof": account_proof, "storageProof": storage_proofs,
    }


def fee_history(count, newest, percentiles):
    count = max(1, min(parse_qty(count, "block count") if not isinstance(count, int) else count, 1024))
    newest = parse_block(newest)
    oldest = max(0, newest - count + 1)
    chain = TESTER.backend.chain
    headers = [chain.get_canonical_block_header_by_number(n) for n in range(oldest, newest + 1)]
    pending = chain.get_block().header
    return {
        "oldestBlock": qty(oldest),
        "baseFeePerGas": [qty(h.base_fee_per_gas) for h in headers] + [qty(pending.base_fee_per_gas)],
        "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
        "reward": [[qty(PRIORITY_FEE) for _ in percentiles] for _ in headers] if percentiles else None,
    }


def send_raw(raw):
    raw_bytes = decode_hex(raw)
    vm = TESTER.backend.chain.get_vm()
    try:
        tx_hash = vm.get_transaction_builder().decode(raw_bytes).hash
    except Exception as error:
        raise RPCError(-32602, f"invalid transaction: {error}") from None
    try:
        TESTER.get_transaction_by_hash(data(tx_hash))
        raise RPCError(-32000, "already known")
    except TransactionNotFound:
        pass
    return TESTER.send_raw_transaction(raw)


def get_logs(query):
    # Refusals as geth words them (execution-apis tests/eth_getLogs/filter-error-*.io).
    if query.get("blockHash"):
        if query.get("fromBlock") is not None or query.get("toBlock") is not None:
            raise RPCError(-32602, "invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other")
        start = end = parse_block({"blockHash": query["blockHash"]})
    else:
        def bound(tag):
            if isinstance(tag, str) and tag.startswith("0x") and parse_qty(tag, "block number") > head_number():
                raise RPCError(-32602, "block range extends beyond current head block")
            return parse_block(tag)

        start, end = bound(query.get("fromBlock", "latest")), bound(query.get("toBlock", "latest"))
        if start > end:
            raise RPCError(-32602, "invalid block range params")
    addresses = query.get("address")
    if isinstance(addresses, str):
        addresses = [addresses]
    topics = query.get("topics") or []
    logs = []
    for number in range(start, end + 1):
        block = TESTER.get_block_by_number(number)
        for tx_hash in block["transactions"]:
            for log in TESTER.get_transaction_receipt(tx_hash)["logs"]:
                if addresses and addr(log["address"]) not in [a.lower() for a in addresses]:
                    continue
                log_topics = [data(t) for t in log["topics"]]
                if any(want is not None and (i >= len(log_topics) or log_topics[i] not in
                                             ([w.lower() for w in want] if isinstance(want, list) else [want.lower()]))
                       for i, want in enumerate(topics)):
                    continue
                logs.append(log_json(log))
    return logs


def dispatch(method, params):
    p = params if isinstance(params, list) else []

    def arg(i, default=None):
        return p[i] if i < len(p) else default

    if method == "eth_chainId":
        return qty(CHAIN_ID)
    if method == "net_version":
        return str(CHAIN_ID)
    if method == "web3_clientVersion":
        return "bulwark-evm-node/eth-tester-py-evm"
    if method == "eth_blockNumber":
        return qty(head_number())
    if method == "eth_syncing":
        return False
    if method == "eth_accounts":
        return []
    if method in ("eth_getBlockByNumber", "eth_getBlockByHash"):
        try:
            if method == "eth_getBlockByHash":
                number = TESTER.backend.chain.get_block_by_hash(decode_hex(arg(0))).number
                if TESTER.backend.chain.get_canonical_block_header_by_number(number).hash != decode_hex(arg(0)):
                    return None
            else:
                number = parse_block(arg(0))
            if number > head_number():
                return None
            return get_block(number, bool(arg(1, False)))
        except (RPCError, BlockNotFound, Exception) as error:
            if isinstance(error, RPCError) and error.code == -32602:
                raise
            return None
    if method == "eth_getBalance":
        return qty(TESTER.get_balance(arg(0), parse_block(arg(1))))
    if method == "eth_getTransactionCount":
        if arg(1) == "pending":
            return qty(TESTER.backend.chain.get_vm().state.get_nonce(to_canonical_address(arg(0))))
        return qty(TESTER.get_nonce(arg(0), parse_block(arg(1))))
    if method == "eth_getCode":
        return data(TESTER.get_code(arg(0), parse_block(arg(1))))
    if method == "eth_getStorageAt":
        value = TESTER.get_storage_at(arg(0), qty(parse_qty(arg(1), "slot")), parse_block(arg(2)))
        return "0x" + decode_hex(data(value)).rjust(32, b"\0").hex()
    if method == "eth_call":
        return data(TESTER.call(call_object(arg(0, {})), parse_block(arg(1))))
    if method == "eth_estimateGas":
        tag = arg(1)
        return qty(TESTER.estimate_gas(call_object(arg(0, {})), "latest" if tag in (None, "pending") else parse_block(tag)))
    if method == "eth_gasPrice":
        return qty(TESTER.backend.chain.get_block().header.base_fee_per_gas + PRIORITY_FEE)
    if method == "eth_maxPriorityFeePerGas":
        return qty(PRIORITY_FEE)
    if method == "eth_feeHistory":
        return fee_history(arg(0, 1), arg(1, "latest"), arg(2, []) or [])
    if method == "eth_sendRawTransaction":
        return data(send_raw(arg(0)))
    if method == "eth_getTransactionReceipt":
        try:
            return receipt_json(TESTER.get_transaction_receipt(arg(0)))
        except TransactionNotFound:
            return None
    if method == "eth_getBlockReceipts":
        return block_receipts(arg(0))
    if method == "eth_getTransactionByHash":
        try:
            return transaction_json(TESTER.get_transaction_by_hash(arg(0)))
        except TransactionNotFound:
            return None
    if method == "eth_getLogs":
        return get_logs(arg(0, {}))
    if method == "eth_getProof":
        return get_proof(arg(0), arg(1, []) or [], arg(2))
    raise RPCError(-32601, f"the method {method} does not exist/is not available")


def answer(request):
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
        return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
    reply = {"jsonrpc": "2.0", "id": request.get("id")}
    try:
        with CHAIN_LOCK:
            reply["result"] = dispatch(request["method"], request.get("params", []))
    except RPCError as error:
        reply["error"] = {"code": error.code, "message": error.message}
        if error.data is not None:
            reply["error"]["data"] = error.data
    except TransactionFailed as error:
        reason = error.args[0] if error.args else ""
        reply["error"] = {"code": 3, "message": f"execution reverted: {reason}".rstrip(": ")}
    except (TesterValidationError, ValueError, TypeError, KeyError) as error:
        reply["error"] = {"code": -32000, "message": str(error) or type(error).__name__}
    except Exception as error:  # noqa: BLE001 - a node answers every request
        reply["error"] = {"code": -32603, "message": f"{type(error).__name__}: {error}"}
    return reply


# --- faces ------------------------------------------------------------------------------


class Face:
    def __init__(self, index, port):
        self.index, self.port = index, port
        self.server = None
        self.thread = None
        self.connections = set()
        self.lock = threading.Lock()

    @property
    def up(self):
        return self.server is not None

    def start(self):
        with self.lock:
            if self.server is not None:
                return
            face = self

            class Handler(RPCHandler):
                owner = face

            server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            server.daemon_threads = True
            self.port = server.server_address[1]
            self.server = server
            self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            self.thread.start()

    def kill(self):
        with self.lock:
            server, self.server = self.server, None
            if server is None:
                return
            server.shutdown()
            server.server_close()
            for connection in list(self.connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()


class RPCHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: Face = None

    def setup(self):
        super().setup()
        self.owner.connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.owner.connections.discard(self.connection)

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        try:
            request = json.loads(body)
        except ValueError:
            reply = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
        else:
            if isinstance(request, list):
                reply = [answer(item) for item in request] if request else \
                    {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "empty batch"}}
            else:
                reply = answer(request)
        self.send_json(200, reply)

    def send_json(self, status, value):
        payload = json.dumps(value).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True


FACES = []


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, value):
        payload = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def faces(self):
        return [{"face": f.index, "port": f.port, "up": f.up} for f in FACES]

    def do_GET(self):
        if urlparse(self.path).path == "/faces":
            self.reply(200, self.faces())
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlparse(self.path)
        action = url.path.strip("/")
        try:
            face = FACES[int(parse_qs(url.query)["face"][0])]
        except (KeyError, ValueError, IndexError):
            self.reply(400, {"error": "face=I is required"})
            return
        if action == "kill":
            face.kill()
        elif action == "start":
            face.start()
        else:
            self.reply(404, {"error": "not found"})
            return
        self.reply(200, self.faces())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=3)
    parser.add_argument("--port", type=int, action="append", default=[], help="a face's port (repeat); 0 = ephemeral")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--watch-stdin", action="store_true")
    options = parser.parse_args()
    ports = options.port or [0] * options.faces
    for index, port in enumerate(ports):
        FACES.append(Face(index, port))
        FACES[-1].start()
    control = ThreadingHTTPServer(("127.0.0.1", options.control_port), ControlHandler)
    control.daemon_threads = True
    print(f"chain {CHAIN_ID}")
    for face in FACES:
        print(f"face {face.index} http://127.0.0.1:{face.port}")
    print(f"control http://127.0.0.1:{control.server_address[1]}")
    for key in TESTER.backend.account_keys:
        print(f"account {key.public_key.to_checksum_address()} {key.to_hex()}")
    print("ready", flush=True)
    if options.watch_stdin:
        def watch():
            while sys.stdin.buffer.read(1):
                pass
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    try:
        control.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
