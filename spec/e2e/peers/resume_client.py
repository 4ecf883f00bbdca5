#!/usr/bin/python3
"""Interop peer for spec/e2e/resume.e2e.spec.ts: Debian's python3-websockets
(10.x, asyncio API) offering only the subprotocol of resumable sessions,
rxjs-ws.resume.1, to a server started with resume.

Usage: /usr/bin/python3 resume_client.py plain|hello ws://127.0.0.1:PORT/ws

plain: sends a plain text frame where the server expects the session hello,
       then reads until the server closes the connection.
hello: sends a session hello for a new session (U+0000 "H" and its JSON),
       reads the welcome, sends a text frame and reads until its echo comes
       (skipping the example's heart beats and the session's
       acknowledgements, control messages that start with U+0000), then
       closes with 1000.

Prints one JSON line: the subprotocol the server selected, what came in
(the welcome's JSON, the echo) and how the connection closed.
"""

import asyncio
import json
import sys

import websockets

PROTOCOL = "rxjs-ws.resume.1"
TIMEOUT = 10.0
HEARTBEAT = "heart beat"


async def plain(ws, summary):
    await ws.send("plain text, no hello")
    frames = []
    try:
        while True:
            frames.append(await asyncio.wait_for(ws.recv(), TIMEOUT))
    except websockets.ConnectionClosed:
        pass
    summary["frames"] = frames


async def hello(ws, summary):
    await ws.send("\u0000H" + json.dumps({"s": None, "r": 0, "w": 1048576}))
    welcome = await asyncio.wait_for(ws.recv(), TIMEOUT)
    summary["welcomeMark"] = welcome[:2] == "\u0000W"
    summary["welcome"] = json.loads(welcome[2:])
    await ws.send("hello from python in a session \u2713")
    while True:
        frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if frame == HEARTBEAT or (isinstance(frame, str) and frame.startswith("\u0000")):
            continue
        summary["echo"] = frame
        break
    await ws.close(code=1000, reason="python done")


async def run(mode, url):
    summary = {"mode": mode}
    async with websockets.connect(url, subprotocols=[PROTOCOL], compression=None, open_timeout=TIMEOUT) as ws:
        summary["subprotocol"] = ws.subprotocol
        await (plain if mode == "plain" else hello)(ws, summary)
        await ws.wait_closed()
        summary["closeCode"] = ws.close_code
        summary["closeReason"] = ws.close_reason
    return summary


def main():
    args = sys.argv[1:]
    if len(args) != 2 or args[0] not in ("plain", "hello"):
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(run(args[0], args[1]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
