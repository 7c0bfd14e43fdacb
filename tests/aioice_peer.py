"""An aioice peer for floe's interop tests, driven over stdin/stdout with a line protocol.

Out (stdout): "ufrag U", "pwd P", "cand <candidate-attribute-value>"..., "end", then
"connected" once ICE connects, and "got <text>" for every datagram received.
In (stdin): the same "ufrag", "pwd", "cand" and "end" lines from the floe side.

After connecting it sends "hello from aioice" and echoes every datagram back, until stdin
closes or the time limit passes.
"""

import asyncio
import sys

import aioice

# aioice skips loopback when it lists interfaces; the tests run on loopback only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main():
    controlling = sys.argv[1] == "controlling"
    limit = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    conn = aioice.Connection(ice_controlling=controlling, components=1)
    await conn.gather_candidates()
    say("ufrag " + conn.local_username)
    say("pwd " + conn.local_password)
    for c in conn.local_candidates:
        say("cand " + c.to_sdp())
    say("end")

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        word, _, rest = line.strip().partition(" ")
        if word == "ufrag":
            conn.remote_username = rest
        elif word == "pwd":
            conn.remote_password = rest
        elif word == "cand":
            await conn.add_remote_candidate(aioice.Candidate.from_sdp(rest))
        elif word == "end":
            await conn.add_remote_candidate(None)
            break

    await asyncio.wait_for(conn.connect(), limit)
    say("connected")
    await conn.send(b"hello from aioice")

    async def echo():
        while True:
            data = await conn.recv()
            say("got " + data.decode(errors="replace"))
            await conn.send(data)

    try:
        await asyncio.wait_for(echo(), limit)
    except (asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
