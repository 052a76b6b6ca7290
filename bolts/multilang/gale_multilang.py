"""gale_multilang: write gale (and Apache Storm) spouts and bolts in Python over the multilang protocol.

The API is storm.py's, so a component written for Storm runs with either module: subclass BasicBolt (each
input is acked when process() returns and failed when it raises, emits are anchored to it), Bolt (ack and fail
yourself) or Spout (next_tuple/nextTuple, ack, fail), and call run(). emit() returns the ids of the tasks the
tuple went to, as Storm's does; pass need_task_ids=False when you do not need them, which saves a round trip
to the runtime per emit and is much faster.

Differences from storm.py, none of which a component can notice except in speed: Python 3; output is buffered
and written when the component is about to wait for input (or for task ids), so a batch of tuples read at once
is answered with one write; and when the runtime asks for it (GALE_MULTILANG_SERIALIZER=msgpack in the
environment), messages are MessagePack maps with a 4-byte big-endian length instead of JSON and "end" lines.
done() is gale's own: a spout that has nothing more to emit says so, and a finite topology can end.
"""
import json
import os
import struct
import sys
import traceback
from collections import deque

_MSGPACK = os.environ.get("GALE_MULTILANG_SERIALIZER") == "msgpack"
_IN = 0
_OUT = sys.stdout.buffer
# A component's own print() must not corrupt the protocol: send it to stderr, as Storm advises.
sys.stdout = sys.stderr


class _Channel:
    """Messages in and out, with the input read in large chunks and the output written in one go."""

    def __init__(self):
        self.buf = bytearray()
        self.pos = 0
        self.out = []

    def _fill(self):
        self.flush()  # about to block: the runtime must have what we owe it
        chunk = os.read(_IN, 1 << 16)
        if not chunk:
            raise EOFError("the runtime closed stdin")
        if self.pos:
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += chunk

    def read(self):
        # Answers go out at the latest every 64 messages, so that a large batch read at once does not hold back
        # the acks of its first tuples until its last is processed (latency), while still being few writes.
        if len(self.out) >= 64:
            self.flush()
        while True:
            if _MSGPACK:
                if len(self.buf) - self.pos >= 4:
                    (n,) = struct.unpack_from(">I", self.buf, self.pos)
                    if len(self.buf) - self.pos - 4 >= n:
                        start = self.pos + 4
                        self.pos = start + n
                        return _unpack(bytes(self.buf[start : start + n]))
            else:
                end = self.buf.find(b"\nend\n", self.pos)
                if end >= 0:
                    text = self.buf[self.pos : end].decode("utf-8")
                    self.pos = end + 5
                    return json.loads(text)
            self._fill()

    def send(self, msg):
        if _MSGPACK:
            body = _pack(msg)
            self.out.append(struct.pack(">I", len(body)) + body)
        else:
            self.out.append(json.dumps(msg).encode("utf-8") + b"\nend\n")

    def flush(self):
        if self.out:
            _OUT.write(b"".join(self.out))
            _OUT.flush()
            self.out = []


_chan = _Channel()
_pending_commands = deque()
_pending_taskids = deque()
_anchor = None
_mode = None


def readMsg():
    return _chan.read()


def readTaskIds():
    if _pending_taskids:
        return _pending_taskids.popleft()
    msg = readMsg()
    while not isinstance(msg, list):
        _pending_commands.append(msg)
        msg = readMsg()
    return msg


def readCommand():
    if _pending_commands:
        return _pending_commands.popleft()
    msg = readMsg()
    while isinstance(msg, list):
        _pending_taskids.append(msg)
        msg = readMsg()
    return msg


def sendMsgToParent(msg):
    _chan.send(msg)


def sync():
    sendMsgToParent({"command": "sync"})


def initComponent():
    setup = readMsg()
    pid = os.getpid()
    sendMsgToParent({"pid": pid})
    _chan.flush()
    open(os.path.join(setup["pidDir"], str(pid)), "w").close()
    return [setup["conf"], setup["context"]]


class Tuple:
    def __init__(self, id, component, stream, task, values):
        self.id = id
        self.component = component
        self.stream = stream
        self.task = task
        self.values = values

    def __repr__(self):
        return "<Tuple id=%r component=%r stream=%r task=%r values=%r>" % (
            self.id, self.component, self.stream, self.task, self.values)

    def is_heartbeat_tuple(self):
        return self.task == -1 and self.stream == "__heartbeat"

    def is_tick_tuple(self):
        return self.task == -1 and self.stream == "__tick"


def readTuple():
    cmd = readCommand()
    return Tuple(cmd["id"], cmd["comp"], cmd["stream"], cmd["task"], cmd["tuple"])


def _emit(tup, stream=None, anchors=(), directTask=None, id=None, need_task_ids=True):
    m = {"command": "emit", "tuple": list(tup)}
    if stream is not None:
        m["stream"] = stream
    if directTask is not None:
        m["task"] = directTask
    if _mode == "bolt":
        if _anchor is not None:
            anchors = [_anchor]
        m["anchors"] = [a.id if isinstance(a, Tuple) else a for a in anchors]
    elif id is not None:
        m["id"] = id
    if not need_task_ids:
        m["need_task_ids"] = False
    sendMsgToParent(m)


def emit(tup, stream=None, anchors=(), id=None, need_task_ids=True):
    """Emits and returns the task ids it went to (None with need_task_ids=False)."""
    _emit(tup, stream=stream, anchors=anchors, id=id, need_task_ids=need_task_ids)
    return readTaskIds() if need_task_ids else None


def emitDirect(task, tup, stream=None, anchors=(), id=None):
    _emit(tup, stream=stream, anchors=anchors, directTask=task, id=id)


def ack(tup):
    sendMsgToParent({"command": "ack", "id": tup.id})


def fail(tup):
    sendMsgToParent({"command": "fail", "id": tup.id})


def reportError(msg):
    sendMsgToParent({"command": "error", "msg": msg})


def log(msg, level=2):
    sendMsgToParent({"command": "log", "msg": msg, "level": level})


def logTrace(msg):
    log(msg, 0)


def logDebug(msg):
    log(msg, 1)


def logInfo(msg):
    log(msg, 2)


def logWarn(msg):
    log(msg, 3)


def logError(msg):
    log(msg, 4)


def rpcMetrics(name, params):
    sendMsgToParent({"command": "metrics", "name": name, "params": params})


def done():
    """Spouts: nothing more will be emitted (gale's; Storm has no such thing)."""
    sendMsgToParent({"command": "done"})


def _run(body):
    try:
        body()
    except EOFError:
        pass
    except Exception:
        reportError(traceback.format_exc())
        _chan.flush()
        raise
    finally:
        _chan.flush()


class Bolt:
    def initialize(self, conf, context):
        pass

    def process(self, tup):
        pass

    def run(self):
        global _mode
        _mode = "bolt"
        conf, context = initComponent()

        def loop():
            self.initialize(conf, context)
            while True:
                tup = readTuple()
                if tup.is_heartbeat_tuple():
                    sync()
                else:
                    self.process(tup)

        _run(loop)


class BasicBolt(Bolt):
    def run(self):
        global _mode, _anchor
        _mode = "bolt"
        conf, context = initComponent()

        def loop():
            global _anchor
            self.initialize(conf, context)
            while True:
                tup = readTuple()
                if tup.is_heartbeat_tuple():
                    sync()
                    continue
                _anchor = tup
                try:
                    self.process(tup)
                    ack(tup)
                except Exception:
                    reportError(traceback.format_exc())
                    fail(tup)
                finally:
                    _anchor = None

        _run(loop)


class Spout:
    def initialize(self, conf, context):
        pass

    def ack(self, id):
        pass

    def fail(self, id):
        pass

    def nextTuple(self):
        pass

    def activate(self):
        pass

    def deactivate(self):
        pass

    def run(self):
        global _mode
        _mode = "spout"
        conf, context = initComponent()

        def loop():
            self.initialize(conf, context)
            while True:
                msg = readCommand()
                command = msg["command"]
                if command == "next":
                    self.nextTuple()
                elif command == "ack":
                    self.ack(msg["id"])
                elif command == "fail":
                    self.fail(msg["id"])
                elif command == "activate":
                    self.activate()
                elif command == "deactivate":
                    self.deactivate()
                sync()

        _run(loop)


# ---- MessagePack, the subset the protocol needs (no dependency to install) ----------------------------------------

def _pack(v, out=None):
    top = out is None
    out = bytearray() if top else out
    if v is None:
        out.append(0xC0)
    elif v is True:
        out.append(0xC3)
    elif v is False:
        out.append(0xC2)
    elif isinstance(v, int):
        if 0 <= v < 128:
            out.append(v)
        elif -32 <= v < 0:
            out.append(v & 0xFF)
        elif v >= 0:
            out += b"\xcf" + struct.pack(">Q", v)
        else:
            out += b"\xd3" + struct.pack(">q", v)
    elif isinstance(v, float):
        out += b"\xcb" + struct.pack(">d", v)
    elif isinstance(v, str):
        b = v.encode("utf-8")
        out += (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xdb" + struct.pack(">I", len(b))) + b
    elif isinstance(v, (bytes, bytearray)):
        out += b"\xc6" + struct.pack(">I", len(v)) + v
    elif isinstance(v, (list, tuple)):
        out += bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdd" + struct.pack(">I", len(v))
        for item in v:
            _pack(item, out)
    elif isinstance(v, dict):
        out += bytes([0x80 | len(v)]) if len(v) < 16 else b"\xdf" + struct.pack(">I", len(v))
        for k, item in v.items():
            _pack(k, out)
            _pack(item, out)
    else:
        raise TypeError("cannot send a %s" % type(v).__name__)
    return bytes(out) if top else None


_FIXED = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
          0xCA: ">f", 0xCB: ">d"}


def _unpack(b):
    v, _ = _unpack_at(b, 0)
    return v


def _unpack_at(b, i):
    t = b[i]
    i += 1
    if t < 0x80:
        return t, i
    if t >= 0xE0:
        return t - 256, i
    if 0xA0 <= t <= 0xBF:
        n = t & 0x1F
        return b[i : i + n].decode("utf-8"), i + n
    if 0x90 <= t <= 0x9F:
        return _items(b, i, t & 0x0F)
    if 0x80 <= t <= 0x8F:
        return _pairs(b, i, t & 0x0F)
    if t == 0xC0:
        return None, i
    if t in (0xC2, 0xC3):
        return t == 0xC3, i
    if t in _FIXED:
        fmt = _FIXED[t]
        return struct.unpack_from(fmt, b, i)[0], i + struct.calcsize(fmt)
    if t in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):
        size = {0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC4: 1, 0xC5: 2, 0xC6: 4}[t]
        n = int.from_bytes(b[i : i + size], "big")
        i += size
        raw = b[i : i + n]
        return (raw.decode("utf-8") if t >= 0xD9 else bytes(raw)), i + n
    if t in (0xDC, 0xDD):
        size = 2 if t == 0xDC else 4
        return _items(b, i + size, int.from_bytes(b[i : i + size], "big"))
    if t in (0xDE, 0xDF):
        size = 2 if t == 0xDE else 4
        return _pairs(b, i + size, int.from_bytes(b[i : i + size], "big"))
    raise ValueError("unsupported MessagePack type 0x%02x" % t)


def _items(b, i, n):
    out = []
    for _ in range(n):
        v, i = _unpack_at(b, i)
        out.append(v)
    return out, i


def _pairs(b, i, n):
    out = {}
    for _ in range(n):
        k, i = _unpack_at(b, i)
        v, i = _unpack_at(b, i)
        out[k] = v
    return out, i
