"""The embedded DNS server of user-defined networks (one process per store).

Containers on a user-defined network have the network's gateway as their name server.
This server listens there (UDP and TCP port 53 on every such gateway) and answers A
queries for the names of the network's running containers (name, aliases, hostname,
short ID) from a records file that cove rewrites whenever an endpoint comes or goes; it
forwards every other question to the host's resolvers (not for internal networks).

It is standard library only and imports of cove only the container state's one reader
(containers/state.py, which asks whether a name's container runs, as ``ps`` does), so it
starts fast and stays small. Liveness is a flock on ``dns.lock``; it leaves when no network
needs it.

Records file (JSON): ``{"networks": {GATEWAY: {"internal": bool, "names": {NAME: [[IP,
CONTAINER_ID], ...]}}}, "upstreams": [IP, ...], "clients": {IP: [UPSTREAM, ...]},
"state_dir": PATH}``; ``clients`` are containers started with their own ``--dns``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as `python -I -S .../cove/network/dns.py`: the package is above
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cove.containers.state import read_state

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
TTL = 600
RELOAD_EVERY = 0.1  # seconds between looks at the records file (one stat)
IDLE_EXIT = 60.0  # seconds with nothing to serve
RECHECK_ADDRESSES = 2.0  # seconds between looks at the host's addresses


# -- messages ---------------------------------------------------------------------------------


def parse_question(message: bytes) -> tuple[int, int, str, int, int] | None:
    """(id, flags, name, qtype, end of question) of a one-question query, or None."""
    if len(message) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", message[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels, pos = [], 12
    while True:
        if pos >= len(message):
            return None
        length = message[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0 or pos + 1 + length > len(message):
            return None
        labels.append(message[pos + 1 : pos + 1 + length].decode("ascii", "replace"))
        pos += 1 + length
    if pos + 4 > len(message):
        return None
    qtype, _qclass = struct.unpack("!HH", message[pos : pos + 4])
    return ident, flags, ".".join(labels).lower(), qtype, pos + 4


def answer(query: bytes, question_end: int, flags: int, addresses: list[str], rcode: int = 0) -> bytes:
    """A response to ``query`` with A records for ``addresses`` (authoritative)."""
    ident = struct.unpack("!H", query[:2])[0]
    out_flags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode  # QR, AA, RD copied, RA
    header = struct.pack("!HHHHHH", ident, out_flags, 1, len(addresses), 0, 0)
    records = b"".join(
        struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4) + socket.inet_aton(a) for a in addresses
    )
    return header + query[12:question_end] + records


def _local_addresses() -> set[str]:
    """This host's IPv4 addresses (the kernel's local routes)."""
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        return set()
    found, last = set(), ""
    for line in lines:
        text = line.strip()
        if text.startswith("|-- "):
            last = text[4:]
        elif text == "/32 host LOCAL" and last:
            found.add(last)
    return found


# -- the server ------------------------------------------------------------------------------


class Server:
    def __init__(self, records_path: Path) -> None:
        self.records_path = records_path
        self.mtime = 0.0
        self.networks: dict[str, dict[str, Any]] = {}
        self.upstreams: list[str] = []
        self.clients: dict[str, list[str]] = {}
        self.state_dir = Path("/")
        self.sockets: dict[str, list[socket.socket]] = {}
        self.selector = selectors.DefaultSelector()
        self.turn = 0
        self.checked = time.monotonic()
        self.idle_since = time.monotonic()

    def reload(self) -> None:
        try:
            mtime = self.records_path.stat().st_mtime
        except FileNotFoundError:
            mtime = -1.0
        if time.monotonic() - self.checked > RECHECK_ADDRESSES:
            self.checked = time.monotonic()
            self.mtime = 0.0 if mtime != -1.0 else self.mtime  # look at the host's addresses again
        if mtime == self.mtime:
            return
        self.mtime = mtime
        try:
            data = json.loads(self.records_path.read_text()) if mtime >= 0 else {}
        except (OSError, ValueError):
            return  # being replaced: next time
        # Only gateways that are this host's addresses: a store removed without its
        # networks (or a bridge deleted by hand) must not keep the address's port 53.
        local = _local_addresses()
        self.networks = {g: n for g, n in data.get("networks", {}).items() if g in local}
        self.upstreams = data.get("upstreams", [])
        self.clients = data.get("clients", {})
        self.state_dir = Path(data.get("state_dir", "/"))
        self._bind(set(self.networks))

    def _bind(self, gateways: set[str]) -> None:
        for gone in set(self.sockets) - gateways:
            for sock in self.sockets.pop(gone):
                self.selector.unregister(sock)
                sock.close()
        for gateway in gateways - set(self.sockets):
            try:
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                udp.bind((gateway, 53))
                tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((gateway, 53))
                tcp.listen(16)
            except OSError as exc:  # the bridge is not up yet: try at the next reload
                print(f"cannot listen on {gateway}:53: {exc}", file=sys.stderr, flush=True)
                self.mtime = 0.0
                continue
            udp.setblocking(False)
            tcp.setblocking(False)
            self.selector.register(udp, selectors.EVENT_READ, ("udp", gateway))
            self.selector.register(tcp, selectors.EVENT_READ, ("tcp", gateway))
            self.sockets[gateway] = [udp, tcp]

    def running(self, container_id: str) -> bool:
        if not container_id or "/" in container_id or container_id.startswith("."):
            return False
        return read_state(self.state_dir / container_id).running

    def resolve(self, gateway: str, query: bytes, client: str = "") -> bytes | None:
        self.reload()
        parsed = parse_question(query)
        if parsed is None:
            return None
        _ident, flags, name, qtype, end = parsed
        network = self.networks.get(gateway, {})
        entries = network.get("names", {}).get(name.rstrip("."))
        if entries:
            addresses = [ip for ip, cid in entries if self.running(cid)]
            if addresses:
                if qtype not in (TYPE_A, 255):
                    return answer(query, end, flags, [])  # the name is ours, with no such record
                self.turn += 1  # round robin between the containers of one alias
                shift = self.turn % len(addresses)
                return answer(query, end, flags, addresses[shift:] + addresses[:shift])
        upstreams = self.clients.get(client) or self.upstreams
        if network.get("internal") or not upstreams:
            return answer(query, end, flags, [], rcode=3)  # NXDOMAIN: no way out
        return self.forward(query, upstreams) or answer(query, end, flags, [], rcode=2)

    def forward(self, query: bytes, upstreams: list[str]) -> bytes | None:
        for upstream in upstreams:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(2.0)
                try:
                    sock.sendto(query, (upstream, 53))
                    data, _ = sock.recvfrom(4096)
                except OSError:
                    continue
                if data[:2] == query[:2]:
                    return data
        return None

    def serve_udp(self, sock: socket.socket, gateway: str) -> None:
        try:
            query, peer = sock.recvfrom(4096)
        except OSError:
            return

        def reply() -> None:
            response = self.resolve(gateway, query, peer[0])
            if response is not None:
                with contextlib.suppress(OSError):
                    sock.sendto(response, peer)

        threading.Thread(target=reply, daemon=True).start()  # forwarding may take a while

    def serve_tcp(self, listener: socket.socket, gateway: str) -> None:
        try:
            conn, peer = listener.accept()
        except OSError:
            return

        def handle() -> None:
            with conn:
                conn.settimeout(5.0)
                try:
                    head = conn.recv(2)
                    (length,) = struct.unpack("!H", head)
                    query = b""
                    while len(query) < length:
                        chunk = conn.recv(length - len(query))
                        if not chunk:
                            return
                        query += chunk
                    response = self.resolve(gateway, query, peer[0])
                    if response is not None:
                        conn.sendall(struct.pack("!H", len(response)) + response)
                except (OSError, struct.error):
                    return

        threading.Thread(target=handle, daemon=True).start()

    def run(self) -> None:
        while True:
            self.reload()
            if self.sockets:
                self.idle_since = time.monotonic()
            elif time.monotonic() - self.idle_since > IDLE_EXIT:
                return
            for key, _ in self.selector.select(timeout=RELOAD_EVERY):
                kind, gateway = key.data
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if kind == "udp":
                    self.serve_udp(sock, gateway)
                else:
                    self.serve_tcp(sock, gateway)


def main() -> None:
    records, lock_path = Path(sys.argv[1]), sys.argv[2]
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another one serves this store
    os.ftruncate(fd, 0)
    os.write(fd, b"%d\n" % os.getpid())  # who to stop when the store is thrown away
    Server(records).run()


if __name__ == "__main__":
    main()
