"""Plays a recorded multilang conversation against the runtime, speaking the raw protocol (no helper module).

    python3 conformance.py SCRIPT

SCRIPT lines: "> JSON" is a message the runtime must send next, matched as a pattern ("$x" binds or must equal
what was bound, "<any>", "<int>", "<str>" match by type, objects need only the keys given); "< JSON" is sent, with
"$x" replaced by what was bound ("$PID" is our pid); "!pidfile" creates the pid file in the pidDir of the
handshake, "!sleep S" waits. While waiting, a heartbeat or a spout's "next" that the script does not expect is answered with sync. Task ids and the other messages are taken from two
queues, as storm.py does.
A mismatch is reported with the error command and ends the process with status 1; the end of the script is
logged as "conformance: passed NAME", after which the runner acks every tuple and syncs every command until stdin
closes.
"""
import json, os, sys, time

name = os.path.basename(sys.argv[1])
script = [l.rstrip("\n") for l in open(sys.argv[1])]
bound = {"PID": os.getpid()}
inbuf = b""


def read():
    global inbuf
    while b"\nend\n" not in inbuf:
        chunk = os.read(0, 65536)
        if not chunk:
            sys.exit(0)
        inbuf += chunk
    text, inbuf = inbuf.split(b"\nend\n", 1)
    return json.loads(text)


from collections import deque
deferred = {True: deque(), False: deque()}


def next_message(want_list):
    """storm.py's rule: task ids and the other messages are read in two queues, since tuples written before an
    emit's answer arrive ahead of it."""
    if deferred[want_list]:
        return deferred[want_list].popleft()
    while True:
        msg = read()
        if isinstance(msg, list) == want_list:
            return msg
        deferred[isinstance(msg, list)].append(msg)


def send(msg):
    os.write(1, json.dumps(msg).encode() + b"\nend\n")


def matches(pattern, value):
    if isinstance(pattern, str) and pattern.startswith("$"):
        key = pattern[1:]
        if key in bound:
            return bound[key] == value
        bound[key] = value
        return True
    if pattern == "<any>":
        return True
    if pattern == "<int>":
        return isinstance(value, int) and not isinstance(value, bool)
    if pattern == "<str>":
        return isinstance(value, str)
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(p, value[k]) for k, p in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and len(pattern) == len(value) and all(map(matches, pattern, value))
    return pattern == value and type(pattern) == type(value)


def substitute(v):
    if isinstance(v, str) and v.startswith("$"):
        return bound[v[1:]]
    if isinstance(v, dict):
        return {k: substitute(x) for k, x in v.items()}
    if isinstance(v, list):
        return [substitute(x) for x in v]
    return v


def unexpected_but_routine(msg):
    if isinstance(msg, dict) and msg.get("stream") == "__heartbeat" and msg.get("task") == -1:
        send({"command": "sync"})
        return True
    if isinstance(msg, dict) and msg.get("command") == "next":
        send({"command": "sync"})
        return True
    return False


for number, line in enumerate(script, 1):
    if not line.strip() or line.startswith("#"):
        continue
    if line == "!pidfile":
        open(os.path.join(bound["pidDir"], str(os.getpid())), "w").close()
    elif line.startswith("!sleep "):
        time.sleep(float(line[7:]))
    elif line.startswith("< "):
        send(substitute(json.loads(line[2:])))
    elif line.startswith("> "):
        pattern = json.loads(line[2:])
        saved = dict(bound)
        msg = next_message(isinstance(pattern, list))
        while not matches(pattern, msg):
            bound.clear()
            bound.update(saved)
            if not unexpected_but_routine(msg):
                send({"command": "error", "msg": "conformance: %s:%d: expected %s, got %s" % (name, number, line[2:], json.dumps(msg))})
                sys.exit(1)
            msg = next_message(isinstance(pattern, list))
    else:
        send({"command": "error", "msg": "conformance: %s:%d: cannot read the script line" % (name, number)})
        sys.exit(1)

send({"command": "log", "msg": "conformance: passed %s" % name, "level": 2})
while True:
    msg = next_message(False)
    if isinstance(msg, dict) and "command" in msg:
        send({"command": "sync"})
    elif isinstance(msg, dict) and msg.get("stream") == "__heartbeat":
        send({"command": "sync"})
    elif isinstance(msg, dict) and "id" in msg:
        send({"command": "ack", "id": msg["id"]})
