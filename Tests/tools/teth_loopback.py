"""Runs teth (a third-party JSON-RPC server from PyPI: Flask over eth-tester) on 127.0.0.1.

teth's own command binds 0.0.0.0; tests listen on loopback only, so this serves its Flask app
directly, on a port the kernel picks when bound (no other test can take it in between).
Usage: python teth_loopback.py. Prints `ready http://127.0.0.1:PORT` once it listens.
"""
from werkzeug.serving import make_server

import teth

server = make_server("127.0.0.1", 0, teth.app, threaded=True)
print(f"ready http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
