"""Test-only fault switches of the local endpoint, read from ``PERSONALIZE_LOCAL_FAULTS``; off when it is unset.

The fault tests (``tests/faults``) use them to see how the pipeline copes with what the real service does now and
then, without waiting for it to happen. The variable holds comma-separated entries:

``throttle:<Operation>:<N>``
    the next N requests of that control-plane operation answer ThrottlingException; each retry the SDK sends counts
    as a request, so botocore's own retries absorb a few of these, as they absorb the service's;
``limit:<Operation>:<N>``
    the next N SDK calls answer LimitExceededException on every attempt: the retries botocore sends for one call
    (they share its ``amz-sdk-invocation-id`` header) are refused too, so the refusal reaches the caller as it does
    when the service's job slots stay full, and our job operators back off and try again. (Counting requests
    instead would let botocore's retries, up to 10 attempts a call, swallow the refusals, spread over whichever
    concurrent callers happen to send them.) A request without that header counts as one call;
``slow:<kind>:<seconds>``
    the work of every resource of that kind (``dataset-import-job``, ``solution-version``, ...) first sleeps that
    long while the resource is IN_PROGRESS, so a test can kill the endpoint mid-job;
``slow-process:solution-version:<seconds>``
    the training's own process (work_process.py) first sleeps that long, so a test can kill that process mid-job.

A malformed entry stops the endpoint at start with a message naming it: a typo must not silently test nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from personalize_local import errors
from personalize_local.kinds import KINDS

ENVIRONMENT_VARIABLE = "PERSONALIZE_LOCAL_FAULTS"

log = logging.getLogger(__name__)


class FaultSwitchError(ValueError):
    """A malformed ``PERSONALIZE_LOCAL_FAULTS`` entry; the message names it."""


class ThrottlingError(errors.ServiceError):
    code = "ThrottlingException"


_REFUSALS = {"throttle": ThrottlingError, "limit": errors.LimitExceededError}
#: The slow faults, by the Faults member that holds their seconds per kind.
_SLOW = {"slow": "slow_work", "slow-process": "slow_process"}


@dataclass
class Faults:
    """The switched-on faults: refusals left per operation, and seconds of slow work per resource kind."""

    refusals: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: Invocation ids of SDK calls refused by a ``limit`` entry, with the refusal: their retries get it too.
    refused_calls: dict[str, str] = field(default_factory=dict)
    slow_work: dict[str, float] = field(default_factory=dict)
    slow_process: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def parse(cls, text: str | None) -> Faults:
        faults = cls()
        for entry in (part.strip() for part in (text or "").split(",")):
            if not entry:
                continue
            pieces = entry.split(":")
            if len(pieces) != 3:
                raise FaultSwitchError(f"{ENVIRONMENT_VARIABLE} entry {entry!r} must look like kind:target:number")
            what, target, number = pieces
            try:
                amount = float(number) if what in _SLOW else int(number)
            except ValueError:
                raise FaultSwitchError(f"{ENVIRONMENT_VARIABLE} entry {entry!r}: {number!r} is not a number") from None
            if what in _REFUSALS:
                faults.refusals.setdefault(target, []).append((what, int(amount)))
            elif what in _SLOW:
                if target not in KINDS:
                    raise FaultSwitchError(f"{ENVIRONMENT_VARIABLE} entry {entry!r}: no resource kind {target!r}")
                getattr(faults, _SLOW[what])[target] = amount
            else:
                raise FaultSwitchError(
                    f"{ENVIRONMENT_VARIABLE} entry {entry!r}: unknown fault {what!r} "
                    "(throttle, limit, slow or slow-process)"
                )
        return faults

    @classmethod
    def from_environment(cls) -> Faults:
        return cls.parse(os.environ.get(ENVIRONMENT_VARIABLE))

    def before_call(self, operation: str, invocation_id: str | None = None) -> None:
        """Raise the refusal switched on for this operation, if any calls of it are still to be refused.

        ``invocation_id``: the request's ``amz-sdk-invocation-id``, the same on every retry of one SDK call.
        """
        if not self.refusals:
            return
        with self._lock:
            what = self.refused_calls.get(invocation_id) if invocation_id else None
            if what is None:
                pending = self.refusals.get(operation)
                if not pending:
                    return
                what, left = pending[0]
                if left <= 1:
                    pending.pop(0)
                else:
                    pending[0] = (what, left - 1)
                if what == "limit" and invocation_id:
                    self.refused_calls[invocation_id] = what
        refusal = _REFUSALS[what]
        # Logged so that a test can tell a refusal given from one never reached (botocore retries hide them).
        log.warning("fault switch: %s answered %s (SDK call %s)", operation, refusal.code, invocation_id or "-")
        raise refusal(f"{operation} refused by the fault switch {ENVIRONMENT_VARIABLE} ({what})")

    def before_work(self, kind: str) -> None:
        seconds = self.slow_work.get(kind)
        if seconds:
            time.sleep(seconds)
