"""web3.py, a client no one on this project wrote, against one simnet face.

Usage: python simnet_client.py URL PRIVATE_KEY
Reads the chain id, block number, balances, blocks (with and without full
transactions) and receipts; signs a dynamic-fee and a legacy transfer locally
and sends them with eth_sendRawTransaction; waits for the receipts; checks the
balances moved. Prints one JSON line with what it saw; exits non-zero on any
failed check (an AssertionError names it).
"""
import json
import sys

from eth_account import Account
from web3 import Web3


def raw_bytes(signed):
    # web3/eth-account renamed rawTransaction to raw_transaction.
    return getattr(signed, "raw_transaction", None) or getattr(signed, "rawTransaction")


def main() -> None:
    url, key = sys.argv[1], sys.argv[2]
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
    assert w3.is_connected(), "not connected"
    chain_id = w3.eth.chain_id
    start_block = w3.eth.block_number

    sender = Account.from_key(key)
    receiver = Account.create().address
    start_balance = w3.eth.get_balance(sender.address)
    assert start_balance > 0, "the development account is not funded"
    assert w3.eth.get_balance(receiver) == 0

    latest = w3.eth.get_block("latest")
    assert latest.number >= start_block
    full = w3.eth.get_block(latest.number, full_transactions=True)
    assert full.hash == latest.hash
    assert w3.eth.get_block(latest.hash).number == latest.number

    nonce = w3.eth.get_transaction_count(sender.address)
    gas_price = w3.eth.gas_price
    dynamic = sender.sign_transaction({
        "type": 2, "chainId": chain_id, "nonce": nonce, "to": receiver, "value": 10**15, "gas": 21000,
        "maxFeePerGas": gas_price, "maxPriorityFeePerGas": w3.eth.max_priority_fee,
    })
    legacy = sender.sign_transaction({
        "chainId": chain_id, "nonce": nonce + 1, "to": receiver, "value": 2 * 10**15, "gas": 21000, "gasPrice": gas_price,
    })
    hashes = [w3.eth.send_raw_transaction(raw_bytes(tx)) for tx in (dynamic, legacy)]
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.1) for h in hashes]
    for h, receipt in zip(hashes, receipts):
        assert receipt.status == 1, f"transaction {h.hex()} failed"
        assert receipt.transactionHash == h
        tx = w3.eth.get_transaction(h)
        assert tx["from"] == sender.address and tx.to == receiver
        block = w3.eth.get_block(receipt.blockNumber, full_transactions=True)
        assert h in [t.hash for t in block.transactions]

    assert w3.eth.get_balance(receiver) == 3 * 10**15, "the receiver did not get the value"
    paid = sum(r.gasUsed * r.effectiveGasPrice for r in receipts)
    assert w3.eth.get_balance(sender.address) == start_balance - 3 * 10**15 - paid, "the sender's balance is off"
    assert w3.eth.get_transaction_count(sender.address) == nonce + 2
    # The balance before the transfers is still there in history.
    assert w3.eth.get_balance(sender.address, block_identifier=start_block) == start_balance

    batch_results = None
    if hasattr(w3, "batch_requests"):
        with w3.batch_requests() as batch:
            batch.add(w3.eth.get_block(receipts[0].blockNumber))
            batch.add(w3.eth.get_balance(receiver))
            batch_results = batch.execute()
        assert batch_results[1] == 3 * 10**15

    print(json.dumps({
        "chainId": chain_id, "startBlock": start_block, "blocks": [r.blockNumber for r in receipts],
        "transactions": [h.hex() for h in hashes], "batch": batch_results is not None,
    }))


if __name__ == "__main__":
    main()
