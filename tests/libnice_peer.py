"""A libnice peer over ICE-TCP (RFC 6544) that calls or answers through floe's signaling server.

Usage: libnice_peer.py offer|answer ws://HOST:PORT/ROOM [LIMIT_SECONDS] [--udp] [--echo-only] [--no-hello]

libnice (through GObject introspection: Debian's python3-gi and gir1.2-nice-0.1, run with the
system python3) gathers TCP host candidates only (active and passive: it gathers no simultaneous-open ones; on
127.0.0.1), unless --udp adds UDP ones. The description is built here from its credentials and
candidates: a data channel m-line with a placeholder fingerprint (there is no DTLS), as
aioice_signaling_peer.py does. The offerer is controlling and resends its offer and
end-of-candidates every second until answered.

Once its component is ready it sends "hello from libnice", echoes every other message, and when
its hello came back and one message of the peer's own arrived (or with --echo-only, once the
hello came back; with --no-hello, once it echoed one message), it says bye and exits 0. Stdout
gets one line per step ("joined", "checking", "connected", "got TEXT", "done") and, once
connected, "selected LOCAL_CANDIDATE -> REMOTE_CANDIDATE" with each candidate as
`TRANSPORT TYPE [TCPTYPE] ADDRESS:PORT`. Errors go to stderr with exit status 1.
"""

import argparse
import asyncio
import ctypes

import gi

gi.require_version("Nice", "0.1")
from gi.repository import GLib, Nice  # noqa: E402

from ws_signaling import WebSocket, run_peer, say  # noqa: E402

HELLO = "hello from libnice"
READY = Nice.ComponentState.READY
TRANSPORTS = {
    Nice.CandidateTransport.UDP: "udp",
    Nice.CandidateTransport.TCP_ACTIVE: "tcp active",
    Nice.CandidateTransport.TCP_PASSIVE: "tcp passive",
    Nice.CandidateTransport.TCP_SO: "tcp so",
}
TYPES = {
    Nice.CandidateType.HOST: "host",
    Nice.CandidateType.SERVER_REFLEXIVE: "srflx",
    Nice.CandidateType.PEER_REFLEXIVE: "prflx",
    Nice.CandidateType.RELAYED: "relay",
}


# The introspected nice_agent_recv_nonblocking returns the length but drops the bytes (its
# caller-allocated buffer), so the C function is called directly.
LIBNICE = ctypes.CDLL("libnice.so.10")
LIBNICE.nice_agent_recv_nonblocking.restype = ctypes.c_ssize_t
LIBNICE.nice_agent_recv_nonblocking.argtypes = [
    ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_char_p, ctypes.c_size_t,
    ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
]
ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
GLIB = ctypes.CDLL("libglib-2.0.so.0")
GLIB.g_error_free.argtypes = [ctypes.c_void_p]


def recv_nonblocking(agent, stream):
    """One message of component 1, or BlockingIOError when none is waiting. libnice reads its
    sockets (STUN checks and answers included) only inside this call."""
    pointer = ctypes.pythonapi.PyCapsule_GetPointer(agent.__gpointer__, None)
    buf = ctypes.create_string_buffer(65536)
    error = ctypes.c_void_p()
    n = LIBNICE.nice_agent_recv_nonblocking(pointer, stream, 1, buf, len(buf), None, ctypes.byref(error))
    if error.value:
        GLIB.g_error_free(error)
    if n <= 0:
        raise BlockingIOError
    return buf.raw[:n]


def show(c):
    transport = TRANSPORTS.get(c.transport, "?")
    proto, _, tcptype = transport.partition(" ")
    kind = TYPES.get(c.type, "?")
    return f"{proto} {kind}{' ' + tcptype if tcptype else ''} {c.addr.dup_string()}:{c.addr.get_port()}"


class Peer:
    def __init__(self, offerer, udp):
        self.ctx = GLib.MainContext.default()
        self.agent = Nice.Agent.new(self.ctx, Nice.Compatibility.RFC5245)
        self.agent.set_property("controlling-mode", offerer)
        self.agent.set_property("ice-tcp", True)
        self.agent.set_property("ice-udp", udp)
        self.agent.set_property("upnp", False)
        addr = Nice.Address()
        addr.set_from_string("127.0.0.1")
        self.agent.add_local_address(addr)
        self.stream = None
        self.received = []
        self.stream = self.agent.add_stream(1)
        self.gathered = False
        self.state = None
        self.selected = None
        self.agent.connect("candidate-gathering-done", self._gathered)
        self.agent.connect("component-state-changed", self._state)
        self.agent.connect("new-selected-pair-full", self._selected)
        if not self.agent.gather_candidates(self.stream):
            raise RuntimeError("libnice could not gather")

    def _gathered(self, _agent, _stream):
        self.gathered = True

    def _state(self, _agent, _stream, _component, state):
        self.state = state

    def _selected(self, _agent, _stream, _component, local, remote):
        self.selected = f"{show(local)} -> {show(remote)}"

    def pump(self):
        """Runs libnice's timers and takes what arrived. Without a receive callback libnice reads
        its sockets (STUN included) only inside recv, so recv is called from the start."""
        while self.ctx.pending():
            self.ctx.iteration(False)
        while self.stream is not None:
            try:
                data = recv_nonblocking(self.agent, self.stream)
            except BlockingIOError:
                break
            self.received.append(data.decode(errors="replace"))

    def description(self, offer):
        ufrag, pwd = self.agent.get_local_credentials(self.stream)[1:3]
        lines = [
            "v=0",
            "o=- 4611731400430051337 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "a=group:BUNDLE 0",
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "c=IN IP4 0.0.0.0",
            "a=ice-ufrag:" + ufrag,
            "a=ice-pwd:" + pwd,
            "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
            "a=setup:" + ("actpass" if offer else "active"),
            "a=mid:0",
            "a=sctp-port:5000",
        ]
        for c in self.agent.get_local_candidates(self.stream, 1):
            lines.append(self.agent.generate_local_candidate_sdp(c))
        return "\r\n".join(lines) + "\r\n"

    def apply(self, sdp):
        ufrag = pwd = None
        for line in sdp.splitlines():
            if line.startswith("a=ice-ufrag:"):
                ufrag = line[len("a=ice-ufrag:"):]
            elif line.startswith("a=ice-pwd:"):
                pwd = line[len("a=ice-pwd:"):]
        self.agent.set_remote_credentials(self.stream, ufrag, pwd)
        self.add([l for l in sdp.splitlines() if l.startswith("a=candidate:")])

    def add(self, lines):
        cands = [self.agent.parse_remote_candidate_sdp(self.stream, l) for l in lines]
        cands = [c for c in cands if c is not None]
        if cands:
            self.agent.set_remote_candidates(self.stream, 1, cands)

    def send(self, text):
        # The introspected nice_agent_send takes its buffer as a string (ASCII here).
        self.agent.send(self.stream, 1, len(text.encode()), text)

    def recv(self):
        return self.received.pop(0) if self.received else None


async def run(offerer, url, udp, echo_only, no_hello):
    ws = await WebSocket.connect(url)
    say("joined")
    peer = Peer(offerer, udp)
    while not peer.gathered:
        peer.pump()
        await asyncio.sleep(0.002)
    sdp = peer.description(offerer)
    eoc = {"iceCandidate": {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}}
    described = asyncio.Event()
    pending = []

    def add(value):
        if value:
            peer.add(["a=candidate:" + value])

    async def resend():
        while not described.is_set():
            await ws.send({"offer": {"type": "offer", "sdp": sdp}})
            await ws.send(eoc)
            await asyncio.sleep(1)

    async def signaling():
        while True:
            msg = await ws.recv()
            if msg is None:
                return
            if "offer" in msg and not offerer and not described.is_set():
                peer.apply(msg["offer"]["sdp"])
                await ws.send({"answer": {"type": "answer", "sdp": sdp}})
                await ws.send(eoc)
                described.set()
            elif "answer" in msg and offerer and not described.is_set():
                peer.apply(msg["answer"]["sdp"])
                described.set()
            elif "iceCandidate" in msg:
                value = (msg["iceCandidate"] or {}).get("candidate") or ""
                value = value[len("candidate:"):] if value.startswith("candidate:") else value
                if described.is_set():
                    add(value)
                else:
                    pending.append(value)

    tasks = [asyncio.create_task(signaling())]
    if offerer:
        tasks.append(asyncio.create_task(resend()))
    try:
        await described.wait()
        for value in pending:
            add(value)
        say("checking")
        while peer.state != READY:
            if peer.state == Nice.ComponentState.FAILED:
                raise RuntimeError("libnice: ICE failed")
            peer.pump()
            await asyncio.sleep(0.002)
        say("connected")
        while peer.selected is None:
            peer.pump()
            await asyncio.sleep(0.002)
        say("selected " + peer.selected)
        if not no_hello:
            peer.send(HELLO)
        got_echo = no_hello
        got_own = echo_only  # a peer that only echoes (floe answer --echo) sends nothing of its own
        while not (got_echo and got_own):
            peer.pump()
            data = peer.recv()
            if data is None:
                await asyncio.sleep(0.002)
                continue
            say("got " + data)
            if data == HELLO:
                got_echo = True
            else:
                got_own = True
                peer.send(data)
        await ws.send({"bye": True})
        say("done")
        for _ in range(100):  # let the echo and the bye leave
            peer.pump()
            await asyncio.sleep(0.002)
    finally:
        for t in tasks:
            t.cancel()
        await ws.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["offer", "answer"])
    p.add_argument("url")
    p.add_argument("limit", type=float, nargs="?", default=20.0)
    p.add_argument("--udp", action="store_true", help="UDP candidates too")
    p.add_argument("--echo-only", action="store_true",
                   help="the peer only echoes: done once the hello came back")
    p.add_argument("--no-hello", action="store_true",
                   help="send nothing of our own: done once one message was echoed")
    a = p.parse_args()
    peer = run(a.role == "offer", a.url, a.udp, a.echo_only, a.no_hello)
    run_peer("libnice peer", peer, a.limit)


if __name__ == "__main__":
    main()
