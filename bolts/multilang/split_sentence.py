"""split_sentence: the word count's split bolt in Python, over the multilang protocol (topologies/wordcount_python.cfg).

One tuple ["the cow jumped"] in, one tuple per word out, anchored to the input and acked after.
"""
import gale_multilang as storm


class SplitSentence(storm.BasicBolt):
    def process(self, tup):
        for word in tup.values[0].split():
            storm.emit([word], need_task_ids=False)


SplitSentence().run()
