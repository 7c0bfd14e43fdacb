"""An aioice peer that calls or answers through floe's WebSocket signaling server.

Usage: aioice_signaling_peer.py offer|answer ws://HOST:PORT/ROOM [LIMIT_SECONDS]
       [--turn HOST:PORT --turn-user USER --turn-password PASSWORD]  (relay-only through TURN/UDP)
       [--turn-policy relay|all]   all: host and server-reflexive candidates too (default relay)
       [--stun HOST:PORT]          server-reflexive candidates from this STUN server
       [--host-addresses auto|IP,...]  host candidates: 127.0.0.1 (default), or every interface
                                   address but 127.0.0.1 (auto, aioice's own choice), or these
       [--hello TEXT]              what to send once connected (default "hello from aioice"; two
                                   aioice peers need different ones)

It speaks the JSON of the browser sample code (`{"offer": {...}}`, `{"answer": {...}}`,
`{"iceCandidate": {...}}`, an empty candidate meaning end-of-candidates, floe's `{"bye": true}`).
aioice has no SDP, so the description is built here from its credentials and candidates: a data
channel m-line with a placeholder fingerprint (there is no DTLS). The offerer is controlling; it
resends its offer and end-of-candidates every second until answered, as `floe call` does.

Once connected it sends its hello ("hello from aioice"), echoes every other datagram, and when
its hello came back and it received one datagram of the peer's own, it says bye and exits 0.
Stdout gets one line per step ("joined", "checking", "connected", "got TEXT", "done"), and after
"connected" one "selected LOCAL_TYPE/REMOTE_TYPE LOCAL_ADDR -> REMOTE_ADDR N ms" line: the
nominated pair and the time from the start of the checks to connected. Errors go to stderr with
exit status 1.

Only the standard library besides aioice; the WebSocket client is in ws_signaling.py.
"""

import argparse
import asyncio

import aioice

from ws_signaling import WebSocket, run_peer, say

HELLO = "hello from aioice"


def make_sdp(conn, offer):
    fingerprint = ":".join(["AB"] * 32)
    lines = [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:" + conn.local_username,
        "a=ice-pwd:" + conn.local_password,
        "a=fingerprint:sha-256 " + fingerprint,
        "a=setup:" + ("actpass" if offer else "active"),
        "a=mid:0",
        "a=sctp-port:5000",
    ]
    lines += ["a=candidate:" + c.to_sdp() for c in conn.local_candidates]
    return "\r\n".join(lines) + "\r\n"


def parse_sdp(sdp):
    """(ufrag, pwd, candidate values, end-of-candidates) from a description."""
    ufrag = pwd = None
    cands = []
    end = False
    for line in sdp.splitlines():
        if line.startswith("a=ice-ufrag:"):
            ufrag = line[len("a=ice-ufrag:"):]
        elif line.startswith("a=ice-pwd:"):
            pwd = line[len("a=ice-pwd:"):]
        elif line.startswith("a=candidate:"):
            cands.append(line[len("a=candidate:"):])
        elif line == "a=end-of-candidates":
            end = True
    return ufrag, pwd, cands, end


async def run(offerer, url, options, hello=HELLO, drop_first=False, echo_only=False):
    ws = await WebSocket.connect(url)
    say("joined")
    conn = aioice.Connection(ice_controlling=offerer, components=1, **options)
    await conn.gather_candidates()
    sdp = make_sdp(conn, offerer)
    eoc = {"iceCandidate": {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}}
    described = asyncio.Event()
    pending = []  # candidates that came before the description
    pending_end = []  # and end-of-candidates, if it did too
    state = {"end": False}

    async def add(value):
        if state["end"]:
            return  # a resend after end-of-candidates
        if value is None:
            state["end"] = True
            await conn.add_remote_candidate(None)
        elif value.split()[2].lower() == "udp":
            await conn.add_remote_candidate(aioice.Candidate.from_sdp(value))

    async def apply(desc):
        ufrag, pwd, cands, end = parse_sdp(desc["sdp"])
        conn.remote_username, conn.remote_password = ufrag, pwd
        for value in cands + pending:
            await add(value)
        if end:
            await add(None)
        described.set()

    async def resend():
        while not described.is_set():
            await ws.send({"offer": {"type": "offer", "sdp": sdp}})
            await ws.send(eoc)
            await asyncio.sleep(1)

    got_bye = asyncio.Event()

    async def signaling():
        while True:
            msg = await ws.recv()
            if msg is None:
                return
            if "offer" in msg and not offerer and not described.is_set():
                await apply(msg["offer"])
                await ws.send({"answer": {"type": "answer", "sdp": sdp}})
                await ws.send(eoc)
            elif "answer" in msg and offerer and not described.is_set():
                await apply(msg["answer"])
            elif "iceCandidate" in msg:
                c = msg["iceCandidate"]
                value = (c or {}).get("candidate") or None
                if value is not None:
                    value = value[len("candidate:"):] if value.startswith("candidate:") else value
                if described.is_set():
                    await add(value)
                elif value is not None:
                    pending.append(value)
                else:
                    pending_end.append(True)
            elif "bye" in msg:
                got_bye.set()

    tasks = [asyncio.create_task(signaling())]
    if offerer:
        tasks.append(asyncio.create_task(resend()))
    try:
        await described.wait()
        if pending_end:
            await add(None)
        say("checking")
        started = loop_time()
        await conn.connect()
        say("connected")
        pair = conn._nominated.get(1)  # aioice has no public accessor for the selected pair
        if pair is not None:
            say(
                f"selected {pair.local_candidate.type}/{pair.remote_candidate.type} "
                f"{pair.local_addr[0]}:{pair.local_addr[1]} -> "
                f"{pair.remote_addr[0]}:{pair.remote_addr[1]} {(loop_time() - started) * 1e3:.1f} ms"
            )
        await conn.send(hello.encode())
        got_echo = got_own = False
        drop = drop_first
        # A peer that only echoes (floe serve --echo) sends nothing of its own.
        got_own = echo_only
        while not (got_echo and got_own):
            data = (await conn.recv()).decode(errors="replace")
            if drop:
                # A peer not ready for data yet: the first datagram is lost to it.
                drop = False
                say("dropped " + data)
                continue
            say("got " + data)
            if data == hello:
                got_echo = True
            else:
                got_own = True
                await conn.send(data.encode())
        await ws.send({"bye": True})
        say("done")
        # Let the peer read its echo and the bye before the sockets go.
        await asyncio.sleep(0.2)
    finally:
        for t in tasks:
            t.cancel()
        await ws.close()
        await conn.close()


def loop_time():
    return asyncio.get_running_loop().time()


def host_port(value):
    host, _, port = value.rpartition(":")
    return host, int(port)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["offer", "answer"])
    p.add_argument("url")
    p.add_argument("limit", type=float, nargs="?", default=20.0)
    p.add_argument("--turn")
    p.add_argument("--turn-user")
    p.add_argument("--turn-password")
    p.add_argument("--turn-policy", choices=["relay", "all"], default="relay")
    p.add_argument("--stun")
    p.add_argument("--host-addresses", default="127.0.0.1")
    p.add_argument("--hello", default=HELLO)
    p.add_argument("--echo-only", action="store_true",
                   help="the peer only echoes: done once the hello came back")
    p.add_argument("--drop-first", action="store_true",
                   help="ignore the first application datagram (a peer not ready for data)")
    a = p.parse_args()
    if a.host_addresses != "auto":
        # aioice skips loopback when it lists interfaces; the tests run on loopback only.
        addresses = a.host_addresses.split(",")
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: addresses
    options = {}
    if a.turn:
        options = {
            "turn_server": host_port(a.turn),
            "turn_username": a.turn_user,
            "turn_password": a.turn_password,
            "transport_policy": (
                aioice.TransportPolicy.RELAY
                if a.turn_policy == "relay"
                else aioice.TransportPolicy.ALL
            ),
        }
    if a.stun:
        options["stun_server"] = host_port(a.stun)
    peer = run(a.role == "offer", a.url, options, a.hello, a.drop_first, a.echo_only)
    run_peer("aioice peer", peer, a.limit)


if __name__ == "__main__":
    main()
