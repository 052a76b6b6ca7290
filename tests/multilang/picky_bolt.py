"""A Bolt (acking by hand): forwards each line anchored to it and acks it, but fails the lines that say "bad"."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../bolts/multilang"))
import gale_multilang as storm


class Picky(storm.Bolt):
    def process(self, tup):
        line = tup.values[0]
        if "bad" in line:
            storm.fail(tup)
            return
        storm.emit([line], anchors=[tup], need_task_ids=False)
        storm.ack(tup)


Picky().run()
