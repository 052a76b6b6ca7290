"""A split bolt that misbehaves once, after $FAULT_AFTER tuples of its first life (a marker file in $MARKER_DIR
says it has): $FAULT is "crash" (exit 3), "hang" (sleep), "garbage" (not the protocol on stdout), "wide" (a
message with 100 keys) or "endless" (one endless line). Its restarted self behaves. The test sets the environment, which gale passes on."""
import os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../bolts/multilang"))
import gale_multilang as storm


class FaultySplit(storm.BasicBolt):
    def initialize(self, conf, context):
        self.fault = os.environ["FAULT"]
        self.after = int(os.environ["FAULT_AFTER"])
        self.marker = os.path.join(os.environ["MARKER_DIR"], "faulted-%d" % context["taskid"])
        self.armed = not os.path.exists(self.marker)
        self.seen = 0

    def process(self, tup):
        self.seen += 1
        if self.armed and self.seen > self.after:
            open(self.marker, "w").close()
            sys.stderr.write("faulty_split: %s now\n" % self.fault)
            sys.stderr.flush()
            storm._chan.flush()
            if self.fault == "crash":
                os._exit(3)
            if self.fault == "hang":
                time.sleep(3600)
            if self.fault == "garbage":
                os.write(1, b"this is not json\nend\n")
                time.sleep(3600)
            if self.fault == "wide":  # a message of the protocol's shape with too many keys
                keys = ", ".join('"k%d": 0' % i for i in range(100))
                os.write(1, ('{"command": "sync", %s}\nend\n' % keys).encode())
                time.sleep(3600)
            if self.fault == "endless":
                chunk = b"x" * 65536
                while True:
                    os.write(1, chunk)
        for word in tup.values[0].split():
            storm.emit([word], need_task_ids=False)


FaultySplit().run()
