#!/usr/bin/env python3
"""Regenerates the seed corpora in Fuzz/corpus/ from the conformance fixtures and hand-written edge
cases. The corpora are committed, so this only needs running to change them:

    python3 Fuzz/make-corpus.py [FIXTURES]   # FIXTURES defaults to Tests/Fixtures

Sources (see Fuzz/corpus/README.md for licenses): execution-apis request bodies (`>>` lines of the
.io files) and raw RLP results; ethereum/tests RLPTests; block headers and small blocks of
execution-apis' chain.rlp.
"""
import base64
import hashlib
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "Tests", "Fixtures")
MAX_SEED = 4096  # bytes: small seeds keep libFuzzer's max_len and exec/s reasonable


def write(directory, name, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        return
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def dedupe(directory):
    """Removes files with the same content as an earlier one (by name order)."""
    seen = set()
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        digest = hashlib.sha1(open(path, "rb").read()).hexdigest()
        if digest in seen:
            os.remove(path)
        seen.add(digest)


def io_files():
    tests = os.path.join(FIXTURES, "execution-apis", "tests")
    for method in sorted(os.listdir(tests)):
        folder = os.path.join(tests, method)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.endswith(".io"):
                yield method, name[:-3], open(os.path.join(folder, name)).read().splitlines()


def jsonrpc_corpus(out):
    per_method = {}
    for method, name, lines in io_files():
        for line in lines:
            if line.startswith(">> ") and len(line) - 3 <= MAX_SEED and per_method.get(method, 0) < 3:
                per_method[method] = per_method.get(method, 0) + 1  # the parser cares little for the method: a few each
                write(out, f"ea-{method}-{name}.json", line[3:])
                break
    edge = {
        "batch": '[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":"b","method":"eth_blockNumber","params":[]}]',
        "batch-notification": '[{"jsonrpc":"2.0","method":"eth_chainId"},{"jsonrpc":"2.0","id":null,"method":"net_version"}]',
        "batch-empty": "[]",
        "batch-not-objects": '[1,"x",null,true,[],{}]',
        "batch-nested": '[[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}]]',
        "notification": '{"jsonrpc":"2.0","method":"eth_chainId","params":[]}',
        "id-null": '{"jsonrpc":"2.0","id":null,"method":"eth_chainId"}',
        "id-string": '{"jsonrpc":"2.0","id":"a\\"b\\u00e9","method":"eth_chainId"}',
        "id-fraction": '{"jsonrpc":"2.0","id":1.5,"method":"eth_chainId"}',
        "id-beyond-2-53": '{"jsonrpc":"2.0","id":9007199254740993,"method":"eth_chainId"}',
        "id-negative-zero": '{"jsonrpc":"2.0","id":-0,"method":"eth_chainId"}',
        "id-object": '{"jsonrpc":"2.0","id":{"a":1},"method":"eth_chainId"}',
        "id-array": '{"jsonrpc":"2.0","id":[1],"method":"eth_chainId"}',
        "jsonrpc-1": '{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}',
        "jsonrpc-number": '{"jsonrpc":2.0,"id":1,"method":"eth_chainId"}',
        "method-missing": '{"jsonrpc":"2.0","id":1}',
        "method-empty": '{"jsonrpc":"2.0","id":1,"method":""}',
        "method-number": '{"jsonrpc":"2.0","id":1,"method":1}',
        "method-unicode": '{"jsonrpc":"2.0","id":1,"method":"eth_\\ud83d\\ude00\\u0000"}',
        "params-object": '{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":{"address":"0x00","block":"latest"}}',
        "params-string": '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":"0x1"}',
        "params-null": '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":null}',
        "duplicate-keys": '{"jsonrpc":"2.0","method":"a","method":"eth_chainId","id":1,"id":2}',
        "equivalent-keys": '{"\\u00e9":1,"e\\u0301":2,"jsonrpc":"2.0","method":"m"}',
        "whitespace": ' \t\r\n{ "jsonrpc" : "2.0" , "id" : 1 , "method" : "eth_chainId" , "params" : [ ] } \n',
        "trailing-data": '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}{}',
        "escapes": '["\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\ud834\\udd1e"]',
        "lone-high-surrogate": '["\\ud800"]',
        "lone-low-surrogate": '["\\udc00x"]',
        "surrogate-then-other": '["\\ud800\\u0041"]',
        "bad-escape": '["\\x41"]',
        "raw-control": '["a\x01b"]',
        "numbers": "[0,-0,1,-1,0.5,-0.5,1e2,1E+2,1e-2,0e0,123456789012345678901234567890,1.7976931348623157e308,5e-324,1e-400,2.2250738585072014e-308]",
        "number-overflow": "[1e309]",
        "number-negative-overflow": "[-1e309]",
        "number-leading-zero": "[01]",
        "number-bare-fraction": "[.5]",
        "number-no-fraction-digits": "[1.]",
        "number-no-exponent-digits": "[1e]",
        "number-minus": "[-]",
        "literals": "[true,false,null]",
        "literal-truncated": "[tru",
        "unterminated-string": '["abc',
        "unterminated-object": '{"a":1',
        "object-trailing-comma": '{"a":1,}',
        "array-trailing-comma": "[1,]",
        "nested-512-arrays": "[" * 512 + "]" * 512,
        "nested-513-arrays": "[" * 513 + "]" * 513,
        "nested-512-objects": '{"a":' * 511 + "{}" + "}" * 511,
        "nested-mixed": '[{"a":[{"b":[{"c":[]}]}]}]',
        "batch-100": "[" + ",".join(f'{{"jsonrpc":"2.0","id":{i},"method":"eth_blockNumber"}}' for i in range(100)) + "]",
        # What the fuzzer found (regression tests in Tests/EthereumKitTests/JSONParserTests.swift).
        "found-infinity": "11e1910\n",
        "found-key-order": '{"\\u00e9N":1,"e\\u0301":2,"m":3}',
    }
    for name, text in edge.items():
        write(out, f"edge-{name}.json", text)
    raw = {
        "bom": b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}',
        "invalid-utf8": b'["\xff\xfe"]',
        "overlong-utf8": b'["\xc0\xaf"]',
        "encoded-surrogate-utf8": b'["\xed\xa0\x80"]',
        "truncated-utf8": b'["\xe2\x82"]',
        "utf8": '["é€𝄞"]'.encode(),
        "nul-byte": b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}\x00',
    }
    for name, data in raw.items():
        write(out, f"edge-{name}.json", data)


def rlp_length_prefix(length, short_base):
    if length < 56:
        return bytes([short_base + length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([short_base + 55 + len(encoded)]) + encoded


def rlp_items(data):
    """Splits concatenated RLP items (chain.rlp) into (offset, total length, payload offset)."""
    offset = 0
    while offset < len(data):
        prefix = data[offset]
        if prefix >= 0xF8:
            n = prefix - 0xF7
            length = int.from_bytes(data[offset + 1:offset + 1 + n], "big")
            header = 1 + n
        elif prefix >= 0xC0:
            length, header = prefix - 0xC0, 1
        else:
            raise ValueError("chain.rlp holds lists")
        yield offset, header + length, offset + header
        offset += header + length


def hex_bytes(text):
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)


def rlp_corpus(out):
    tests = os.path.join(FIXTURES, "ethereum-tests", "RLPTests")
    for name, case in sorted(json.load(open(os.path.join(tests, "rlptest.json"))).items()):
        write(out, f"et-valid-{name}.rlp", hex_bytes(case["out"]))
    for name, case in sorted(json.load(open(os.path.join(tests, "invalidRLPTest.json"))).items()):
        write(out, f"et-invalid-{name}.rlp", hex_bytes(case["out"]))

    # Block headers (the first item of each block) and the smallest whole blocks of chain.rlp.
    chain = open(os.path.join(FIXTURES, "execution-apis", "tests", "chain.rlp"), "rb").read()
    blocks = list(rlp_items(chain))
    for number, (offset, length, payload) in enumerate(blocks):
        if number % 8 == 0 or number == len(blocks) - 1:
            _, header_length, _ = next(rlp_items(chain[payload:offset + length]))
            write(out, f"ea-chain-header-{number}.rlp", chain[payload:payload + header_length])
        if number % 16 == 0:
            write(out, f"ea-chain-block-{number}.rlp", chain[offset:offset + length])

    # Raw results of debug_getRaw* and eth_sendRawTransaction params; a typed envelope's RLP follows its type byte.
    def add(name, raw):
        write(out, f"ea-{name}.rlp", raw[1:] if raw and raw[0] < 0x7F else raw)

    for method, name, lines in io_files():
        for line in lines:
            if method == "eth_sendRawTransaction" and line.startswith(">> "):
                add(f"{method}-{name}", hex_bytes(json.loads(line[3:])["params"][0]))
            if method.startswith("debug_getRaw") and line.startswith("<< "):
                result = json.loads(line[3:]).get("result")
                for index, value in enumerate(result if isinstance(result, list) else [result]):
                    if isinstance(value, str) and value.startswith("0x"):
                        add(f"{method}-{name}-{index}", hex_bytes(value))

    def nested(depth):
        item = b"\xc0"
        for _ in range(depth - 1):
            item = rlp_length_prefix(len(item), 0xC0) + item
        return item

    edge = {
        "nested-128-lists": nested(128),
        "nested-129-lists": nested(129),
        "string-55": rlp_length_prefix(55, 0x80) + b"a" * 55,
        "string-56": rlp_length_prefix(56, 0x80) + b"a" * 56,
        "string-255": rlp_length_prefix(255, 0x80) + b"b" * 255,
        "string-256": rlp_length_prefix(256, 0x80) + b"b" * 256,
        "list-56": rlp_length_prefix(56, 0xC0) + b"\x01" * 56,
        "single-byte-behind-prefix": b"\x81\x7f",
        "single-byte-80": b"\x81\x80",
        "long-form-short-string": b"\xb8\x37" + b"a" * 55,
        "long-form-short-list": b"\xf8\x37" + b"\x01" * 55,
        "length-leading-zero": b"\xb9\x00\x38" + b"a" * 56,
        "length-of-length-8": b"\xbf" + b"\x01" * 8,
        "list-length-of-length-8": b"\xff" + b"\x01" * 8,
        "list-overrun": b"\xc2\x82\x01",
        "list-underfill": b"\xc3\x01\x02",
        "trailing": b"\x01\x02",
        "empty": b"",
        "lengths-beyond-input": b"\xbb\xff\xff\xff",
        # What the fuzzer found (regression test in Tests/EthereumKitTests/RLPTests.swift): as a recipe,
        # 129 nested lists that validate accepted and decode refused.
        "found-validate-depth": base64.b64decode(
            "Ke21tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1"
            "tbW1tbW1tbW1tbW17fEx7fG17e21te3x7THt8bXttbXt8THt8bXt7bW17fHt7bW17fVOMe3xte0="),
    }
    for name, data in edge.items():
        write(out, f"edge-{name}.rlp", data)


def main():
    for name, build in (("jsonrpc", jsonrpc_corpus), ("rlp", rlp_corpus)):
        out = os.path.join(ROOT, "corpus", name)
        shutil.rmtree(out, ignore_errors=True)
        build(out)
        dedupe(out)
        files = os.listdir(out)
        print(f"{out}: {len(files)} files, {sum(os.path.getsize(os.path.join(out, f)) for f in files)} bytes")


if __name__ == "__main__":
    main()
