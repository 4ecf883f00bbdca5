#!/usr/bin/python3
"""Interop peer for spec/e2e/python.e2e.spec.ts: Debian's python3-websockets
(10.x, asyncio API; websockets.sync only exists from 11.0) against the rxjs-ws
echo example.

Usage: /usr/bin/python3 echo_client.py [--deflate] ws://127.0.0.1:PORT/ws

Sends a text frame, a binary frame, a 1 MiB binary frame and a 1 MiB text
frame; checks that each echo is exact and of the same kind (str vs bytes),
skipping interleaved "heart beat" text frames; closes with 1000 and prints one
JSON summary line. Exits 0 when every check passed, 1 otherwise. With
--deflate it offers permessage-deflate (websockets' default offer), also sends
a compressible JSON frame, and reports the extensions negotiated.
"""

import asyncio
import hashlib
import json
import os
import sys

import websockets

MIB = 1024 * 1024
HEARTBEAT = "heart beat"
TIMEOUT = 20.0
# Pause before each frame, so that heart beats (the e2e test runs the server
# with a 20 ms heart beat) queue up ahead of each echo and must be skipped.
PAUSE = 0.06


def frames(deflate):
    # A 1 MiB text frame with multi-byte characters: "abcde✓" is 8 UTF-8 bytes.
    big_text = "abcde\u2713" * (MIB // 8)
    assert len(big_text.encode("utf-8")) == MIB
    extra = []
    if deflate:
        rows = [{"id": i, "name": "item %d" % i, "tags": ["a", "b"]} for i in range(5000)]
        extra = [("json", json.dumps(rows))]
    return extra + [
        ("text", "hello from python \u2713"),
        ("binary", b"\x00\x01\x02\xfe\xff binary \x80"),
        ("binary 1 MiB", os.urandom(MIB)),
        ("text 1 MiB", big_text),
    ]


def size(data):
    return len(data.encode("utf-8")) if isinstance(data, str) else len(data)


def digest(data):
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]


async def next_echo(ws, counts):
    """The next frame that is not a heart beat."""
    while True:
        message = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if message == HEARTBEAT:
            counts["heartbeats"] += 1
            continue
        return message


async def run(url, deflate):
    counts = {"heartbeats": 0}
    results = []
    # max_size: the default (1 MiB) would just fit; leave room. No compression
    # unless asked, so the frames on the wire are the frames we check.
    compression = "deflate" if deflate else None
    async with websockets.connect(url, max_size=4 * MIB, compression=compression, open_timeout=TIMEOUT) as ws:
        extensions = [e.name for e in ws.extensions]
        for name, data in frames(deflate):
            await asyncio.sleep(PAUSE)
            await ws.send(data)
            echo = await next_echo(ws, counts)
            results.append(
                {
                    "name": name,
                    "kind": "text" if isinstance(data, str) else "binary",
                    "echoKind": "text" if isinstance(echo, str) else "binary",
                    "bytes": size(data),
                    "echoBytes": size(echo),
                    "sha256": digest(data),
                    "echoSha256": digest(echo),
                    "sameKind": type(echo) is type(data),
                    "exact": echo == data,
                }
            )
        await ws.close(code=1000, reason="python done")
        close_code, close_reason = ws.close_code, ws.close_reason
    ok = all(r["sameKind"] and r["exact"] for r in results) and close_code == 1000
    ok = ok and extensions == (["permessage-deflate"] if deflate else [])
    return {
        "ok": ok,
        "websockets": websockets.__version__,
        "python": sys.version.split()[0],
        "frames": results,
        "heartbeats": counts["heartbeats"],
        "extensions": extensions,
        "closeCode": close_code,
        "closeReason": close_reason,
    }


def main():
    args = sys.argv[1:]
    deflate = args[:1] == ["--deflate"]
    if deflate:
        args = args[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    summary = asyncio.run(run(args[0], deflate))
    print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
