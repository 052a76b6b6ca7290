"""A BasicBolt that forwards what its tick tuples say: "COMPONENT/STREAM/TASK"."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../bolts/multilang"))
import gale_multilang as storm


class Ticks(storm.BasicBolt):
    def process(self, tup):
        if tup.is_tick_tuple():
            storm.emit(["%s/%s/%s" % (tup.component, tup.stream, tup.task)], need_task_ids=False)


Ticks().run()
