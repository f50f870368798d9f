"""`EventsRun`: what the Streaming events page keeps of one run, to redraw it on every rerun.

A widget click reruns the page script, so the page keeps the run (its choices and the
recorder holding every event) in session state and draws it again from here; this is also what
a run interrupted half-way leaves behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.patterns.events.chains import CHAINS, ChainSpec
from core.patterns.events.recorder import EventRecorder


@dataclass
class EventsRun:
    """One run of a chain on the Streaming events page.

    Attributes:
        chain_key: which chain of `CHAINS` ran.
        topic: the topic it was given (already stripped; never empty).
        fail_tool: whether the chain's tool was made to fail.
        recorder: every event received, stamped on receipt, and the error if one ended the run.

    Example:
        >>> run = EventsRun("joke", "cats", False, EventRecorder())
        >>> run.heading
        'Prompt → model → parser · topic “cats”'
        >>> _ = list(run.recorder.watch([]))
        >>> run.stopped_early
        False
    """

    chain_key: str
    topic: str
    fail_tool: bool
    recorder: EventRecorder

    @property
    def chain(self) -> ChainSpec:
        """The chain that ran."""
        return CHAINS[self.chain_key]

    @property
    def heading(self) -> str:
        """The run's title on the page: the chain and the topic."""
        return f"{self.chain.title} · topic “{self.topic}”"

    @property
    def stopped_early(self) -> bool:
        """Whether the run stopped without finishing and without an error (a widget changed
        mid-run, which reruns the page): the events captured so far are what is kept."""
        recorder = self.recorder
        return recorder.error is None and (recorder.interrupted or not recorder.finished)
