"""A CI pipeline rotating a Cognito custom domain's certificate through certdeck's API,
with the standard library only:

    CERTDECK_TOKEN=cdk_... python pipeline.py CONSOLE_URL SANDBOX_URL "POOL NAME"

It lists the pools, picks the best eligible certificate of the pool, submits the change
with an Idempotency-Key, retries the same request (as a pipeline whose connection broke
would), checks with the sandbox that AWS got one update only, and polls the propagation
until it is verified."""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

TOKEN = os.environ["CERTDECK_TOKEN"]


def call(base, method, path, body=None, headers=None):
    """(status, headers, JSON body) of an API call with the token."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {TOKEN}")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


def update_calls(sandbox):
    with urllib.request.urlopen(sandbox + "/_sandbox/state", timeout=30) as response:
        return json.load(response)["calls"].get("UpdateUserPoolDomain", 0)


def fail(message):
    print(f"FAILED: {message}")
    sys.exit(1)


def main():
    base, sandbox, pool_name = sys.argv[1], sys.argv[2], sys.argv[3]
    status, _, pools = call(base, "GET", "/api/v1/pools?" + urllib.parse.urlencode({"q": pool_name}))
    if status != 200:
        fail(f"listing pools: {status} {pools}")
    matches = [p for p in pools["pools"] if p["pool_name"] == pool_name]
    if len(matches) != 1:
        fail(f"{len(matches)} pools named {pool_name}")
    pool = matches[0]
    print(f"pool {pool['pool_id']} {pool['custom_domain']} may_change={pool['may_change']}")
    if not pool["may_change"]:
        fail("the token may not change this pool")

    status, _, listing = call(base, "GET", f"/api/v1/pools/{pool['pool_id']}/certificates")
    if status != 200:
        fail(f"listing certificates: {status} {listing}")
    candidates = [c for c in listing["certificates"] if c["selectable"]]
    if not candidates:
        fail("no eligible certificate")
    chosen = next((c for c in candidates if c["recommended"]), candidates[0])
    print(f"chosen {chosen['arn']}")

    before = update_calls(sandbox)
    key = f"pipeline-{uuid.uuid4()}"
    body = {"certificate_arn": chosen["arn"]}
    path = f"/api/v1/pools/{pool['pool_id']}/certificate"
    status, headers, first = call(base, "POST", path, body, {"Idempotency-Key": key})
    if status != 202:
        fail(f"the change was not accepted: {status} {first}")
    status, headers, again = call(base, "POST", path, body, {"Idempotency-Key": key})
    if status != 202 or again != first:
        fail(f"the retry answered differently: {status} {again} vs {first}")
    if headers.get("Idempotent-Replayed", headers.get("idempotent-replayed")) != "true":
        fail(f"the retry was not a replay: {headers}")
    after = update_calls(sandbox)
    if after != before + 1:
        fail(f"UpdateUserPoolDomain went from {before} to {after}, not up by one")
    print(f"submitted {first['propagation_id']}; retry replayed; UpdateUserPoolDomain +1")

    deadline = time.monotonic() + 90
    phases = []
    while True:
        status, _, propagation = call(base, "GET", first["propagation"])
        if status != 200:
            fail(f"polling: {status} {propagation}")
        if not phases or phases[-1] != propagation["phase"]:
            phases.append(propagation["phase"])
            print(f"phase {propagation['phase']}")
        if propagation["phase"] == "verified":
            break
        if propagation["phase"] in ("failed", "timed_out", "superseded"):
            fail(f"the propagation ended {propagation['phase']}")
        if time.monotonic() > deadline:
            fail(f"not verified in time: {phases}")
        time.sleep(1)
    print(f"pipeline rotated {pool['custom_domain']} to {chosen['arn']} ({' -> '.join(phases)})")


if __name__ == "__main__":
    main()
