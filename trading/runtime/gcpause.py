"""No garbage collection while the bot works on a batch of ticks or an order is on its way
(`collections_deferred`)."""

from __future__ import annotations

import gc


class CollectionsDeferred:
    """No garbage collection while a batch is worked on: a full collection takes 40-80 ms in
    this process and would now and then fall between a tick and its order. It runs after,
    at the next allocation past the threshold. Shared by the runners of a process: the last
    one out turns collection back on, if it was on."""

    def __init__(self) -> None:
        self.depth = 0
        self.resume = False

    def hold(self) -> None:
        """One more piece of work under way (a batch, an order on its way)."""
        if self.depth == 0:
            self.resume = gc.isenabled()
            gc.disable()
        self.depth += 1

    def release(self, *_: object) -> None:
        """That work done; as a done callback too."""
        self.depth -= 1
        if self.depth == 0 and self.resume:
            gc.enable()

    def __enter__(self) -> None:
        self.hold()

    def __exit__(self, *exc: object) -> None:
        self.release()


collections_deferred = CollectionsDeferred()
