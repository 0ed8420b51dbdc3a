"""Commit latency of replicated writes, and the time until every member applied them.

Two systems, one client loop, so the numbers compare:
- `warren`: N sequential `PUT /v1/policy` on a PoP's admin API (each a new valid policy, so each
  is a real Raft write through the same path as `warren admin policy set`); applied = every PoP's
  `GET /v1/policy` reports the new version.
- `etcd`: N sequential `put` through etcd's v3 JSON gateway (`POST /v3/kv/put`); applied = every
  member's serializable (local) range read returns the new value.

For each target (the leader, then a follower, whose writes are forwarded to the leader), the
call is timed (commit), and after each answer every member is polled on kept-alive connections
until it has the write (applied everywhere). Prints one JSON object with the raw samples (ms).

    cluster_writes.py warren TOKEN N LEADER FOLLOWER OTHER...
    cluster_writes.py etcd   -     N LEADER FOLLOWER OTHER...
"""
import base64
import http.client
import json
import sys
import time


def conn(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=30)


def call(c, method, path, headers, body=None):
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    return r.status, r.read()


class Warren:
    def __init__(self, token):
        self.h = {"Authorization": f"Bearer {token}", "Content-Type": "application/yaml"}

    def write(self, c, label, i):
        text = (
            "on_http_response:\n  - actions:\n      - type: add-headers\n        config:\n"
            f"          headers:\n            x-bench: \"{label}-{i}\"\n"
        )
        status, data = call(c, "PUT", "/v1/policy", self.h, text.encode())
        if status != 200:
            raise SystemExit(f"PUT /v1/policy: {status} {data[:200]!r}")
        return json.loads(data)["version"]

    def has(self, c, mark):
        s, d = call(c, "GET", "/v1/policy", self.h)
        return s == 200 and json.loads(d)["version"] >= mark


class Etcd:
    h = {"Content-Type": "application/json"}
    key = base64.b64encode(b"bench/policy").decode()

    def write(self, c, label, i):
        value = base64.b64encode(f"{label}-{i}".encode()).decode()
        status, data = call(c, "POST", "/v3/kv/put", self.h, json.dumps({"key": self.key, "value": value}).encode())
        if status != 200:
            raise SystemExit(f"etcd put: {status} {data[:200]!r}")
        return value

    def has(self, c, mark):
        body = json.dumps({"key": self.key, "serializable": True}).encode()
        s, d = call(c, "POST", "/v3/kv/range", self.h, body)
        if s != 200:
            return False
        kvs = json.loads(d).get("kvs") or []
        return bool(kvs) and kvs[0].get("value") == mark


def main():
    kind, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    members = sys.argv[4:]
    system = Warren(token) if kind == "warren" else Etcd()
    readers = {a: conn(a) for a in members}
    results = {}
    for label, target in (("leader", members[0]), ("follower", members[1])):
        w = conn(target)
        commit, everywhere = [], []
        for i in range(n):
            t0 = time.perf_counter()
            mark = system.write(w, label, i)
            t1 = time.perf_counter()
            pending = set(members)
            while pending:
                for a in list(pending):
                    if system.has(readers[a], mark):
                        pending.discard(a)
            t2 = time.perf_counter()
            commit.append((t1 - t0) * 1000)
            everywhere.append((t2 - t0) * 1000)
        results[label] = {"commit_ms": commit, "applied_everywhere_ms": everywhere}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
