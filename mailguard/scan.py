"""Offline scan of a mailbox export: the pipeline over a Source, in date order, in batches."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .config import Config
from .core.contacts import Ledger
from .errors import ConfigError, ModelError
from .core.identity import registrable_domain
from .core.linker import RULE_NAMES
from .core.sequences import load_tools
from .pipeline import Pipeline
from .core.rules import Decision, Policy
from .core.social import Network
from .sources import Item, Source, in_date_order
from .store import DB_NAME, Store, data_dir, read_snapshot

if TYPE_CHECKING:  # scikit-learn: imported when a model is loaded, not for --help
    from .core import classify

log = logging.getLogger(__name__)

BATCH = 256


def make_policy(config: Config, model: classify.PromoModel, *, me: tuple[str, ...] = (),
                window_days: int | None = None, threshold: float | None = None) -> Policy:
    """Policy from config, overridden by command-line values; threshold defaults to the model's."""
    r = config.rules
    promo = threshold if threshold is not None else (
        r.promo_threshold if r.promo_threshold is not None else model.threshold)
    if not 0.0 <= promo <= 1.0:
        raise ModelError(f"threshold {promo} is not between 0 and 1")
    return Policy(
        me=frozenset(a.lower() for a in (*config.me, *me)),
        window_days=window_days or r.window_days,
        promo_threshold=promo,
        strong_threshold=max(r.strong_threshold, promo),
        personal_threshold=r.personal_threshold,
        own_orgs=own_organisations(config.raw),
        disabled_links=disabled_link_rules(config.raw),
        sales_tools=load_tools(config.raw),
    )


def own_organisations(raw: Mapping[str, Any]) -> frozenset[str]:
    """``[mailbox] organisations``: the user's own organisation domains (their registrable
    domains); the domains of the user's non-freemail addresses are added by the pipeline."""
    orgs = (raw.get("mailbox") or {}).get("organisations", [])
    if isinstance(orgs, str):
        orgs = [orgs]
    if not isinstance(orgs, list) or not all(isinstance(o, str) for o in orgs):
        raise ConfigError("[mailbox] organisations must be a list of domains")
    return frozenset(registrable_domain(o) for o in orgs if o.strip())


def disabled_link_rules(raw: Mapping[str, Any]) -> frozenset[str]:
    """``[links] rule-name = false`` switches a link rule off (see ``mailguard rules``)."""
    table = raw.get("links") or {}
    if not isinstance(table, dict):
        raise ConfigError("[links] must be a table of rule = true|false")
    off = set()
    for name, on in table.items():
        if name not in RULE_NAMES:
            near = difflib.get_close_matches(name, sorted(RULE_NAMES), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ConfigError(f"[links] {name}: no such link rule{hint}; see `mailguard rules`")
        if not isinstance(on, bool):
            raise ConfigError(f"[links] {name} must be true or false")
        if not on:
            off.add(name)
    return frozenset(off)


def load_model(config: Config, override: Path | None = None) -> classify.PromoModel:
    from . import models_io

    return models_io.load(override or config.model)


@dataclass
class ScanStats:
    total: int = 0


def scan(source: Source, pipeline: Pipeline, *, batch: int = BATCH,
         progress: Callable[[int], None] | None = None,
         stats: ScanStats | None = None) -> Iterator[Decision]:
    """Decide every message of ``source`` in date order; yields decisions as they are made.

    With ``pipeline.workers`` > 1 the next batches are read and analysed in worker processes
    while this one is decided; the decisions are the same whatever the number of workers."""
    from .parallel import dated_items  # the dates read in the workers when there are several

    items = in_date_order(dated_items(source, pipeline.model, pipeline.workers))
    if stats is not None:
        stats.total = len(items)
    chunks = [items[start:start + batch] for start in range(0, len(items), batch)]
    spans = source.spans(items)
    if spans is not None:  # the messages are read where they are analysed, at most READ_BYTES each
        from .parallel import stream_spans

        span_batches = [spans[start:start + batch] for start in range(0, len(spans), batch)]
        for chunk, (done, errors) in zip(chunks, stream_spans(span_batches, pipeline.model,
                                                              pipeline.workers)):
            for i, why in errors:
                log.warning("cannot read %s: %s", chunk[i].ref, why)
            # the bytes stayed where they were analysed: process() only counts them
            yield from pipeline.process([b""] * len(chunk), [it.ref for it in chunk], analysed=done)
            if progress:
                progress(len(chunk))
        return

    def raws_of(chunk: Sequence[Item]) -> list[bytes]:
        raws = []
        for it in chunk:
            try:
                raws.append(source.read(it))
            except (OSError, KeyError) as exc:
                log.warning("cannot read %s: %s", it.ref, exc)
                raws.append(b"")
        return raws

    read: deque[list[bytes]] = deque()

    def batches() -> Iterator[list[bytes]]:
        for chunk in chunks:
            raws = raws_of(chunk)
            read.append(raws)
            yield raws

    if pipeline.workers > 1:
        from .parallel import stream

        analysed = stream(batches(), pipeline.model, pipeline.workers)
    else:
        analysed = (pipeline.analyse(raws) for raws in batches())
    for chunk, done in zip(chunks, analysed):
        yield from pipeline.process(read.popleft(), [it.ref for it in chunk], analysed=done)
        if progress:
            progress(len(chunk))


def open_store(no_save: bool, env: dict[str, str] | None = None) -> Store | None:
    """The state database, or None for --no-save (nothing written anywhere)."""
    return None if no_save else Store.open_default(env)


def scan_pipeline(model: classify.PromoModel, policy: Policy, store: Store | None, *,
                  source: str, social: Sequence[Network] | None = None,
                  env: dict[str, str] | None = None, workers: int = 1) -> Pipeline:
    """The pipeline of a scan. With a store (--save) it learns into it; without, it still decides
    against what mailguard knows (contacts learned or imported, allow/block rules), read from
    the state database without writing to it, and keeps what it learns in memory."""
    if store is not None:
        return Pipeline(model, policy, store, source=source, social=social, workers=workers)
    contacts, rules = read_snapshot(data_dir(env) / DB_NAME)
    policy = replace(
        policy,
        allowed=policy.allowed | {k for k, v in rules.items() if v == "allowed"},
        blocked=policy.blocked | {k for k, v in rules.items() if v == "blocked"},
    )
    pipe = Pipeline(model, policy, None, source=source, social=social, workers=workers)
    pipe.ledger = Ledger(contacts)
    return pipe
