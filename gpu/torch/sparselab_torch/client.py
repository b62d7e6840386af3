"""The metrics client: a training script's run, recorded by SparseLab like one of its own.

    run = sparselab_torch.connect("ws://127.0.0.1:7341/", token, experiment="mnist-ddp", arm=exchange,
                                  model="MLP", dataset="MNIST", epochs=2, batch_size=64, lr=0.1)
    run.iteration(step, epoch, loss.item(), lr)          # after each optimizer step
    run.evaluation(step, epoch, test_loss, accuracy=acc)
    run.finish()                                         # or use `with connect(...) as run:`

Rank 0 registers the run with the hub (common/externalRun.ts) and sends the records; on the other
ranks connect() returns a run that records nothing, so the same script runs on every rank. Without a
hub (hub_url None, or unreachable and jsonl given) the same messages go to a JSON Lines file that
`sparselab import FILE` records later. Records are validated against the records' JSON Schema before
they leave, so a bad one fails in the script, naming the field.
"""

import json
import os
import platform
import socket
import sys
import threading
import time
import warnings

from .metrics import PROTOCOL_VERSION, RecordChecker, decode_frame, encode_frame, wire_value
from .websocket import OP_BINARY, ConnectionClosed, WebSocketError
from .websocket import connect as ws_connect

#: Records are sent in batches: when this many wait, or this long after the first one.
BATCH_RECORDS = 64
BATCH_SECONDS = 0.5
#: The run id records carry in a file (common/externalRun.ts EXTERNAL_RUN_FILE).
FILE_RUN_ID = "local"
FILE_FORMAT = "sparselab-external-run"


class HubRefused(RuntimeError):
    """The hub turned the registration or a message down; the message says why."""


class _FileSink:
    def __init__(self, path, spec):
        self.path = path
        self.run_id = FILE_RUN_ID
        self.cancel_reason = None
        self._file = open(path, "w", encoding="utf-8")
        self.send({"type": "registerRun", "format": FILE_FORMAT, "version": 1, "spec": spec})

    def send(self, message):
        self._file.write(json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n")
        self._file.flush()

    def close(self):
        self._file.close()


class _HubSink:
    """A registered connection: a reader thread answers pings, notes cancels; a heartbeat thread keeps it alive."""

    def __init__(self, url, token, spec, timeout):
        self.url = url
        self.cancel_reason = None
        self.error = None
        self._ws = ws_connect(url, timeout=timeout)
        self._ws.send_binary(
            encode_frame({"type": "registerRun", "token": token, "protocolVersion": PROTOCOL_VERSION, "spec": spec})
        )
        self._ws.settimeout(timeout)
        try:
            reply = self._next_header()
        finally:
            self._ws.settimeout(None)
        if reply.get("type") == "refused":
            self._ws.close()
            raise HubRefused("the hub at %s refused the run: %s" % (url, reply.get("reason")))
        if reply.get("type") != "runRegistered":
            self._ws.close()
            raise HubRefused("the hub at %s answered %r to registerRun" % (url, reply.get("type")))
        self.run_id = reply["runId"]
        self._heartbeat_s = reply["heartbeatMs"] / 1000
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name="sparselab-hub-reader", daemon=True)
        self._beater = threading.Thread(target=self._beat, name="sparselab-hub-heartbeat", daemon=True)
        self._reader.start()
        self._beater.start()

    def _next_header(self):
        while True:
            try:
                opcode, data = self._ws.recv()
            except ConnectionClosed as e:
                raise HubRefused("the hub at %s closed the connection: %s" % (self.url, e.reason or e.code))
            if opcode == OP_BINARY:
                return decode_frame(data)

    def _read(self):
        try:
            while True:
                header = self._next_header()
                if header.get("type") == "cancel":
                    self.cancel_reason = header.get("reason") or "cancelled in SparseLab"
                elif header.get("type") == "refused":
                    self.error = "the hub refused a message: %s" % header.get("reason")
        except (HubRefused, WebSocketError, OSError, ValueError) as e:
            if not self._stop.is_set() and self.error is None:
                self.error = str(e)

    def _beat(self):
        while not self._stop.wait(self._heartbeat_s):
            try:
                self._ws.send_binary(encode_frame({"type": "heartbeat", "time": time.time() * 1000}))
            except (WebSocketError, OSError):
                return

    def send(self, message):
        if self.error is not None:
            raise HubRefused(self.error)
        try:
            self._ws.send_binary(encode_frame(message))
        except (WebSocketError, OSError) as e:
            self.error = "lost the hub at %s: %s" % (self.url, e)
            raise HubRefused(self.error)

    def close(self):
        self._stop.set()
        self._ws.close(1000, "run ended")
        self._reader.join(timeout=5)


class Run:
    """One run's recorder on the reporting rank (see connect)."""

    def __init__(self, sink, checker, exchange=None):
        self._sink = sink
        self._checker = checker
        self._exchange = exchange
        self._pending = {}
        self._pending_count = 0
        self._first_pending = None
        self._started = time.perf_counter()
        self._last_iteration_at = self._started
        self._lock = threading.Lock()
        self.ended = False
        #: Why the hub's connection failed, once it has (records are then dropped; training goes on).
        self.error = None

    @property
    def id(self):
        return self._sink.run_id

    @property
    def cancelled(self):
        """The reason, once someone cancelled this run in SparseLab; the script should stop."""
        return self._sink.cancel_reason

    def _wall_ms(self):
        return 1000 * (time.perf_counter() - self._started)

    def _add(self, kind, record):
        record = wire_value(record)
        self._checker.check(kind, record)
        with self._lock:
            self._pending.setdefault(kind, []).append(record)
            self._pending_count += 1
            if self._first_pending is None:
                self._first_pending = time.perf_counter()
            due = self._pending_count >= BATCH_RECORDS or time.perf_counter() - self._first_pending >= BATCH_SECONDS
        if due:
            self.flush()

    def flush(self):
        """Sends the records waiting in the batch."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._pending_count, self._first_pending = 0, None
        for kind, records in pending.items():
            self._send({"type": "metrics", "kind": kind, "records": records})

    def _send(self, message):
        if self.error is not None:
            return
        try:
            self._sink.send(message)
        except HubRefused as e:
            self.error = str(e)
            warnings.warn("sparselab: %s; the run's further records are dropped" % e, RuntimeWarning)

    def iteration(self, iteration, epoch, loss, lr, *, compute_ms=None, **fields):
        """Records one step (call it after the optimizer step). The exchange's last step gives the phase
        times, bytes, k, selected, density and, where measured, the statistics; compute_ms defaults to the
        time since the previous call less compress, exchange and update. `fields` add or override
        IterationRecord fields (camelCase)."""
        now = time.perf_counter()
        step_ms = 1000 * (now - self._last_iteration_at)
        self._last_iteration_at = now
        record = {"runId": self.id, "rank": 0, "iteration": iteration, "epoch": epoch, "loss": loss, "lr": lr}
        stats = self._exchange.last_step if self._exchange is not None else None
        if stats is not None:
            for key in ("density", "k", "selected", "bytesSent", "bytesReceived", "compressMs", "exchangeMs",
                        "updateMs", "rho", "rhoTopk", "boundGeneral", "boundGaussian", "overlap", "uNorm"):
                if key in stats:
                    record[key] = stats[key]
            record["waitMs"] = 0.0
            framework = stats["compressMs"] + stats["exchangeMs"] + stats["updateMs"]
            record["computeMs"] = compute_ms if compute_ms is not None else max(0.0, step_ms - framework)
        elif compute_ms is not None:
            record["computeMs"] = compute_ms
        record["wallMs"] = self._wall_ms()
        record.update(fields)
        self._add("iteration", record)
        if stats is not None:
            for layer in stats.get("layerStats", []):
                self._add("layerStats", dict(layer, runId=self.id, iteration=iteration))
            for histogram in stats.get("histograms", []):
                self._add("histogram", dict(histogram, runId=self.id, iteration=iteration))

    def evaluation(self, iteration, epoch, test_loss, accuracy=None, perplexity=None):
        record = {"runId": self.id, "iteration": iteration, "epoch": epoch, "wallMs": self._wall_ms(),
                  "testLoss": test_loss, "accuracy": accuracy, "perplexity": perplexity}
        self._add("evaluation", record)
        self.flush()
        # The next step's compute starts now: evaluating is not part of it.
        self._last_iteration_at = time.perf_counter()

    def log(self, message, level="info"):
        if level not in ("debug", "info", "warn", "error"):
            raise ValueError("level must be debug, info, warn or error, got %r" % level)
        self._send({"type": "log", "level": level, "message": str(message), "time": time.time() * 1000})

    def finish(self):
        """The run finished: the remaining records, then its status."""
        self._end("finished", None)

    def fail(self, reason):
        self._end("failed", str(reason) or "failed")

    def _end(self, state, reason):
        if self.ended:
            return
        self.ended = True
        self.flush()
        status = {"type": "status", "runId": self.id, "state": state}
        if reason:
            status["reason"] = reason[:4000]
        self._send(status)
        self._sink.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, _traceback):
        if kind is None:
            self.finish()
        else:
            self.fail("%s: %s" % (kind.__name__, value))
        return False


class _Silent:
    """The run on a rank that does not report: every call records nothing."""

    id = None
    cancelled = None
    ended = False
    error = None

    def __getattr__(self, _name):
        return lambda *args, **kwargs: None

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        return False


def _arm_of(arm):
    if hasattr(arm, "arm"):
        return arm.arm
    if isinstance(arm, str):
        return {"method": arm}
    return dict(arm)


def run_spec(*, experiment, arm, seed, world_size, epochs, batch_size, lr, momentum, model, dataset, statistics_every,
             backend, devices, iterations_per_epoch=None):
    """The registration's spec (common/externalRun.ts ExternalRunSpec): the run's settings and where it runs."""
    import torch

    spec = {
        "experiment": experiment, "arm": arm, "seed": seed, "worldSize": world_size, "epochs": epochs,
        "batchSize": batch_size, "lr": lr, "momentum": momentum, "model": model, "dataset": dataset,
        "statisticsEveryIterations": statistics_every,
        "framework": {"name": "torch", "version": torch.__version__.split("+")[0][:64], "backend": backend,
                      "python": platform.python_version()},
        "host": socket.gethostname()[:256], "pid": os.getpid(), "devices": devices,
    }
    if iterations_per_epoch:
        spec["iterationsPerEpoch"] = int(iterations_per_epoch)
    return spec


def connect(hub_url=None, token=None, *, experiment, arm, model, dataset, epochs, batch_size, lr, momentum=0.0,
            seed=0, iterations_per_epoch=None, statistics_every=None, evaluation_target=None, jsonl=None,
            exchange=None, rank=None, world_size=None, timeout=10.0, schema=None):
    """Registers the run and returns its Run (see the module's doc).

    hub_url, token: the hub's address and token (default $SPARSELAB_HUB, $SPARSELAB_TOKEN), as a remote
    worker gets them from the Workers view. arm: a SparseExchange (its arm, and its step statistics feed the
    records), or an arm dict as in experiment files. jsonl: a file to write to when there is no hub.
    """
    import torch
    import torch.distributed as dist

    initialized = dist.is_available() and dist.is_initialized()
    rank = rank if rank is not None else (dist.get_rank() if initialized else 0)
    world_size = world_size if world_size is not None else (dist.get_world_size() if initialized else 1)
    if rank != 0:
        return _Silent()
    if exchange is None and hasattr(arm, "last_step"):
        exchange = arm
    if statistics_every is None:
        statistics_every = getattr(exchange, "statistics_every", 0) or 10
    hub_url = hub_url or os.environ.get("SPARSELAB_HUB")
    token = token or os.environ.get("SPARSELAB_TOKEN")
    backend = dist.get_backend() if initialized else "none"
    device = "cuda:%d (%s)" % (torch.cuda.current_device(), torch.cuda.get_device_name()) if torch.cuda.is_available() else "cpu"
    spec = run_spec(
        experiment=experiment, arm=_arm_of(arm), seed=seed, world_size=world_size, epochs=epochs,
        batch_size=batch_size, lr=lr, momentum=momentum, model=model, dataset=dataset,
        statistics_every=statistics_every, backend=backend, devices=[device] * world_size,
        iterations_per_epoch=iterations_per_epoch,
    )
    if evaluation_target:
        spec["evaluationTarget"] = evaluation_target
    checker = RecordChecker(schema)
    if hub_url:
        if not token:
            raise ValueError("connect: give the hub's token (or set SPARSELAB_TOKEN)")
        try:
            sink = _HubSink(hub_url, token, spec, timeout)
        except (WebSocketError, OSError) as e:
            if not jsonl:
                raise ConnectionError("cannot reach the SparseLab hub at %s: %s (give jsonl= to record to a file)" % (hub_url, e)) from e
            print("sparselab: no hub at %s (%s); recording to %s" % (hub_url, e, jsonl), file=sys.stderr)
            sink = _FileSink(jsonl, spec)
    elif jsonl:
        sink = _FileSink(jsonl, spec)
    else:
        raise ValueError("connect: give hub_url (or set SPARSELAB_HUB) or jsonl")
    return Run(sink, checker, exchange)
