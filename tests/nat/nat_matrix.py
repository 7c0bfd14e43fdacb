#!/usr/bin/env python3
"""floe (and aioice, as a reference) through real NATs: a 5x5 matrix of NAT types, each call
made by real binaries in Linux network namespaces behind nftables routers.

Run as root (standard library only):  python3 tests/nat/nat_matrix.py --floe target/release/floe

Topology (every namespace is `fnm-<run id>-...`; run id = this process's pid, so a later run can
tell a dead run's namespaces from a live one's and delete them):

    pub   bridge br0, 198.51.100.2 and .3: coturn on both (RFC 5780 needs two IPs; relays on .2),
          `floe signal` on 198.51.100.2:8080.
    For side a (caller, s = 1) and b (answerer, s = 2), and NAT type number k in KINDS (0-4),
    whose public IP is 198.51.100.<s><k> (e.g. a's full cone: 198.51.100.11):
      open:  host namespace `a-op-h` directly on the bridge with the public IP;
      else:  router `a-fc-r` (wan: the public IP on the bridge; lan 10.<s>.<k>.1/24) and host
             `a-fc-h` at 10.<s>.<k>.2 behind it, default route via the router.
    IPv6 is off everywhere (IPv4-only test; no link-local candidates). pub, the routers and the
    open hosts route everything else (e.g. the other side's 10.x host candidates) into a veth
    pair `nowhere` (ARP off) where it vanishes, as on the Internet: no ENETUNREACH (coturn drops
    an allocation whose relay socket gets one).

NAT rules (table `ip fnm` in each router; one host behind each NAT, so EIM can preserve ports):
  * mapping: `snat to PUBLIC` (endpoint-independent: conntrack keeps the inside port when it is
    free, for every destination); symmetric: `snat to PUBLIC random`, a new random port for
    every new (destination address, port).
  * filtering: set @allow holds (remote addr, remote port, mapped port) for port-restricted and
    symmetric, (remote addr, mapped port) for addr-restricted, (mapped port) for full cone. A
    chain after SNAT (postrouting, priority srcnat+10, so it sees the mapped port) `update`s it
    for every outbound UDP packet (timeout 60 s). In prerouting at priority raw (before
    conntrack sees the packet), inbound UDP not in @allow is dropped: an early packet leaves no
    conntrack entry behind that would change the mapping later. Inbound UDP that passes and
    starts no known flow is DNATed to the host, same port (not for symmetric: nothing new may
    come in there).
Every box is checked with coturn's RFC 5780 client (turnutils_natdiscovery -m -f) first.

Then, for each (A type, B type) pair and mode `stun` / `stun+turn`: `floe answer --echo` in B's
host, `floe call --send hi` in A's; the caller's time from `connectionstatechange: connecting` to
`connected` (its own t_ms stamps) and its selected pair's candidate types. The same with
tests/aioice_signaling_peer.py at both ends (offerer in A). Both stacks name the base (host or
relay) as the local candidate of a pair, never srflx. Calls run one at a time (a full run takes
about 100 s); expected failures get a 5 s timeout. Prints a table, summaries, then asserts (floe
only): the 22 direct-capable pairs connect directly in both modes; sym<->sym, sym<->pr and
pr<->sym do not connect with STUN only and connect through the relay with TURN.
Exit status: 0, 1 (a floe assertion failed), 2 (a NAT box is not of its type), 130 (interrupted).
"""

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_PY = os.path.join(HERE, "..", "aioice_signaling_peer.py")
PUB, PUB2 = "198.51.100.2", "198.51.100.3"
STUN_PORT, SIG_PORT = 3478, 8080
USER, PASS = "fnm", "fnm-secret"
KINDS = ["open", "full-cone", "addr-restricted", "port-restricted", "symmetric"]
SHORT = {"open": "op", "full-cone": "fc", "addr-restricted": "ar", "port-restricted": "pr",
         "symmetric": "sym"}
NO_DIRECT = {("symmetric", "symmetric"), ("symmetric", "port-restricted"),
             ("port-restricted", "symmetric")}
MODES = ["stun", "stun+turn"]
STACKS = ["floe", "aioice"]
# What turnutils_natdiscovery must say: (mapping, filtering), words of its verdict lines.
EXPECTED = {
    "open": ("Endpoint Independent", "Endpoint Independent"),
    "full-cone": ("Endpoint Independent", "Endpoint Independent"),
    "addr-restricted": ("Endpoint Independent", "Address Dependent"),
    "port-restricted": ("Endpoint Independent", "Address and Port Dependent"),
    "symmetric": ("Address and Port Dependent", "Address and Port Dependent"),
}
# (key type, inbound key, outbound key after SNAT) of @allow per filtering behaviour.
FILTER_KEYS = {
    "full-cone": ("inet_service", "udp dport", "udp sport"),
    "addr-restricted": ("ipv4_addr . inet_service", "ip saddr . udp dport",
                        "ip daddr . udp sport"),
    "port-restricted": ("ipv4_addr . inet_service . inet_service",
                        "ip saddr . udp sport . udp dport", "ip daddr . udp dport . udp sport"),
}
FILTER_KEYS["symmetric"] = FILTER_KEYS["port-restricted"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(*args, ns=None, check=True, stdin=None, timeout=30):
    """Runs a command (in namespace `ns`), returns its stdout; raises with its stderr on error."""
    cmd = (["ip", "netns", "exec", ns] if ns else []) + [str(a) for a in args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


# --- namespaces, processes, cleanup -------------------------------------------------------

class Lab:
    """The namespaces and long-lived processes of one run; `close` removes all of them."""

    def __init__(self, logs):
        self.rid, self.logs, self.closed = str(os.getpid()), logs, False
        # coturn's pid file and SQLite DB: not the system's, which another coturn may use
        self.tmp = tempfile.mkdtemp(prefix=f"fnm-{self.rid}-")
        self.namespaces, self.procs = [], []
        self.hosts = {}  # (side, kind) -> (host namespace, host IP, public IP)

    def ns(self, name):
        return f"fnm-{self.rid}-{name}"

    def add_ns(self, name):
        full = self.ns(name)
        run("ip", "netns", "add", full)
        self.namespaces.append(full)
        for s in ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]:
            run("sysctl", "-qw", s, ns=full)
        run("ip", "link", "set", "lo", "up", ns=full)
        return full

    def default_route_to_nowhere(self, ns):
        run("ip", "link", "add", "nowhere", "type", "veth", "peer", "name", "nowhere-end", ns=ns)
        run("ip", "link", "set", "nowhere", "arp", "off", "up", ns=ns)
        run("ip", "link", "set", "nowhere-end", "up", ns=ns)
        run("ip", "route", "add", "default", "dev", "nowhere", ns=ns)

    def spawn(self, ns, args, logname=None):
        out = open(os.path.join(self.logs, logname), "w") if self.logs and logname else (
            subprocess.DEVNULL)
        p = subprocess.Popen(["ip", "netns", "exec", ns] + [str(a) for a in args],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        if out is not subprocess.DEVNULL:
            out.close()  # the child has its own copy
        self.procs.append(p)
        return p

    def close(self):
        if self.closed:
            return
        self.closed = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the cleanup
        for p in self.procs:
            stop(p)
        for ns in reversed(self.namespaces):
            kill_ns_pids(ns)
            run("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


def stop(p, grace=1.0):
    """Ends a child we started, by its pid: SIGTERM, then SIGKILL."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def kill_ns_pids(ns):
    """Kills what is left in one of our namespaces (by pid, as `ip netns pids` lists them)."""
    for pid in run("ip", "netns", "pids", ns, check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def run_alive(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"nat_matrix" in f.read()
    except OSError:
        return False


def remove_stale_runs():
    """Deletes `fnm-<pid>-*` namespaces (and temporary directories) of runs that are gone."""
    for line in run("ip", "netns", "list").splitlines():
        m = re.match(r"(fnm-(\d+)-\S+)", line)
        if m and not run_alive(m.group(2)):
            log(f"removing stale namespace {m.group(1)}")
            kill_ns_pids(m.group(1))
            run("ip", "netns", "del", m.group(1), check=False)
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        m = re.match(r"fnm-(\d+)-", name)
        if m and not run_alive(m.group(1)) and os.path.isdir(os.path.join(tmp, name)):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)


# --- topology and NAT rules ------------------------------------------------------------------

def nat_ruleset(kind, public_ip, host_ip):
    """The nftables ruleset of a router of NAT type `kind` (see the module docstring)."""
    ktype, inkey, outkey = FILTER_KEYS[kind]
    rand = " random" if kind == "symmetric" else ""
    dnat = "" if kind == "symmetric" else f'iifname "wan" meta l4proto udp dnat to {host_ip}'
    return f"""
table ip fnm {{
  set allow {{ type {ktype}; flags dynamic,timeout; }}
  chain raw_in {{ type filter hook prerouting priority raw; policy accept;
    iifname "wan" meta l4proto udp {inkey} != @allow drop
  }}
  chain dnat_in {{ type nat hook prerouting priority dstnat; policy accept;
    {dnat}
  }}
  chain snat_out {{ type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" snat to {public_ip}{rand}
  }}
  chain learn_out {{ type filter hook postrouting priority srcnat + 10; policy accept;
    oifname "wan" meta l4proto udp update @allow {{ {outkey} timeout 60s }}
  }}
}}
"""


def build(lab):
    """Creates every namespace, link, address, route and NAT ruleset."""
    pub = lab.add_ns("pub")
    run("ip", "link", "add", "br0", "type", "bridge", ns=pub)
    run("ip", "link", "set", "br0", "up", ns=pub)
    for ip in (PUB, PUB2):
        run("ip", "addr", "add", f"{ip}/24", "dev", "br0", ns=pub)
    lab.default_route_to_nowhere(pub)
    for s, side in enumerate("ab"):
        for k, kind in enumerate(KINDS):
            name = f"{side}-{SHORT[kind]}"
            public_ip = f"198.51.100.{10 * (s + 1) + k}"
            port = f"v{side}{k}"  # the bridge port in pub
            host = lab.add_ns(name + "-h")
            if kind == "open":
                run("ip", "link", "add", "eth0", "netns", host, "type", "veth", "peer", "name",
                    port, "netns", pub)
                host_ip = public_ip
                run("ip", "addr", "add", f"{public_ip}/24", "dev", "eth0", ns=host)
            else:
                router = lab.add_ns(name + "-r")
                run("ip", "link", "add", "wan", "netns", router, "type", "veth", "peer", "name",
                    port, "netns", pub)
                run("ip", "link", "add", "lan", "netns", router, "type", "veth", "peer", "name",
                    "eth0", "netns", host)
                host_ip = f"10.{s + 1}.{k}.2"
                for dev, addr in (("wan", f"{public_ip}/24"), ("lan", f"10.{s + 1}.{k}.1/24")):
                    run("ip", "addr", "add", addr, "dev", dev, ns=router)
                    run("ip", "link", "set", dev, "up", ns=router)
                run("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=router)
                run("nft", "-f", "-", ns=router, stdin=nat_ruleset(kind, public_ip, host_ip))
                run("ip", "addr", "add", f"{host_ip}/24", "dev", "eth0", ns=host)
            run("ip", "link", "set", "eth0", "up", ns=host)
            if kind == "open":
                lab.default_route_to_nowhere(host)
            else:
                run("ip", "route", "add", "default", "via", f"10.{s + 1}.{k}.1", ns=host)
                lab.default_route_to_nowhere(router)
            run("ip", "link", "set", port, "master", "br0", "up", ns=pub)
            lab.hosts[(side, kind)] = (host, host_ip, public_ip)


def wait_listening(ns, proto, port, proc, what, limit=10):
    """Polls `ss` in `ns` until something listens on `port` (proto "t" or "u")."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        if re.search(rf":{port}\b", run("ss", f"-H{proto}ln", ns=ns)):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} is not listening on {port} after {limit} s")


def start_servers(lab, floe):
    pub = lab.ns("pub")
    coturn = lab.spawn(pub, [
        "turnserver", "-n", "-L", PUB, "-L", PUB2, "-E", PUB, f"--listening-port={STUN_PORT}",
        "-a", "-u", f"{USER}:{PASS}", "-r", "floe.test", "--fingerprint", "--no-tls",
        "--no-dtls", "--no-cli", "--simple-log", "--log-file=stdout", "--min-port=50000",
        "--max-port=59999", f"--pidfile={lab.tmp}/turnserver.pid", f"--db={lab.tmp}/turndb"],
        "coturn.log")
    signal_server = lab.spawn(pub, [floe, "signal", "--listen", f"{PUB}:{SIG_PORT}"],
                              "signal.log")
    wait_listening(pub, "u", STUN_PORT, coturn, "turnserver")
    wait_listening(pub, "u", STUN_PORT + 1, coturn, "turnserver (RFC 5780 alternate port)")
    wait_listening(pub, "t", SIG_PORT, signal_server, "floe signal")


def check_nats(lab):
    """turnutils_natdiscovery -m -f from every host (in parallel); returns the mismatches."""
    def one(item):
        (side, kind), (host, host_ip, public_ip) = item
        out = run("turnutils_natdiscovery", "-m", "-f", PUB, ns=host, check=False, timeout=60)
        mapping = re.search(r"NAT with (.*?) Mapping!", out)
        filtering = re.search(r"NAT with (.*?) Filtering!", out)
        got = (mapping.group(1) if mapping else "?", filtering.group(1) if filtering else "?")
        reflexive = re.findall(r"UDP reflexive addr: ([\d.]+):(\d+)", out)
        local = re.findall(r"Local addr: : [\d.]+:(\d+)", out)
        problems = []
        if got != EXPECTED[kind]:
            problems.append(f"expected {EXPECTED[kind]}")
        if not reflexive or any(ip != public_ip for ip, _ in reflexive):
            problems.append(f"reflexive addresses {sorted(set(ip for ip, _ in reflexive))}")
        kept = [port for _, port in reflexive] == local
        if kind != "symmetric" and not kept:
            problems.append("ports not preserved")
        line = (f"  {side} {kind:15} {host_ip:>13} -> {public_ip:<13} mapping: {got[0]:26} "
                f"filtering: {got[1]:26} ports {'kept' if kept else 'changed'}  "
                + ("; ".join(problems) or "ok"))
        return line, (f"{side} {kind}: {'; '.join(problems)}\n{out}" if problems else None)

    log("NAT boxes (turnutils_natdiscovery -m -f against coturn, RFC 5780):")
    with ThreadPoolExecutor(len(lab.hosts)) as pool:
        results = list(pool.map(one, sorted(lab.hosts.items())))
    for line, _ in results:
        log(line)
    return [bad for _, bad in results if bad]


# --- one call ---------------------------------------------------------------------------------

class Child:
    """A peer process in a namespace; a thread collects its output lines (stderr included)."""

    def __init__(self, lab, ns, args):
        self.lab = lab
        self.p = subprocess.Popen(["ip", "netns", "exec", ns] + [str(a) for a in args],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
        lab.procs.append(self.p)
        self.out = []
        self.first_line = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.out.append(line.rstrip("\n"))
            self.first_line.set()

    def finish(self, limit):
        """Waits up to `limit` s for the exit, then ends it; returns the exit status."""
        try:
            self.p.wait(limit)
        except subprocess.TimeoutExpired:
            stop(self.p)
        self.reader.join(2)
        self.lab.procs.remove(self.p)
        return self.p.returncode


class Cell:
    """The outcome of one call: connected or not, connect time, selected pair types."""

    def __init__(self, ok, ms=None, local="?", remote="?", note=""):
        self.ok, self.ms, self.local, self.remote, self.note = ok, ms, local, remote, note
        self.runs = [self]  # with --runs N: every run's Cell, this one being their median

    @property
    def relayed(self):
        return self.ok and "relay" in (self.local, self.remote)

    def __str__(self):
        if not self.ok:
            return "FAIL"
        return f"{'?' if self.ms is None else f'{self.ms:.0f}'}ms {self.local}/{self.remote}"


def call_timeout(a, b, mode):
    return 5 if mode == "stun" and (a, b) in NO_DIRECT else 10


def floe_args(mode):
    args = ["--stun", f"stun:{PUB}:{STUN_PORT}"]
    if mode == "stun+turn":
        args += ["--turn", f"turn:{PUB}:{STUN_PORT}", "--user", USER, "--pass", PASS]
    return args


def aioice_args(mode):
    args = ["--host-addresses", "auto", "--stun", f"{PUB}:{STUN_PORT}"]
    if mode == "stun+turn":
        args += ["--turn", f"{PUB}:{STUN_PORT}", "--turn-user", USER, "--turn-password", PASS,
                 "--turn-policy", "all"]
    return args


def run_call(lab, opts, stack, a, b, mode, n):
    """One call from A's `a` host to B's `b` host; returns (Cell, caller's and callee's output)."""
    room = f"{lab.rid}-{stack}-{mode}-{SHORT[a]}-{SHORT[b]}-{n}"
    url = f"ws://{PUB}:{SIG_PORT}/{room}"
    limit = call_timeout(a, b, mode)
    if stack == "floe":
        callee = [opts.floe, "answer", url, "--echo", "--json", "--timeout", limit + 2]
        caller = [opts.floe, "call", url, "--send", "hi", "--json", "--timeout", limit]
    else:
        callee = [opts.python, "-u", PEER_PY, "answer", url, limit + 2, "--hello", "B's hello"]
        caller = [opts.python, "-u", PEER_PY, "offer", url, limit, "--hello", "A's hello"]
    extra = floe_args(mode) if stack == "floe" else aioice_args(mode)
    callee = Child(lab, lab.hosts[("b", b)][0], callee + extra)
    callee.first_line.wait(5)  # in the room: the offer is not left for the 1 s resend
    caller = Child(lab, lab.hosts[("a", a)][0], caller + extra)
    status = caller.finish(limit + 5)
    callee.finish(2)
    parse = parse_floe if stack == "floe" else parse_aioice
    cell = parse(caller.out)
    if cell.ok and status != 0:
        cell.note = f"exit {status}"  # connected, but the echo did not come back in time
    return cell, ["\n".join(c.out) for c in (caller, callee)]


def candidate_type(text):
    m = re.search(r"\btyp (\w+)", text or "")
    return m.group(1) if m else "?"


def parse_floe(lines):
    """Caller's time from connectionstatechange `connecting` to `connected` (its t_ms), and its
    selected pair (the `result` line's, else the last selectedcandidatepairchange)."""
    start = end = None
    local = remote = "?"
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        name, state = ev.get("event"), ev.get("state")
        if name == "connectionstatechange" and state == "connecting" and start is None:
            start = ev["t_ms"]
        elif name == "connectionstatechange" and state == "connected" and end is None:
            end = ev["t_ms"]
        elif name == "selectedcandidatepairchange":
            local, remote = candidate_type(ev.get("local")), candidate_type(ev.get("remote"))
        elif name == "result" and ev.get("selected_pair"):
            m = re.match(r"(\w+) \S+ -> (\w+) ", ev["selected_pair"])
            if m:
                local, remote = m.groups()
    if end is None:
        return Cell(False)
    return Cell(True, end - (start if start is not None else end), local, remote)


def parse_aioice(lines):
    """The peer's own `selected LOCAL/REMOTE ADDR -> ADDR N ms` line (checks start to connect)."""
    for line in lines:
        m = re.match(r"selected (\w+)/(\w+) .* ([\d.]+) ms$", line)
        if m:
            return Cell(True, float(m.group(3)), m.group(1), m.group(2))
    return Cell("connected" in lines)


def median_cell(cells):
    """The cell of the median connect time over N runs; notes the spread of the times and how
    many runs failed or went through a relay."""
    good = sorted((c for c in cells if c.ok), key=lambda c: c.ms or 0)
    if not good:
        cells[0].runs = cells
        return cells[0]
    pick = good[(len(good) - 1) // 2]
    cell = Cell(True, statistics.median(c.ms or 0 for c in good), pick.local, pick.remote)
    relayed = sum(c.relayed for c in good)
    lo, hi = min(c.ms or 0 for c in good), max(c.ms or 0 for c in good)
    notes = [f"{lo:.0f}-{hi:.0f}" if hi - lo > 20 else "",
             f"{len(cells) - len(good)}/{len(cells)} FAIL" if len(good) < len(cells) else "",
             f"{relayed}/{len(cells)} relay" if 0 < relayed < len(good) else ""]
    cell.note = ", ".join(filter(None, notes))
    cell.runs = cells
    return cell


# --- the matrix, report, assertions ----------------------------------------------------------

def run_matrix(lab, opts, pairs, stacks):
    results = {}
    for stack in stacks:
        for mode in MODES:
            t0 = time.monotonic()
            for a, b in pairs:
                runs = []
                for n in range(opts.runs):
                    cell, texts = run_call(lab, opts, stack, a, b, mode, n)
                    runs.append(cell)
                    if opts.logs:
                        name = f"{stack}-{mode}-{SHORT[a]}-{SHORT[b]}-{n}"
                        for who, text in zip(("caller", "callee"), texts):
                            with open(os.path.join(opts.logs, f"{name}.{who}.log"), "w") as f:
                                f.write(text + "\n")
                results[(stack, mode, a, b)] = median_cell(runs)
            log(f"{stack} {mode}: {len(pairs)} pairs x {opts.runs} in "
                f"{time.monotonic() - t0:.1f} s")
    return results


def report(results, pairs, stacks):
    cols = [(mode, stack) for mode in MODES for stack in stacks]
    text = {k: str(c) + (f" ({c.note})" if c.note else "") for k, c in results.items()}
    width = max(len(t) for t in text.values()) + 2
    print(f"{'A (caller) -> B (answerer)':36}" + "".join(f"{m + ' ' + s:{width}}" for m, s in cols))
    for a, b in pairs:
        row = f"{a + ' -> ' + b:36}"
        for mode, stack in cols:
            row += f"{text.get((stack, mode, a, b), '-'):{width}}"
        print(row)
    print()
    for stack in stacks:
        for mode in MODES:
            cells = [results[(stack, mode, a, b)] for a, b in pairs if (a, b) not in NO_DIRECT]
            times = [c.ms for c in cells if c.ok and c.ms is not None]
            med = f"{statistics.median(times):.0f}" if times else "-"
            mx = f"{max(times):.0f}" if times else "-"
            print(f"{stack:6} {mode:9}: direct-capable pairs {len(cells)}: connected "
                  f"{len(times)}, median {med} ms, max {mx} ms, through a relay "
                  f"{sum(any(r.relayed for r in c.runs) for c in cells)}, over 200 ms "
                  f"{sum(t > 200 for t in times)}")


def check(results, pairs):
    """The floe assertions; returns the failures (one line each)."""
    failures = []
    for a, b in pairs:
        for mode in MODES:
            cell = results.get(("floe", mode, a, b))
            if cell is None:
                continue
            runs = cell.runs
            where = f"floe {mode} {a} -> {b}"
            if (a, b) not in NO_DIRECT:
                if not all(c.ok for c in runs):
                    failures.append(f"{where}: did not connect (direct-capable)")
                elif any(c.relayed for c in runs):
                    failures.append(f"{where}: connected through a relay ({cell}), direct "
                                    "was possible")
            elif mode == "stun" and any(c.ok for c in runs):
                failures.append(f"{where}: connected ({cell}) where no direct path exists")
            elif mode == "stun+turn" and not all(c.relayed for c in runs):
                failures.append(f"{where}: expected a relayed connection, got {cell}")
    return failures


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--floe", default=os.path.join(HERE, "..", "..", "target", "release", "floe"),
                   help="the floe binary (default target/release/floe)")
    p.add_argument("--python", default=os.path.join(HERE, "..", "..", "target", "aioice-venv",
                                                    "bin", "python"),
                   help="a Python with aioice 0.13.0 (default target/aioice-venv/bin/python)")
    p.add_argument("--only", choices=STACKS, help="run one stack only")
    p.add_argument("--pairs", help="comma-separated A:B NAT type pairs (default all 25), "
                   "e.g. open:symmetric,pr:sym; types: " + ", ".join(f"{k} ({SHORT[k]})"
                                                                  for k in KINDS))
    p.add_argument("--runs", type=int, default=1, help="calls per cell; the median is shown")
    p.add_argument("--no-assert", action="store_true", help="report only, exit 0")
    p.add_argument("--keep-going", action="store_true",
                   help="make the calls even when a NAT box fails its RFC 5780 check")
    p.add_argument("--logs", help="directory for every call's output and the servers' logs")
    p.add_argument("--pcap", help="capture the public segment (br0) to this file with tshark")
    opts = p.parse_args()
    opts.floe, opts.python = os.path.abspath(opts.floe), os.path.abspath(opts.python)
    if opts.pcap:
        opts.pcap = os.path.abspath(opts.pcap)
    names = {**{k: k for k in KINDS}, **{v: k for k, v in SHORT.items()}}
    pairs = [(a, b) for a in KINDS for b in KINDS]
    if opts.pairs:
        pairs = [tuple(names.get(t) for t in x.split(":")) for x in opts.pairs.split(",")]
        if any(len(pair) != 2 or None in pair for pair in pairs):
            p.error(f"--pairs: A:B, each one of {', '.join(names)}")
    if os.geteuid() != 0 or not os.access(opts.floe, os.X_OK):
        p.error(f"run as root, with an executable floe (not {opts.floe})")
    return opts, pairs


def main():
    opts, pairs = parse_args()
    stacks = [opts.only] if opts.only else STACKS
    if opts.logs:
        os.makedirs(opts.logs, exist_ok=True)
    lab = Lab(opts.logs)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(lab.close)
    started = time.monotonic()
    capture = None
    try:
        remove_stale_runs()
        build(lab)
        start_servers(lab, opts.floe)
        if opts.pcap:
            capture = lab.spawn(lab.ns("pub"), ["tshark", "-q", "-i", "br0", "-w", opts.pcap],
                                "tshark.log")
            time.sleep(1)
        bad = check_nats(lab)
        if bad:
            log("NAT boxes that do not behave as their type:\n" + "\n".join(bad))
            if not opts.keep_going:
                return 2
        results = run_matrix(lab, opts, pairs, stacks)
    finally:
        if capture and capture.poll() is None:
            capture.send_signal(signal.SIGINT)  # SIGTERM would lose the buffered packets
            capture.wait(5)
        lab.close()
    print()
    report(results, pairs, stacks)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    failures = check(results, pairs) if "floe" in stacks else []
    if failures:
        print(f"\nFLOE ASSERTIONS FAILED ({len(failures)}):\n  " + "\n  ".join(failures))
        return 0 if opts.no_assert else 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; everything this run created is removed")
        sys.exit(130)
