"""Trains the fraud detection example's model (topologies/models/fraud.json) on generated history.

    /usr/bin/python3 tools/fraud/train_model.py [OUT (topologies/models/fraud.json)]

Runs topologies/fraud_history.cfg with build/bin/gale (transactions of seed 1 with each card's count and amount over
the last 10 minutes, the features topologies/fraud_detection.cfg computes), then trains an XGBoost binary model on
them with Debian's python3-xgboost (it is /usr/bin/python3's package) and saves it as JSON. The example itself runs
on transactions of another seed, with the model file shipped: running it needs no Python.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import xgboost as xgb

FEATURES = ["amount", "category", "foreign", "n_10m", "amount_10m"]


def main(out):
    with tempfile.TemporaryDirectory() as tmp:
        history = os.path.join(tmp, "history.jsonl")
        subprocess.run(["build/bin/gale", "run", "--quiet", "--set", f"history.path={history}",
                        "topologies/fraud_history.cfg"], check=True)
        rows = [json.loads(line) for line in open(history)]
    x = np.array([[r[f] for f in FEATURES] for r in rows], dtype=np.float32)
    y = np.array([r["label"] for r in rows])
    positives = int(y.sum())
    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.2, "nthread": 1, "seed": 1,
              "scale_pos_weight": 1.0, "eval_metric": "aucpr"}
    model = xgb.train(params, xgb.DMatrix(x, label=y, feature_names=FEATURES), num_boost_round=60)
    p = model.predict(xgb.DMatrix(x, feature_names=FEATURES)) >= 0.5
    tp = int((p & (y == 1)).sum())
    print(f"trained on {len(rows)} transactions, {positives} fraud; on the history itself: "
          f"precision {tp / max(1, int(p.sum())):.3f}, recall {tp / max(1, positives):.3f}")
    model.save_model(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "topologies/models/fraud.json")
