"""A BasicBolt that sends each number n on its direct stream "picked" to one task of component "probe": the one at
n mod (its task count) among its task ids in order, read from the handshake's context as a Storm bolt would."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../bolts/multilang"))
import gale_multilang as storm


class Pick(storm.BasicBolt):
    def initialize(self, conf, context):
        self.probes = sorted(int(t) for t, c in context["task->component"].items() if c == "probe")

    def process(self, tup):
        n = tup.values[0]
        storm.emitDirect(self.probes[n % len(self.probes)], [n], stream="picked")


Pick().run()
