"""Chain verification that names what happened, not just "broken at N".

A honest chain is one run: seq 1..N, each event's hash recomputes, each
`prev_hash` is its predecessor's hash, and every checkpoint signature verifies and
matches the hash stored at its seq. Tampering shows up as departures from that
run, which this module classifies:

* Events are streamed in stored order and grouped into *segments*: maximal runs
  whose hashes recompute under some "original" seq (the stored one, or a nearby
  one when rows were renumbered) and whose links hold. Rows whose hash
  recomputes under no seq tried are *bad rows*. Memory is O(segments), which is
  O(tamperings), not O(events).
* A bad row that occupies an original seq no verified event covers was
  **modified** (content or hash edited in place); one whose seq is covered by a
  verified event is an extra row: **inserted**.
* Two verified runs claiming the same original seqs: the one that nothing links
  to is **inserted** (a forged event with a recomputed hash).
* Original seqs covered by nothing are **deleted**; past the last event but at or
  below a signed checkpoint they are **truncated**.
* Verified runs that are out of original order, or renumbered without a deletion
  or insertion that explains it, are **reordered**.
* Consecutive runs whose link is broken although nothing is missing: the earlier
  event was rewritten with a recomputed hash (**modified**).
* A checkpoint whose signature fails, or whose key is unknown, is
  **bad_signature**; a valid one whose hash differs from the stored chain at its
  seq means the chain up to there was rewritten (**modified**).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bastion.core._audit.hashing import checkpoint_message, event_hash
from bastion.core._audit.keys import verify_signature
from bastion.core._audit.model import ZERO_HASH, Checkpoint, Problem, ProblemKind, VerifyReport
from bastion.core.types import Event

# How far from its stored seq a renumbered row's original seq is searched while streaming.
WINDOW = 8
# Bound on the (bad rows × missing seqs) search after streaming.
MAX_HOLE_TRIES = 200_000
MAX_REORDER_SEGMENTS = 4000


@dataclass(slots=True)
class _Segment:
    pos: int  # position (1-based) of the first row in stored order
    first_seq: int  # stored seq of the first row
    shift: int  # original seq - stored seq, the same for every row of a segment
    count: int
    first_prev: str
    last_hash: str
    inserted: int = 0  # rows at the end of this segment found to be inserted

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1

    @property
    def orig_first(self) -> int:
        return self.first_seq + self.shift

    @property
    def orig_last(self) -> int:
        return self.last_seq + self.shift


@dataclass(slots=True)
class _Bad:
    pos: int
    ev: Event
    expected: int = 0  # original seq it would hold if it sat where it is


def _hash_as(ev: Event, seq: int) -> str:
    return event_hash(
        seq=seq,
        ts=ev.ts,
        project=ev.project,
        kind=ev.kind,
        actor=ev.actor,
        subject=ev.subject,
        data=ev.data,
        prev_hash=ev.prev_hash,
    )


def _safe_hash_as(ev: Event, seq: int) -> str | None:
    try:
        return _hash_as(ev, seq)
    except (TypeError, ValueError):  # tampered data that is not even canonical JSON
        return None


def verify_chain(
    events: Iterable[Event], checkpoints: list[Checkpoint], trusted: dict[str, Ed25519PublicKey]
) -> VerifyReport:
    report = VerifyReport(checkpoints_checked=len(checkpoints))
    problems: list[Problem] = []
    cp_seqs = {cp.seq for cp in checkpoints}
    hash_at: dict[int, str] = {}  # original seq -> stored hash, only for checkpointed seqs
    items: list[_Segment | _Bad] = []
    cur: _Segment | None = None
    pos = 0

    for ev in events:
        pos += 1
        report.head_seq, report.head_hash = ev.seq, ev.hash
        orig: int | None = ev.seq if _safe_hash_as(ev, ev.seq) == ev.hash else None
        if orig is None:
            orig = _search(ev, cur)
        if orig is None:
            items.append(_Bad(pos, ev))
            cur = None
            continue
        if orig in cp_seqs:
            hash_at.setdefault(orig, ev.hash)
        if (
            cur is not None
            and ev.prev_hash == cur.last_hash
            and ev.seq == cur.last_seq + 1
            and orig == cur.orig_last + 1
        ):
            cur.count += 1
            cur.last_hash = ev.hash
        else:
            cur = _Segment(pos, ev.seq, orig - ev.seq, 1, ev.prev_hash, ev.hash)
            items.append(cur)
    report.events_checked = pos

    segments = [it for it in items if isinstance(it, _Segment)]
    bads = [it for it in items if isinstance(it, _Bad)]
    _resolve_far_moves(items, segments, bads, hash_at, cp_seqs)
    segments = [it for it in items if isinstance(it, _Segment)]
    bads = [it for it in items if isinstance(it, _Bad)]

    problems += _find_inserted_runs(segments)
    covered = _Coverage(segments)
    problems += _classify_bad_rows(items, covered)
    problems += _find_deleted(covered, bads)
    problems += _find_reordered(segments, covered, bads)
    problems += _find_broken_links(items)
    problems += _check_checkpoints(checkpoints, trusted, hash_at, covered, bads)

    report.problems = _dedupe(problems)
    return report


def _search(ev: Event, cur: _Segment | None) -> int | None:
    """Find the seq a row was written with, if it was renumbered by a small amount."""
    candidates: list[int] = []
    if cur is not None:
        candidates.append(cur.orig_last + 1)
        candidates.append(ev.seq + cur.shift)
    for d in range(1, WINDOW + 1):
        candidates += [ev.seq + d, ev.seq - d]
    seen = {ev.seq}
    for seq in candidates:
        if seq < 1 or seq in seen:
            continue
        seen.add(seq)
        if _safe_hash_as(ev, seq) == ev.hash:
            return seq
    return None


def _resolve_far_moves(
    items: list[_Segment | _Bad],
    segments: list[_Segment],
    bads: list[_Bad],
    hash_at: dict[int, str],
    cp_seqs: set[int],
) -> None:
    """Rows moved far from their seq: try each bad row against every seq no segment covers."""
    if not bads:
        return
    spans = sorted((s.orig_first, s.orig_last) for s in segments)
    top = max([hi for _, hi in spans] + [b.ev.seq for b in bads])
    holes: list[int] = []
    nxt = 1
    for lo, hi in spans:
        holes.extend(range(nxt, min(lo, top + 1)))
        nxt = max(nxt, hi + 1)
        if len(holes) > MAX_HOLE_TRIES:
            break
    holes.extend(range(nxt, top + 1))
    if not holes or len(holes) * len(bads) > MAX_HOLE_TRIES:
        return
    for i, item in enumerate(items):
        if not isinstance(item, _Bad):
            continue
        for seq in holes:
            if seq != item.ev.seq and _safe_hash_as(item.ev, seq) == item.ev.hash:
                ev = item.ev
                items[i] = _Segment(item.pos, ev.seq, seq - ev.seq, 1, ev.prev_hash, ev.hash)
                if seq in cp_seqs:
                    hash_at.setdefault(seq, ev.hash)
                holes.remove(seq)
                break


class _Coverage:
    """Which original seqs verified (non-inserted) rows account for."""

    def __init__(self, segments: list[_Segment]) -> None:
        spans = sorted((s.orig_first, s.orig_last - s.inserted) for s in segments if s.count - s.inserted > 0)
        merged: list[list[int]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        self.starts = [lo for lo, _ in merged]
        self.spans = merged
        self.top = merged[-1][1] if merged else 0
        self.extra: set[int] = set()  # seqs accounted for by modified (bad) rows

    def covers(self, seq: int) -> bool:
        if seq in self.extra:
            return True
        i = bisect.bisect_right(self.starts, seq) - 1
        return i >= 0 and self.spans[i][0] <= seq <= self.spans[i][1]

    def holes(self, upto: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        nxt = 1
        for lo, hi in self.spans:
            if lo > nxt:
                out.append((nxt, min(lo - 1, upto)))
            nxt = max(nxt, hi + 1)
            if nxt > upto:
                break
        if nxt <= upto:
            out.append((nxt, upto))
        result: list[tuple[int, int]] = []
        for lo, hi in out:
            run_start: int | None = None
            for s in range(lo, hi + 1):
                if s in self.extra:
                    if run_start is not None:
                        result.append((run_start, s - 1))
                        run_start = None
                elif run_start is None:
                    run_start = s
            if run_start is not None:
                result.append((run_start, hi))
        return result


def _find_inserted_runs(segments: list[_Segment]) -> list[Problem]:
    """Two verified runs claim the same original seqs: the one nothing links onward from is forged."""
    problems: list[Problem] = []
    referenced = {s.first_prev for s in segments}
    by_orig = sorted(segments, key=lambda s: (s.orig_first, s.pos))
    for i, a in enumerate(by_orig):
        for b in by_orig[i + 1 :]:
            if b.orig_first > a.orig_last:
                break
            lo, hi = b.orig_first, min(a.orig_last, b.orig_last)
            if lo > hi:
                continue
            a_tail = hi == a.orig_last and a.last_hash not in referenced
            b_tail = hi == b.orig_last and b.last_hash not in referenced
            intruder = a if a_tail and not b_tail else b if b_tail and not a_tail else max(a, b, key=lambda s: s.pos)
            n = hi - lo + 1
            if intruder.orig_last == hi:
                intruder.inserted = max(intruder.inserted, n)
            first = lo - intruder.shift
            problems.append(
                Problem(
                    first,
                    "inserted",
                    f"event at seq {_span(first, first + n - 1)} was inserted: it re-uses seq "
                    f"{_span(lo, hi)} of an existing event and nothing in the chain links from it",
                )
            )
    return problems


def _classify_bad_rows(items: list[_Segment | _Bad], covered: _Coverage) -> list[Problem]:
    problems: list[Problem] = []
    expected = 1
    for item in items:
        if isinstance(item, _Segment):
            expected = item.orig_last - item.inserted + 1
            continue
        item.expected = expected
        seq = item.ev.seq
        if not covered.covers(expected):
            covered.extra.add(expected)
            what = "its hash does not match its content" if _safe_hash_as(item.ev, seq) else "it is not valid JSON"
            problems.append(Problem(seq, "modified", f"event {seq} was modified: {what}"))
            expected += 1
        else:
            problems.append(
                Problem(
                    seq,
                    "inserted",
                    f"event at seq {seq} was inserted: its hash matches no content, and the events "
                    "around it are all accounted for",
                )
            )
    return problems


def _find_deleted(covered: _Coverage, bads: list[_Bad]) -> list[Problem]:
    top = max([covered.top] + [b.expected for b in bads if b.expected in covered.extra])
    return [
        Problem(lo, "deleted", f"event {_span(lo, hi)} {'is' if lo == hi else 'are'} missing (deleted)")
        for lo, hi in covered.holes(top)
    ]


def _find_reordered(segments: list[_Segment], covered: _Coverage, bads: list[_Bad]) -> list[Problem]:
    """Runs out of original order, or renumbered with nothing deleted or inserted to explain it."""
    live = [s for s in segments if s.count > s.inserted]
    if not live:
        return []
    # Past a few thousand runs the chain is wholesale rewritten; keep the analysis linear.
    too_many = len(live) > MAX_REORDER_SEGMENTS
    backbone = {id(s) for s in live if s.shift == 0} if too_many else _backbone(live)
    holes = covered.holes(covered.top)
    problems: list[Problem] = []
    for s in live:
        if id(s) in backbone:
            if s.shift == 0:
                continue
            deleted_before = sum(min(hi, s.orig_first - 1) - lo + 1 for lo, hi in holes if lo < s.orig_first)
            inserted_before = _inserted_rows_before(segments, bads, covered, s.pos)
            if s.shift == deleted_before - inserted_before:
                continue  # renumbered to close the gap of a deletion or open room for an insertion
        last = s.last_seq - s.inserted
        problems.append(
            Problem(
                s.first_seq,
                "reordered",
                f"event at seq {_span(s.first_seq, last)} was written as seq "
                f"{_span(s.orig_first, s.orig_last - s.inserted)}",
            )
        )
    return problems


def _inserted_rows_before(segments: list[_Segment], bads: list[_Bad], covered: _Coverage, pos: int) -> int:
    n = sum(s.inserted for s in segments if s.pos + s.count - s.inserted < pos)
    n += sum(1 for b in bads if b.pos < pos and b.expected not in covered.extra)
    return n


def _backbone(live: list[_Segment]) -> set[int]:
    """The heaviest run of segments (by rows) whose original seqs increase in stored order."""
    n = len(live)
    best = [s.count - s.inserted for s in live]
    back = [-1] * n
    for i in range(n):
        for j in range(i):
            if (
                live[j].orig_last - live[j].inserted < live[i].orig_first
                and best[j] + live[i].count - live[i].inserted > best[i]
            ):
                best[i] = best[j] + live[i].count - live[i].inserted
                back[i] = j
    i = max(range(n), key=lambda k: (best[k], -k))
    chosen: set[int] = set()
    while i >= 0:
        chosen.add(id(live[i]))
        i = back[i]
    return chosen


def _find_broken_links(items: list[_Segment | _Bad]) -> list[Problem]:
    """Adjacent verified runs that continue each other's seqs but do not link: a rehashed rewrite."""
    problems: list[Problem] = []
    prev: _Segment | _Bad | None = None
    for item in items:
        if isinstance(item, _Segment):
            if prev is None and item.orig_first == 1 and item.first_prev != ZERO_HASH:
                problems.append(Problem(1, "modified", "event 1 was rewritten: it does not start the chain"))
            if (
                isinstance(prev, _Segment)
                and prev.inserted == 0
                and prev.orig_last + 1 == item.orig_first
                and prev.shift == item.shift
                and item.first_prev != prev.last_hash
            ):
                seq = prev.last_seq
                problems.append(
                    Problem(
                        seq,
                        "modified",
                        f"event {seq} was rewritten with a recomputed hash: event {seq + 1} links to a different event",
                    )
                )
        prev = item
    return problems


def _check_checkpoints(
    checkpoints: list[Checkpoint],
    trusted: dict[str, Ed25519PublicKey],
    hash_at: dict[int, str],
    covered: _Coverage,
    bads: list[_Bad],
) -> list[Problem]:
    problems: list[Problem] = []
    last_seen = max([covered.top] + [b.expected for b in bads])
    truncated_to = 0
    for cp in checkpoints:
        key = trusted.get(cp.key_id)
        if key is None:
            why = "no public key is available to check it" if not trusted else f"unknown key id {cp.key_id}"
            problems.append(Problem(cp.seq, "bad_signature", f"checkpoint #{cp.id} at seq {cp.seq}: {why}"))
            continue
        try:
            message = checkpoint_message(seq=cp.seq, hash=cp.hash, ts=cp.ts, key_id=cp.key_id)
        except ValueError:
            message = b""
        if not verify_signature(key, cp.signature, message):
            problems.append(
                Problem(cp.seq, "bad_signature", f"checkpoint #{cp.id} at seq {cp.seq}: signature does not verify")
            )
            continue
        if cp.seq > last_seen:
            truncated_to = max(truncated_to, cp.seq)
            continue
        stored = hash_at.get(cp.seq)
        if stored is not None and stored != cp.hash:
            problems.append(
                Problem(
                    cp.seq,
                    "modified",
                    f"event {cp.seq} differs from signed checkpoint #{cp.id}: the chain up to it was rewritten",
                )
            )
    if truncated_to:
        lo = last_seen + 1
        problems.append(
            Problem(
                lo,
                "truncated",
                f"event {_span(lo, truncated_to)} {'is' if lo == truncated_to else 'are'} missing from the end "
                f"of the log, though a signed checkpoint covers seq {truncated_to}",
            )
        )
    return problems


def _span(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[int, ProblemKind]] = set()
    out: list[Problem] = []
    for p in sorted(problems, key=lambda p: (p.seq, p.kind)):
        if (p.seq, p.kind) not in seen:
            seen.add((p.seq, p.kind))
            out.append(p)
    return out
