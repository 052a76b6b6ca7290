"""A Spout that emits ["1"] .. [str(count)] with ids 1..count, emits a failed id again, and says done() when every
id is acked."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../bolts/multilang"))
import gale_multilang as storm


class Counting(storm.Spout):
    def initialize(self, conf, context):
        self.count = int(conf.get("count", 100))
        self.next = 1
        self.open = set()
        self.again = []
        self.acked = 0
        self.failed = 0
        self.said_done = False

    def nextTuple(self):
        if self.again:
            i = self.again.pop()
        elif self.next <= self.count:
            i = self.next
            self.next += 1
        else:
            if not self.open and not self.said_done:
                storm.log("counting_spout: all %d acked after %d fails" % (self.acked, self.failed))
                storm.done()
                self.said_done = True
            return
        self.open.add(i)
        storm.emit([str(i)], id=i, need_task_ids=False)

    def ack(self, id):
        self.open.discard(id)
        self.acked += 1

    def fail(self, id):
        self.failed += 1
        self.again.append(id)


Counting().run()
