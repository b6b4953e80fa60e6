"""Cross-frame plausibility for the oximeter formats without a checksum (DF8, Contec, Masimo).

A single corrupted bit in such a frame still decodes, often to a sane-looking value.
What the format cannot check, consecutive frames can: a device's HR, SpO2 and PI move
by a bounded amount from one frame to the next. `CrossFrameCheck` wraps a decoder and
passes a sample the device calls valid only when its values agree with the frame
before it, with the last frame it passed, or with a fast change already under way; one
that jumps is flagged `artifact` with the reason (or dropped, for a format that repeats
its values 60 times a second), and the frame after it, if it agrees with the jump,
confirms the new value. See
docs/ARCHITECTURE.md, "Device wire formats" (cross-frame check).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

from .oximeter_sample import OximetrySample

VALID = ("ok", "low_perfusion")  # statuses whose values are charted and alarmed on
PARAMETERS = ("hr", "spo2", "pi")
IN_SYNC_RUN = 3  # frames in a row, none thrown away between them, before the stream counts as in sync


@dataclass(frozen=True)
class Tolerance:
    """How far each value may move between consecutive frames, and what to do when it moves further.

    hr/spo2/pi: the largest change a real device sends between two frames, as a function of
    the reference value; keep_frames: how many frames the last passed value stays a
    reference; drop: drop a failing frame (the format repeats it) instead of flagging it;
    confirm_unverified: a frame with nothing to compare against (no valued frame just before
    it) also waits for the next frame to agree, even when no bytes were lost before it;
    follow_trend: a value where the two frames before it are heading also agrees (see `_jump`).
    """

    hr: Callable[[float], float]
    spo2: Callable[[float], float]
    pi: Callable[[float], float] = lambda ref: float("inf")
    keep_frames: int = 5
    drop: bool = False
    confirm_unverified: bool = False
    follow_trend: bool = True


# One frame a second, 4-beat averaged display values: a jump beyond these between two
# seconds is held as artifact until the next second repeats it.
ONE_PER_SECOND = Tolerance(hr=lambda ref: max(7.0, 0.09 * ref), spo2=lambda ref: 3.0,
                           pi=lambda ref: max(1.0, 0.3 * ref), keep_frames=5)
# Contec: 60 frames a second repeating the displayed PR and SpO2, which change about once a
# second; a new value must be sent twice running before it is passed (1/60 s later).
REPEATED_60_HZ = Tolerance(hr=lambda ref: 0.0, spo2=lambda ref: 0.0, keep_frames=300, drop=True,
                           confirm_unverified=True, follow_trend=False)


class CheckStats:
    """What the check held back, beside the decoder's own DecoderStats."""

    def __init__(self) -> None:
        self.flagged = 0  # samples passed on as artifact (jumped, or unconfirmed after lost sync)
        self.dropped = 0  # samples withheld


class CrossFrameCheck:
    """A decoder whose valid samples must agree with their neighbours; `feed` as the decoder's."""

    def __init__(self, decoder, tolerance: Tolerance):
        self.decoder = decoder
        self.stats = decoder.stats
        self.tolerance = tolerance
        self.check_stats = CheckStats()
        self._prev: Optional[OximetrySample] = None  # the frame just before, if the device called it valid
        self._prev2: Optional[OximetrySample] = None  # and the one before that: with _prev, the trend
        self._passed: Optional[OximetrySample] = None  # the last frame passed as valid
        self._passed_age = 0  # frames since then
        self._run = 0  # frames in a row without anything thrown away between them

    def feed(self, data: bytes) -> list[OximetrySample]:
        out = []
        for s in self.decoder.feed(data):
            s = self._check(s)
            if s is not None:
                out.append(s)
        return out

    def _check(self, s: OximetrySample) -> Optional[OximetrySample]:
        self._run = 1 if s.resynced else self._run + 1
        self._passed_age += 1
        if self._passed is not None and self._passed_age > self.tolerance.keep_frames:
            self._passed = None
        valued = [p for p in PARAMETERS if getattr(s, p) is not None]
        if s.status not in VALID or not valued:
            self._prev = self._prev2 = None
            return s
        prev, prev2 = self._prev, self._prev2
        self._prev, self._prev2 = s, prev
        if prev is not None and (s.hr, s.spo2, s.pi) == (prev.hr, prev.spo2, prev.pi):
            self._passed, self._passed_age = s, 0  # the same values again: the common case, agreed
            return s
        reason, verifiable = self._jump(s, valued, prev, prev2)
        if reason is None and not verifiable:
            # Nothing to compare with (the first value after a sensor-off spell, say): trust it only
            # inside a run of frames that follow each other cleanly, never right after lost sync nor
            # as the first frame on a connection (every connect or reconnect starts a fresh check).
            if self._run < IN_SYNC_RUN or self.tolerance.confirm_unverified:
                reason = "unconfirmed: nothing before it to compare with"
        if reason is None:
            self._passed, self._passed_age = s, 0
            return s
        if self.tolerance.drop:
            self.check_stats.dropped += 1
            return None
        self.check_stats.flagged += 1
        return replace(s, status="artifact", detail=f"corrupted frame? {reason}")

    def _jump(self, s: OximetrySample, valued: list[str], prev: Optional[OximetrySample],
              prev2: Optional[OximetrySample]) -> tuple[Optional[str], bool]:
        """(why s disagrees, whether anything could be compared): each of its values must be near
        the frame just before, the last frame passed, or, while a fast change is going on (the
        last step over half the tolerance), where the two frames before it are heading: a steady
        change faster than the tolerance is flagged for one frame, then followed."""
        verifiable = False
        for p in valued:
            v = getattr(s, p)
            before = None if prev is None else getattr(prev, p)
            limit = getattr(self.tolerance, p)
            refs = [(k, k) for k in (before, None if self._passed is None else getattr(self._passed, p))
                    if k is not None]
            earlier = None if prev2 is None or not self.tolerance.follow_trend else getattr(prev2, p)
            if before is not None and earlier is not None and abs(before - earlier) > limit(before) / 2:
                refs.append((2 * before - earlier, before))  # a fast change going on: where it is heading
            if not refs:
                continue
            verifiable = True
            if not any(abs(v - expected) <= limit(scale) for expected, scale in refs):
                return f"{p} {refs[0][1]:g} -> {v:g} in one frame", True
        return None, verifiable
