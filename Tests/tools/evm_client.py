"""web3.py against a real EVM (evm_node.py) through a gateway.

Usage: python evm_client.py URL PRIVATE_KEY [TRANSFERS]

Deploys the Counter contract below, calls increment() three times (each emits an
event), reads get() with eth_call, estimates gas, sends TRANSFERS (default 5) value
transfers, waits for every receipt, reads the contract's logs with eth_getLogs, and
sends a batch request. HTTP retries in web3 are off: every failure the gateway lets
through fails this script. Prints one JSON line with what it saw; exits non-zero on
any failed check (an AssertionError names it).

The contract, as Solidity (0.8, storage slot 0 = count):

    contract Counter {
        uint256 count;
        event Incremented(address indexed by, uint256 count);
        function increment() external { count += 1; emit Incremented(msg.sender, count); }
        function get() external view returns (uint256) { return count; }
    }

hand-assembled (no overflow check, no callvalue check) as:

  init code (11 bytes): copy the runtime after it into memory and return it
    00 60 5f     PUSH1 0x5f          runtime length (95)
    02 80        DUP1
    03 60 0b     PUSH1 0x0b          runtime offset in the init code
    05 60 00     PUSH1 0
    07 39        CODECOPY            mem[0..95] = code[11..106]
    08 60 00     PUSH1 0
    0a f3        RETURN              return mem[0..95]

  runtime (95 bytes):
    00 60 00 35        CALLDATALOAD(0)
    03 60 e0 1c        SHR 224                 -> selector
    06 80              DUP1
    07 63 d09de08a 14  EQ increment()
    0d 60 29 57        JUMPI 0x29
    10 63 6d4ce63c 14  EQ get()
    16 60 1d 57        JUMPI 0x1d
    19 60 00 80 fd     REVERT(0, 0)            unknown selector
    1d 5b              JUMPDEST  get:
    1e 60 00 54        SLOAD(0)
    21 60 00 52        MSTORE(0, count)
    24 60 20 60 00 f3  RETURN(0, 32)
    29 5b              JUMPDEST  increment:
    2a 60 00 54        SLOAD(0)
    2d 60 01 01        ADD 1                   -> new
    30 80 60 00 55     SSTORE(0, new)          (a copy of new stays)
    34 60 00 52        MSTORE(0, new)
    37 33              CALLER                  topic1
    38 7f <32 bytes>   PUSH32 keccak256("Incremented(address,uint256)")  topic0
    59 60 20 60 00 a2  LOG2(0, 32, topic0, topic1)
    5e 00              STOP
"""
import json
import sys

from eth_account import Account
from web3 import Web3

INIT_CODE = "605f80600b6000396000f3"
RUNTIME = (
    "60003560e01c8063d09de08a14602957636d4ce63c14601d57600080fd5b60005460005260206000f35b"
    "60005460010180600055600052337f38ac789ed44572701765277c4d0970f2db1c1a571ed39e84358095ae4e"
    "aa542060206000a200"
)
INCREMENT = "0xd09de08a"
GET = "0x6d4ce63c"
INCREMENTED = "0x38ac789ed44572701765277c4d0970f2db1c1a571ed39e84358095ae4eaa5420"
INCREMENTS = 3


def raw_bytes(signed):
    return getattr(signed, "raw_transaction", None) or getattr(signed, "rawTransaction")


def main() -> None:
    url, key = sys.argv[1], sys.argv[2]
    transfers = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 20}, exception_retry_configuration=None))
    assert Web3.keccak(text="Incremented(address,uint256)").to_0x_hex() == INCREMENTED
    assert len(bytes.fromhex(RUNTIME)) == 0x5f
    chain_id = w3.eth.chain_id
    sender = Account.from_key(key)
    nonce = w3.eth.get_transaction_count(sender.address, "pending")
    start_block = w3.eth.block_number
    sent = []

    def send(tx):
        nonlocal nonce
        base_fee = w3.eth.get_block("latest").baseFeePerGas
        tip = w3.eth.max_priority_fee
        tx = {"type": 2, "chainId": chain_id, "nonce": nonce, "maxFeePerGas": 2 * base_fee + tip,
              "maxPriorityFeePerGas": tip, **tx}
        if "gas" not in tx:
            tx["gas"] = w3.eth.estimate_gas({"from": sender.address, **{k: tx[k] for k in ("to", "data", "value") if k in tx}})
        signed = sender.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(raw_bytes(signed))
        assert tx_hash == signed.hash, "the gateway answered another transaction hash"
        nonce += 1
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.1)
        assert receipt.status == 1, f"transaction {tx_hash.to_0x_hex()} failed"
        assert receipt.transactionHash == tx_hash
        sent.append(tx_hash.to_0x_hex())
        return receipt

    # Deploy.
    deploy = send({"data": "0x" + INIT_CODE + RUNTIME})
    contract = deploy.contractAddress
    assert contract, "no contract address in the receipt"
    code = w3.eth.get_code(contract, block_identifier=deploy.blockNumber)
    assert code.hex() == RUNTIME, f"deployed code differs: {code.hex()}"

    # Increment: each call emits one log.
    increments = [send({"to": contract, "data": INCREMENT}) for _ in range(INCREMENTS)]
    for i, receipt in enumerate(increments):
        assert len(receipt.logs) == 1, f"increment {i} has {len(receipt.logs)} logs"
        log = receipt.logs[0]
        assert log.address == contract and log.topics[0].to_0x_hex() == INCREMENTED
        assert int.from_bytes(log.data, "big") == i + 1
    last = increments[-1].blockNumber

    # eth_call and eth_estimateGas.
    call_result = int.from_bytes(w3.eth.call({"to": contract, "data": GET}, block_identifier=last), "big")
    assert call_result == INCREMENTS, f"get() returned {call_result}"
    assert w3.eth.get_storage_at(contract, 0, block_identifier=last) == INCREMENTS.to_bytes(32, "big")
    estimate = w3.eth.estimate_gas({"from": sender.address, "to": contract, "data": INCREMENT})
    assert estimate > 21000, f"estimateGas {estimate}"

    # Value transfers, every receipt waited for.
    receivers = [Account.create().address for _ in range(transfers)]
    transfer_receipts = []
    for i, receiver in enumerate(receivers):
        receipt = send({"to": receiver, "value": (i + 1) * 10**15, "gas": 21000})
        assert w3.eth.get_balance(receiver, block_identifier=receipt.blockNumber) == (i + 1) * 10**15
        tx = w3.eth.get_transaction(receipt.transactionHash)
        assert tx["from"] == sender.address and tx.to == receiver and tx.value == (i + 1) * 10**15
        transfer_receipts.append(receipt)
    final_block = transfer_receipts[-1].blockNumber if transfer_receipts else last

    # Logs of the contract, and filtered by topic.
    logs = w3.eth.get_logs({"fromBlock": deploy.blockNumber, "toBlock": last, "address": contract})
    assert [int.from_bytes(log.data, "big") for log in logs] == list(range(1, INCREMENTS + 1)), f"logs {logs}"
    by_topic = w3.eth.get_logs({"fromBlock": start_block, "toBlock": final_block, "topics": [INCREMENTED]})
    assert len(by_topic) == INCREMENTS

    # A batch.
    with w3.batch_requests() as batch:
        batch.add(w3.eth.get_block(final_block))
        batch.add(w3.eth.get_balance(receivers[-1], final_block))
        batch.add(w3.eth.get_transaction_receipt(increments[0].transactionHash))
        batch.add(w3.eth.get_code(contract, final_block))
        results = batch.execute()
    assert len(results) == 4
    assert results[0].number == final_block
    assert results[1] == transfers * 10**15
    assert results[2].blockNumber == increments[0].blockNumber
    assert results[3].hex() == RUNTIME

    print(json.dumps({
        "chainId": chain_id, "sender": sender.address, "contract": contract,
        "deployBlock": deploy.blockNumber, "callResult": call_result, "estimateGas": estimate,
        "increments": len(increments), "transfers": len(transfer_receipts),
        "receipts": sum(1 for r in [deploy, *increments, *transfer_receipts] if r.status == 1),
        "logs": len(logs), "logsByTopic": len(by_topic), "batch": len(results),
        "finalBlock": final_block, "transactions": sent,
    }))


if __name__ == "__main__":
    main()
