"""The WebSocket client and output helper the Python interop peers share.

A minimal RFC 6455 client speaking floe's signaling (the JSON of the browser sample code), only
the standard library.
"""

import asyncio
import base64
import hashlib
import json
import os
import struct
import sys
import urllib.parse

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class WebSocket:
    """A minimal RFC 6455 client: text frames out (masked), text/ping/close in."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, url):
        u = urllib.parse.urlparse(url)
        if u.scheme != "ws":
            raise ValueError("only ws:// URLs")
        reader, writer = await asyncio.open_connection(u.hostname, u.port or 80)
        key = base64.b64encode(os.urandom(16)).decode()
        host = f"{u.hostname}:{u.port or 80}"
        writer.write(
            (
                f"GET {u.path or '/'} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status, *headers = head.split("\r\n")
        if " 101 " not in status + " ":
            raise ConnectionError("handshake refused: " + status)
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        fields = {h.split(":", 1)[0].lower(): h.split(":", 1)[1].strip() for h in headers if ":" in h}
        if fields.get("sec-websocket-accept") != accept:
            raise ConnectionError("bad Sec-WebSocket-Accept")
        return cls(reader, writer)

    def _frame(self, opcode, payload):
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(head + mask + masked)

    async def send(self, obj):
        self._frame(0x1, json.dumps(obj).encode())
        await self.writer.drain()

    async def recv(self):
        """The next text message parsed as JSON, or None once the connection closed."""
        message = b""
        while True:
            try:
                b0, b1 = await self.reader.readexactly(2)
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            mask = await self.reader.readexactly(4) if b1 & 0x80 else None
            payload = await self.reader.readexactly(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 0x8:  # close: answer it and stop
                self._frame(0x8, payload[:2])
                await self.writer.drain()
                return None
            if opcode == 0x9:  # ping
                self._frame(0xA, payload)
                await self.writer.drain()
            elif opcode in (0x1, 0x0):  # text, or its continuation
                message += payload
                if b0 & 0x80:
                    return json.loads(message)

    async def close(self):
        try:
            self._frame(0x8, struct.pack("!H", 1000))
            await self.writer.drain()
            self.writer.close()
        except ConnectionError:
            pass


def run_peer(name, peer, limit):
    """Runs the coroutine `peer` for at most `limit` seconds; a timeout or an error is one line
    on stderr and exit status 1, for the test's failure message."""
    try:
        asyncio.run(asyncio.wait_for(peer, limit))
    except asyncio.TimeoutError:
        sys.stderr.write(f"{name}: timed out after {limit} s\n")
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - one line for the test's failure message
        sys.stderr.write(f"{name}: {type(e).__name__}: {e}\n")
        sys.exit(1)
