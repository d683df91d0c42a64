"""A TCP proxy on 127.0.0.1 between mailguard and a test Dovecot that cuts the connection at an
exact point of the IMAP conversation (plain-text IMAP only), for the fault tests:

    proxy = FaultProxy(dovecot.host, dovecot.port).start()
    proxy.arm(b"UID FETCH", cut="mid-response", after_bytes=300)  # the next FETCH dies half-way
    proxy.arm(b"UID MOVE", cut="after-command")  # the server moves, the client never hears of it
    proxy.arm(b"UID MOVE", cut="before-command")  # the command never reaches the server

A cut closes both sockets of that one connection; new connections are proxied as usual. Each
armed rule fires once; ``fired`` counts the cuts made. With ``chance=p`` a rule stays armed and
cuts each matching command with probability p (random faults, for the soak); ``disarm()``
removes every rule.

``rewrite(pattern, replacement)`` edits what the server says before the client sees it (a regular
expression over each chunk read from the server), to play a server that answers malformed data:

    proxy.rewrite(rb"RFC822[.]SIZE [0-9]+", b"RFC822.SIZE NIL")
"""

from __future__ import annotations

import random
import re
import socket
import threading
from dataclasses import dataclass
from typing import Literal

Cut = Literal["before-command", "after-command", "mid-response"]


@dataclass
class _Rule:
    trigger: bytes
    cut: Cut
    after_bytes: int
    chance: float | None = None  # None: once; else every match, with this probability
    max_bytes: int = 0  # with chance: mid-response cuts after 1..max_bytes bytes


class _Link:
    """One proxied connection: client <-> server, two pump threads."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.lock = threading.Lock()
        self.closed = False
        #: set when a rule fired on this link: what to do with the server's next bytes
        self.pending: _Rule | None = None
        self.forwarded = 0

    def start(self) -> None:
        threading.Thread(target=self._client_to_server, daemon=True).start()
        threading.Thread(target=self._server_to_client, daemon=True).start()

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _client_to_server(self) -> None:
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                rule = self.proxy._take(data)
                if rule is not None and rule.cut == "before-command":
                    self.proxy._fired(rule)
                    break
                if rule is not None:
                    with self.lock:
                        self.pending, self.forwarded = rule, 0
                self.server.sendall(data)
        except OSError:
            pass
        self.close()

    def _server_to_client(self) -> None:
        try:
            while True:
                data = self.server.recv(65536)
                if not data:
                    break
                data = self.proxy._rewritten(data)
                with self.lock:
                    rule = self.pending
                if rule is None:
                    self.client.sendall(data)
                    continue
                if rule.cut == "after-command":
                    # the server has answered (it did the command): swallow it and hang up
                    self.proxy._fired(rule)
                    break
                room = rule.after_bytes - self.forwarded
                if len(data) >= room:
                    if room > 0:
                        self.client.sendall(data[:room])
                    self.proxy._fired(rule)
                    break
                self.client.sendall(data)
                self.forwarded += len(data)
        except OSError:
            pass
        self.close()


class FaultProxy:
    host = "127.0.0.1"

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._rules: list[_Rule] = []
        self._rng = random.Random(0)
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._stopped = False
        self.fired = 0
        #: "UID MOVE after-command" -> cuts made
        self.fired_by: dict[str, int] = {}
        self.cut_event = threading.Event()
        self.connections = 0
        self._rewrites: list[tuple[re.Pattern[bytes], bytes]] = []
        #: how many replacements rewrite() rules made
        self.rewritten = 0

    def start(self) -> FaultProxy:
        self._listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def arm(self, trigger: bytes, *, cut: Cut, after_bytes: int = 0, chance: float | None = None,
            rng: random.Random | None = None) -> None:
        """Cut the next connection whose client sends a command containing trigger; with chance,
        cut every such command with that probability (mid-response: after a random number of
        bytes up to after_bytes), drawn from rng, until disarm()."""
        with self._lock:
            if chance is not None:
                self._rng = rng or self._rng
            self._rules.append(_Rule(trigger.upper(), cut, after_bytes, chance, after_bytes))
            self.cut_event.clear()

    def rewrite(self, pattern: bytes, replacement: bytes) -> None:
        """From now on, replace pattern (a regular expression) by replacement in every chunk the
        server sends (re.sub syntax: \\1 refers to a group)."""
        with self._lock:
            self._rewrites.append((re.compile(pattern), replacement))

    def clear_rewrites(self) -> None:
        """The server's answers pass unchanged again."""
        with self._lock:
            self._rewrites.clear()

    def _rewritten(self, data: bytes) -> bytes:
        with self._lock:
            rules = list(self._rewrites)
        for rx, replacement in rules:
            data, n = rx.subn(replacement, data)
            if n:
                with self._lock:
                    self.rewritten += n
        return data

    def disarm(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def armed(self) -> int:
        """One-shot rules not fired yet."""
        with self._lock:
            return sum(rule.chance is None for rule in self._rules)

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        for link in list(self._links):
            link.close()

    def _take(self, data: bytes) -> _Rule | None:
        upper = data.upper()
        with self._lock:
            for rule in self._rules:
                if rule.trigger not in upper:
                    continue
                if rule.chance is None:
                    self._rules.remove(rule)
                    return rule
                if self._rng.random() < rule.chance:
                    return _Rule(rule.trigger, rule.cut, self._rng.randint(1, max(rule.max_bytes, 1)))
        return None

    def _fired(self, rule: _Rule) -> None:
        with self._lock:
            self.fired += 1
            key = f"{rule.trigger.decode()} {rule.cut}"
            self.fired_by[key] = self.fired_by.get(key, 0) + 1
        self.cut_event.set()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            self.connections += 1
            link = _Link(self, client, server)
            self._links.append(link)
            link.start()
