"""A BasicBolt that emits each word and then, on stream "ids", the task ids that emit() said it went to."""
import json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../bolts/multilang"))
import gale_multilang as storm


class TaskIds(storm.BasicBolt):
    def process(self, tup):
        ids = storm.emit([tup.values[0]])
        storm.emit([json.dumps(sorted(ids))], stream="ids", need_task_ids=False)


TaskIds().run()
