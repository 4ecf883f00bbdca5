#!/usr/bin/python3
"""Interop peer for spec/e2e/client.e2e.spec.ts and browser.e2e.spec.ts: an
echo server written with Debian's python3-websockets (10.x, asyncio API), for
rxjs-ws's connect() in Node and in Chromium (the echo page).

Usage: /usr/bin/python3 python_echo_server.py [PORT]    (0 or none: a free port)

Echoes every message as it came: str stays text, bytes stay binary. Prints one
JSON object per line on stdout:

  {"event": "listening", "port": N, "websockets": "10.4"}
  {"event": "open", "path": "/ws"}
  {"event": "close", "code": 1000, "reason": "...", "kinds": ["text", "binary"]}

Exits 0 on SIGTERM or SIGINT (clients get 1001).
"""

import asyncio
import json
import signal
import sys

import websockets


def emit(**fields):
    print(json.dumps(fields), flush=True)


async def echo(ws):
    emit(event="open", path=ws.path)
    kinds = []
    try:
        async for message in ws:
            kinds.append("text" if isinstance(message, str) else "binary")
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass  # an abnormal close: close_code below says which
    emit(event="close", code=ws.close_code, reason=ws.close_reason, kinds=kinds)


async def main(port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    # No compression, so the frames on the wire are the frames the test sends.
    async with websockets.serve(echo, "127.0.0.1", port, compression=None) as server:
        emit(event="listening", port=server.sockets[0].getsockname()[1], websockets=websockets.__version__)
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
    sys.exit(0)
