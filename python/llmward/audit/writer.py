"""`AuditLog`: one writer thread behind a bounded queue, for callers on an asyncio loop.

`await log(event)` returns the record's sequence number once the record is written and
flushed per the fsync policy; it never blocks the loop. When `queue_size` records are in
flight, the next caller waits for a slot (backpressure): records are never dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llmward.audit.chain import DEFAULT_MAX_FILE_BYTES, ChainWriter, Head
from llmward.audit.events import Event
from llmward.audit.files import audit_dir

_log = logging.getLogger("llmward.audit")
_DRAIN = 256  # records written between two looks at the clock / one group fsync


@dataclass(frozen=True)
class FsyncPolicy:
    """`record`: fsync before acknowledging each record (several records arriving together
    share one fsync); an acknowledged record survives power loss.
    `batch`: acknowledge once written to the OS (survives a crash of the process), fsync
    after at most `max_records` records and `max_ms` milliseconds; power loss or a kernel
    crash loses at most the last max_records - 1 acknowledged records, all younger than
    max_ms (plus the time of one write)."""

    mode: Literal["record", "batch"] = "record"
    max_records: int = 100
    max_ms: int = 50

    def __post_init__(self) -> None:
        if self.mode not in ("record", "batch"):
            raise ValueError("fsync mode must be 'record' or 'batch'")
        if self.max_records < 1 or self.max_ms < 0:
            raise ValueError("max_records must be >= 1 and max_ms >= 0")


class AuditWriteError(RuntimeError):
    """A record could not be written or made durable; it is not in the log."""


_STOP = object()
_Ack = tuple["asyncio.Future[Any]", Any, BaseException | None]


class AuditLog:
    def __init__(self, directory: str | Path | None = None, *,
                 fsync: FsyncPolicy | None = None, queue_size: int = 1024,
                 max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, include_prompt: bool = False):
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._directory_arg = directory
        self.policy = fsync or FsyncPolicy()
        self.queue_size = queue_size
        self.max_file_bytes = max_file_bytes
        self.include_prompt = include_prompt
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._writer: ChainWriter | None = None
        self._closed = False
        self._in_hand: list[Any] = []

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> AuditLog:
        """Open the log (recovering from a crash, see ChainWriter) and start the writer."""
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self.queue_size)
        self.directory = await asyncio.to_thread(audit_dir, self._directory_arg)
        self._writer = await asyncio.to_thread(self._open_writer)
        self._thread = threading.Thread(target=self._run, name="llmward-audit", daemon=True)
        self._thread.start()
        return self

    def _open_writer(self) -> ChainWriter:
        return ChainWriter(self.directory, max_file_bytes=self.max_file_bytes)

    async def close(self) -> None:
        """Write everything queued, fsync, release the directory."""
        if self._closed or self._thread is None:
            return
        self._closed = True
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    async def __aenter__(self) -> AuditLog:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def head(self) -> Head:
        """The last record written (read it after an acknowledgement to anchor the log)."""
        if self._writer is None:
            raise RuntimeError("the audit log is not running")
        return self._writer.head

    # -- logging --------------------------------------------------------------------------
    async def log(self, event: Event) -> int:
        """Queue one record and wait until it is written per the fsync policy."""
        if self._closed or self._slots is None or self._loop is None:
            raise RuntimeError("the audit log is not running")
        if not self.include_prompt and "prompt" in event.personal:
            event = dataclasses.replace(event, personal={
                k: v for k, v in event.personal.items() if k != "prompt"})
        await self._slots.acquire()
        if self._closed:  # the writer stopped while we waited for a slot
            self._slots.release()
            raise RuntimeError("the audit log is not running")
        future: asyncio.Future[int] = self._loop.create_future()
        # The slot is freed when the writer is done with the record, not when the caller
        # stops waiting: a cancelled caller's record is still written and still counted.
        future.add_done_callback(lambda _: self._slots.release() if self._slots else None)
        self._queue.put((event, future))
        return await asyncio.shield(future)

    def log_threadsafe(self, event: Event, timeout: float | None = None) -> int:
        """`log` for code running in another thread than the log's event loop."""
        loop = self._running_loop()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("log_threadsafe called on the event loop; await log()")
        return asyncio.run_coroutine_threadsafe(self.log(event), loop).result(timeout)

    async def exclusive(self, fn: Callable[[Path], Any]) -> Any:
        """Run fn(directory) in the writer thread with the log closed (e.g. pseudonymize,
        which rewrites files), after every record queued before it; then reopen."""
        future: asyncio.Future[Any] = self._running_loop().create_future()
        self._queue.put((fn, future))
        return await future

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._closed:
            raise RuntimeError("the audit log is not running")
        return self._loop

    # -- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._write_loop()
        except BaseException as error:
            # Fail secure: refuse new records and fail every waiting one rather than
            # leave callers waiting forever for a writer that is gone.
            self._closed = True
            _log.error("audit writer stopped: %s", error)
            failure = AuditWriteError(f"audit writer stopped: {error}")
            # Records taken from the queue but not written; those already acknowledged
            # were settled earlier in the loop's FIFO order, so _settle skips them.
            pending: list[_Ack] = [(item[1], None, failure) for item in self._in_hand
                                   if item is not _STOP]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    pending.append((item[1], None, failure))
            self._resolve(pending)  # logged above; callers get the error, not the thread

    def _write_loop(self) -> None:
        writer = self._writer
        if writer is None:
            raise RuntimeError("the audit log was not started")
        policy = self.policy
        dirty, dirty_since = 0, 0.0
        stop = False
        while not stop:
            timeout = None
            if dirty:
                timeout = max(0.0, dirty_since + policy.max_ms / 1000 - time.monotonic())
            try:
                items = [self._queue.get(timeout=timeout)]
            except queue.Empty:
                if self._synced(writer, []) is None:
                    # Those records were acknowledged already: nobody left to tell but ops.
                    _log.error("audit log fsync failed; recent records may not be durable")
                dirty = 0
                continue
            while len(items) < _DRAIN:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._in_hand = items
            acks: list[_Ack] = []
            for item in items:
                if item is _STOP:
                    stop = True
                    continue
                payload, future = item
                if callable(payload):
                    acks = self._sync(writer, acks)
                    dirty = 0
                    self._resolve(acks)
                    acks = []
                    writer = self._run_exclusive(writer, payload, future)
                    continue
                try:
                    seq = writer.append(payload)
                except (OSError, ValueError, TypeError) as error:  # this record only
                    acks.append((future, None, AuditWriteError(str(error))))
                    continue
                acks.append((future, seq, None))
                if policy.mode == "batch":
                    if not dirty:
                        dirty_since = time.monotonic()
                    dirty += 1
                    if dirty >= policy.max_records:
                        acks, dirty = self._sync(writer, acks), 0
            if policy.mode == "record" or (
                    dirty and time.monotonic() - dirty_since >= policy.max_ms / 1000):
                acks, dirty = self._sync(writer, acks), 0
            self._resolve(acks)
        try:
            writer.close()
        finally:
            self._writer = writer

    def _run_exclusive(self, writer: ChainWriter, fn: Callable[[Path], Any],
                       future: asyncio.Future[Any]) -> ChainWriter:
        writer.close()
        result: tuple[Any, BaseException | None] = (None, None)
        try:
            result = (fn(self.directory), None)
        except Exception as error:  # handed to the awaiting caller  # noqa: BLE001
            result = (None, error)
        try:
            writer = self._open_writer()
        except BaseException as error:  # the thread stops; _run fails the waiting callers
            self._resolve_one(future, None, error)
            raise
        self._writer = writer
        self._resolve_one(future, *result)
        return writer

    def _sync(self, writer: ChainWriter, acks: list[_Ack]) -> list[_Ack]:
        """fsync; if that fails, none of the pending records is known durable."""
        return self._synced(writer, acks) or [
            (future, None, AuditWriteError("fsync failed") if seq is not None else err)
            for future, seq, err in acks]

    @staticmethod
    def _synced(writer: ChainWriter, acks: list[_Ack]) -> list[_Ack] | None:
        try:
            writer.sync()
        except OSError:
            return None
        return acks

    def _resolve(self, acks: list[_Ack]) -> None:
        """Settle a batch of acknowledgements with one wake-up of the event loop."""
        loop = self._loop
        if loop is None or not acks:
            return
        try:
            loop.call_soon_threadsafe(_settle, acks)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _resolve_one(self, future: asyncio.Future[Any], value: Any,
                     error: BaseException | None) -> None:
        self._resolve([(future, value, error)])


def _settle(acks: list[_Ack]) -> None:
    for future, value, error in acks:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
