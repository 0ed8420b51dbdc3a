#!/usr/bin/env python3
"""A throw-away identity provider for bench/policy.sh (stands in for `warren dev-idp`).

Generates an RSA-2048 key, serves its JWKS at http://127.0.0.1:PORT/.well-known/jwks.json (and a
minimal /.well-known/openid-configuration), and mints RS256 tokens with the given issuer and
audience and a 1 h expiry:

- one token, written to --token-out and printed as `token=...`;
- optionally --pool N more tokens (distinct `jti`), one a line, in --pool-out.

Prints `listening addr=127.0.0.1:PORT issuer=... jwks_url=...` then `ready` on stdout once
everything is written, and serves until killed. Every JWKS request is logged on stderr.

Needs PyJWT and cryptography (`python3 -m pip install pyjwt cryptography`).
"""

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


_WORKER = {}


def _worker_init(pem, kid, claims):
    _WORKER["key"] = serialization.load_pem_private_key(pem, password=None)
    _WORKER["kid"] = kid
    _WORKER["claims"] = claims


def _mint_pool_token(i):
    # Same-length jti values, so every pool token has the size of the main one.
    claims = dict(_WORKER["claims"], jti=f"bench-pool-{i:08d}")
    return jwt.encode(claims, _WORKER["key"], algorithm="RS256", headers={"kid": _WORKER["kid"]})


def args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--issuer", default="", help="default http://127.0.0.1:PORT")
    p.add_argument("--audience", default="warren-bench")
    p.add_argument("--subject", default="bench")
    p.add_argument("--ttl", type=int, default=3600, help="token lifetime in seconds")
    p.add_argument("--token-out", default="")
    p.add_argument("--pool", type=int, default=0, help="extra distinct tokens to mint")
    p.add_argument("--pool-out", default="")
    return p.parse_args()


def main():
    a = args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = "bench-" + uuid.uuid4().hex[:12]
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    jwks = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path == "/.well-known/jwks.json":
                body, ctype = jwks, "application/json"
                print(f"{time.strftime('%H:%M:%S')} jwks served to {self.client_address[0]}", file=sys.stderr,
                      flush=True)
            elif self.path == "/.well-known/openid-configuration":
                body = json.dumps({"issuer": issuer, "jwks_uri": jwks_url,
                                   "id_token_signing_alg_values_supported": ["RS256"]}).encode()
                ctype = "application/json"
            else:
                body, ctype = b"not found\n", "text/plain"
                self.send_response(404)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", "max-age=300")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *rest):  # quiet: JWKS fetches are logged above
            pass

    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    port = server.server_address[1]
    issuer = a.issuer or f"http://127.0.0.1:{port}"
    jwks_url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening addr=127.0.0.1:{port} issuer={issuer} jwks_url={jwks_url} kid={kid}", flush=True)

    now = int(time.time())
    base = {"iss": issuer, "aud": a.audience, "sub": a.subject, "iat": now, "nbf": now, "exp": now + a.ttl,
            "scope": "bench"}
    token = jwt.encode(dict(base, jti="bench-main-" + uuid.uuid4().hex[:8]), key, algorithm="RS256",
                       headers={"kid": kid})
    if a.token_out:
        with open(a.token_out, "w") as f:
            f.write(token + "\n")
    print(f"token={token}", flush=True)
    if a.pool:
        t0 = time.time()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        with multiprocessing.Pool(os.cpu_count() or 1, _worker_init, (pem, kid, base)) as pool:
            tokens = pool.map(_mint_pool_token, range(a.pool), chunksize=256)
        with open(a.pool_out, "w") as f:
            f.write("\n".join(tokens) + "\n")
        print(f"pool tokens={a.pool} file={a.pool_out} minted_in={time.time() - t0:.1f}s", flush=True)
    print("ready", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
