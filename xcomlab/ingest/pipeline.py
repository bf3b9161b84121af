"""The thread pipeline of a load: a reader thread reads ahead, a pool of two builds batches."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

import pyarrow as pa

from xcomlab.errors import XcomlabError
from xcomlab.ingest.failures import translate
from xcomlab.ingest.normalize import BatchContext, RawBatch, build_batch
from xcomlab.ingest.pieces import BatchPieces

__all__ = ["IN_FLIGHT", "BuiltBatch", "ReadAhead", "built_batches"]

#: Batches built at once: Arrow's kernels and numpy release the GIL, so two batches
#: are prepared, checked and classified side by side while the reader reads ahead.
IN_FLIGHT = 2

#: What a reader yields: a raw batch, or a callable making one (run in the pool).
BatchSource = RawBatch | Callable[[], RawBatch]


class BuiltBatch(NamedTuple):
    """One batch as a builder thread hands it back, in read order."""

    #: Rows the reader read for this batch: loaded rows plus the ones it rejected.
    rows_read: int
    #: Ids and stored values as an Arrow table, only when values are fetched
    #: (``keep_values`` or an ``on_values`` callback); else None.
    table: pa.Table | None
    #: The batch's frame columns.
    pieces: BatchPieces


def built_batches(batches: Iterable[BatchSource], ctx: BatchContext, keep_values: bool,
                  read_ahead: int = 0) -> Iterator[BuiltBatch]:
    """Build ``batches`` in a pool, :data:`IN_FLIGHT` at a time, and yield them in order.

    A reader may yield a callable instead of a batch: the work of making the batch
    (decoding, dictionary encoding, text checks) then runs in the pool too. With
    ``read_ahead`` > 0 the reader runs in a thread of its own (:class:`ReadAhead`).
    Errors surface in batch order: a batch's error is raised only once every earlier
    batch was handed over (rejections are sorted by row at the end of a load).
    """
    def build(item: BatchSource) -> BuiltBatch:
        raw = item if isinstance(item, RawBatch) else item()
        size = len(raw) + len(raw.rejected)
        try:
            pieces, table = build_batch(raw, ctx, keep_values=keep_values)
        except XcomlabError:
            raise
        except Exception as exc:  # a user's input broke a library call: one line, not a traceback
            new = translate(exc, f"{ctx.path}, table {ctx.table}")
            if new is None:
                raise
            raise new from exc
        return BuiltBatch(size, table, pieces)

    source = ReadAhead(batches, read_ahead) if read_ahead else batches
    with ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="xcomlab-ingest") as pool:
        pending: deque[Future[BuiltBatch]] = deque()
        try:
            for item in source:
                pending.append(pool.submit(build, item))
                del item
                if len(pending) >= IN_FLIGHT:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
            if isinstance(source, ReadAhead):
                source.close()


T = TypeVar("T")


class ReadAhead(Generic[T]):
    """Iterate ``items`` in a thread of its own, up to ``depth`` items ahead.

    The reader's own work (parsing, fetching) then overlaps with building the batches
    it already handed over. An exception in the reader is raised here, in order, after
    the items read before it; :meth:`close` stops the thread early (and closes
    ``items`` when it is a generator).
    """

    def __init__(self, items: Iterable[T], depth: int) -> None:
        self._queue: queue.Queue[T | _End | _Raised] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._items = items
        self._thread = threading.Thread(target=self._run, name="xcomlab-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
            self._put(_End())
        except BaseException as exc:  # handed to the consumer
            self._put(_Raised(exc))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

    def _put(self, item: T | _End | _Raised) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item

    def close(self) -> None:
        """Stop the reader thread and wait for it."""
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True, slots=True)
class _End:
    """The reader's last item: ``items`` is exhausted."""


@dataclass(frozen=True, slots=True)
class _Raised:
    """The reader's last item: ``items`` raised ``exc``."""

    exc: BaseException
