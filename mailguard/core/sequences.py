"""Sales-engagement tools: a table of how each one shows in a message, and the sequence shape.

A rep's sequence is sent from their own mailbox (so it looks personal) by a tool that adds open
tracking and rewrites links. A message is a **sales sequence step** when a tool's mark is on it and it
is not part of a conversation the user took part in (see :func:`mailguard.core.rules.decide`); a
**follow-up bump** (a reply to the sender's own earlier message, in a thread the user never wrote in)
from a linked contact counts too, with or without a tool.

The table is data: ``[[sales_tools]]`` in config.toml adds a tool (``name``, ``headers``: header
names whose presence marks it, ``domains``: tracking or link hosts, matched as the registrable domain
or a sub-domain of it, ``sequencer``: false for a tool reps also use to track one-to-one mail).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .parse import ParsedMessage


@dataclass(frozen=True, slots=True)
class SalesTool:
    """A sales-engagement tool. ``sequencer``: a tool made for automated sequences (Outreach,
    Apollo...), whose mark alone makes a step; otherwise (HubSpot, Mixmax, Yesware: reps track their
    one-to-one mail with them too) the message must also read as promotion or be a bump."""

    name: str
    headers: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    sequencer: bool = True


#: tools and their marks: tracking-pixel and link-redirect hosts the tools document for their
#: customers' DNS set-up, and the headers they add
BUILTIN_TOOLS: tuple[SalesTool, ...] = (
    SalesTool("HubSpot", ("x-hubspot-mhid", "x-hs-cid", "x-hubspot-sales"),
              ("hubspotlinks.com", "hubspotemail.net", "hs-sites.com", "hs-sales-engage.com", "sidekickopen01.com",
               "sidekickopen02.com", "sidekickopen03.com", "sidekickopen04.com", "sidekickopen05.com",
               "sidekickopen06.com", "sidekickopen07.com", "sidekickopen08.com", "sidekickopen09.com",
               "sidekickopen10.com", "t.sidekickopen70.com", "track.hubspot.com", "hubspotstarter.net"),
              sequencer=False),
    SalesTool("Outreach", ("x-outreach-message-id", "x-outreach-prospect-id", "x-outreach"),
              ("outreach.io", "mkt.outreach.io", "trk.outreach.io")),
    SalesTool("Apollo", ("x-apollo-id", "x-apollo-message-id"),
              ("apollo.io", "apollomail.io", "aplotrk.com")),
    SalesTool("Salesloft", ("x-salesloft-id", "x-salesloft-message-id"),
              ("salesloft.com", "salesloftlinks.com", "sdr.salesloft.com")),
    SalesTool("Mixmax", ("x-mixmax-id", "x-mixmax-message-id"), ("mixmax.com", "mxmx.io"), sequencer=False),
    SalesTool("Yesware", ("x-yesware-id",), ("yesware.com", "yesware.io"), sequencer=False),
    SalesTool("lemlist", ("x-lemlist-campaign-id", "x-lemlist-id"), ("lemlist.com", "lemlistmail.com")),
    SalesTool("Reply.io", ("x-reply-io-id", "x-replyio-id"), ("reply.io", "replyio.com")),
    SalesTool("Woodpecker", ("x-woodpecker-id",), ("woodpecker.co",)),
    SalesTool("Instantly", ("x-instantly-id",), ("instantly.ai",)),
    SalesTool("Groove", ("x-groove-id",), ("grooveapp.com", "groove.co")),
    SalesTool("Mailshake", ("x-mailshake-id",), ("mailshake.com",)),
)


def load_tools(raw: Mapping[str, Any] | None) -> tuple[SalesTool, ...]:
    """The built-in table plus ``[[sales_tools]]`` from config."""
    extra = (raw or {}).get("sales_tools", [])
    if not isinstance(extra, list):
        raise ConfigError("[[sales_tools]] must be an array of tables")
    out = list(BUILTIN_TOOLS)
    for i, t in enumerate(extra):
        where = f"[[sales_tools]] #{i + 1}"
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"].strip():
            raise ConfigError(f"{where}: needs a name")
        hdrs, doms = t.get("headers", []), t.get("domains", [])
        if not isinstance(hdrs, list) or not all(isinstance(h, str) for h in hdrs):
            raise ConfigError(f"{where}: headers must be a list of header names")
        if not isinstance(doms, list) or not all(isinstance(d, str) for d in doms):
            raise ConfigError(f"{where}: domains must be a list of domains")
        if not hdrs and not doms:
            raise ConfigError(f"{where}: give headers or domains")
        seq = t.get("sequencer", True)
        if not isinstance(seq, bool):
            raise ConfigError(f"{where}: sequencer must be true or false")
        out.append(SalesTool(t["name"].strip(), tuple(h.lower().strip() for h in hdrs),
                             tuple(d.lower().strip(". ") for d in doms), seq))
    return tuple(out)


#: a link's host after "://": letters, digits, "." and "-" (``\\w`` is str.isalnum() plus "_", cut at
#: the first "_" below), at most 253 characters; the scan is linear
_HOST = re.compile(r"://([\w.-]{0,253})")
#: at most this many "://" are looked at
MAX_LINKS = 400


def link_hosts(msg: ParsedMessage) -> Iterable[str]:
    """Hosts of the links and images of a message (bounded; linear), in the order they come: of
    the first MAX_LINKS "://" in the first 60,000 characters of the HTML and 20,000 of the text."""
    html, text = msg.html[:60000], msg.text[:20000]
    if "://" not in html and "://" not in text:  # lower() never makes one, nor the " " between
        return ()
    body = html + " " + text
    if body.isascii():  # lower() maps letters to letters one for one: the same matches, lowered
        found = [h.lower() for h in _HOST.findall(body)[:MAX_LINKS]]
    else:
        found = _HOST.findall(body.lower())[:MAX_LINKS]
    return [host.strip(".") for host in (h.partition("_")[0] for h in found) if host]


def _matches(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def tool_of(msg: ParsedMessage, tools: Sequence[SalesTool] = BUILTIN_TOOLS) -> tuple[SalesTool, str] | None:
    """(the sales-engagement tool, the mark that showed it), or None. The first tool (in table
    order) with a header on the message; else the first tool and domain with a link host that is
    that domain or under it."""
    if not _header_names(tools).isdisjoint(msg.headers):
        for t in tools:
            for h in t.headers:
                if h in msg.headers:
                    return t, f"header {h}"
    hosts = list(dict.fromkeys(link_hosts(msg)))  # in the order they appear: the same reason every run
    if not hosts:
        return None
    index = _domain_index(tools)
    best: tuple[int, int] | None = None
    for host in hosts:
        place = _place_of(host, index)
        if place is not None and (best is None or place < best):
            best = place
    if best is None:
        return None
    t = tools[best[0]]
    domain = t.domains[best[1]]
    host = next(h for h in hosts if _matches(h, domain))
    return t, f"tracking/link host {host}"


#: the tools' index a memo is for, and host -> its first (tool, domain) place in that index
_PLACES: tuple[dict[str, list[tuple[int, int]]] | None, dict[str, tuple[int, int] | None]] = (None, {})


def _place_of(host: str, index: dict[str, list[tuple[int, int]]]) -> tuple[int, int] | None:
    """The first (tool index, domain index) whose domain is the host or what follows a "." in it;
    remembered per host (the same hosts come in message after message)."""
    global _PLACES
    of, memo = _PLACES
    if of is not index:
        _PLACES = (index, memo := {})
    elif host in memo:
        return memo[host]
    best: tuple[int, int] | None = None
    for suffix in _suffixes(host):
        for place in index.get(suffix, ()):
            if best is None or place < best:
                best = place
    if len(memo) >= 50_000:
        memo.clear()
    memo[host] = best
    return best


def _suffixes(host: str) -> Iterator[str]:
    yield host
    i = host.find(".")
    while i >= 0:
        yield host[i + 1:]
        i = host.find(".", i + 1)


#: id(tools) -> (tools, the header names of every tool)
_HEADER_NAMES: dict[int, tuple[Sequence[SalesTool], frozenset[str]]] = {}


def _header_names(tools: Sequence[SalesTool]) -> frozenset[str]:
    """The header names that mark any of the tools (kept for a tuple of tools, like the domain
    index)."""
    got = _HEADER_NAMES.get(id(tools))
    if got is not None and got[0] is tools:
        return got[1]
    names = frozenset(h for t in tools for h in t.headers)
    if isinstance(tools, tuple):
        if len(_HEADER_NAMES) >= 64:
            _HEADER_NAMES.clear()
        _HEADER_NAMES[id(tools)] = (tools, names)
    return names


#: id(tools) -> (tools, domain -> [(tool index, domain index)])
_INDEXES: dict[int, tuple[Sequence[SalesTool], dict[str, list[tuple[int, int]]]]] = {}


def _domain_index(tools: Sequence[SalesTool]) -> dict[str, list[tuple[int, int]]]:
    got = _INDEXES.get(id(tools))
    if got is not None and got[0] is tools:
        return got[1]
    index: dict[str, list[tuple[int, int]]] = {}
    for i, t in enumerate(tools):
        for j, d in enumerate(t.domains):
            index.setdefault(d, []).append((i, j))
    if not isinstance(tools, tuple):  # a list may change: not kept
        return index
    if len(_INDEXES) >= 64:
        _INDEXES.clear()
    _INDEXES[id(tools)] = (tools, index)
    return index
