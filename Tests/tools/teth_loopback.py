"""Runs teth (a third-party JSON-RPC server from PyPI: Flask over eth-tester) on 127.0.0.1.

teth's own command binds 0.0.0.0; tests listen on loopback only, so this starts its Flask app
directly. Usage: python teth_loopback.py PORT. Prints `ready http://127.0.0.1:PORT`.
"""
import sys

import teth

port = int(sys.argv[1])
print(f"ready http://127.0.0.1:{port}", flush=True)
teth.app.run(host="127.0.0.1", port=port)
