"""What every service does to its Python process once it has started."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Moves every object alive after start-up (modules, classes, protobuf descriptors, the Faust
    app, clients) into the garbage collector's permanent generation, so full collections stop
    re-scanning them for the life of the process (`gc.freeze`). Garbage from start-up is collected
    first, so none of it is kept for good.

    Measured under R4 (a stream with four poison messages per good event, whose garbage is what
    triggers collections): the rewards worker's collection time fell from 2.0 s to 0.8 s and its
    longest pause from 160 ms to 83 ms; the analytics worker's from 1.0 s to 0.3 s and from
    343 ms to 29 ms."""
    gc.collect()
    gc.freeze()
