"""Models and expected scores for the xgboost bolt's tests (tests/e2e/test_xgboost.c).

    /usr/bin/python3 tests/ml/xgb_fixture.py OUTDIR

Writes into OUTDIR, from a fixed seed:
  rows.csv          id,f0,f1,f2,f3,f4 for 2000 rows; in every 50th row one feature is empty (missing)
  reg.json          a regression model (reg:squarederror) trained on the rows
  bin.json          a binary model (binary:logistic)
  reg_pred.txt      the regression model's predictions, one per row, in row order
  bin_prob.txt      the binary model's probabilities
  bin_margin.txt    the binary model's margins
The predictions are XGBoost's own (inplace_predict) on the rows as read back from rows.csv into float32, the
type the bolt gives XGBoost, so that both sides score the same numbers.
"""
import sys

import numpy as np
import xgboost as xgb


def main(out):
    rng = np.random.default_rng(20261208)
    n, k = 2000, 5
    x = rng.normal(size=(n, k))
    y_reg = 3 * x[:, 0] - 2 * x[:, 1] + x[:, 2] * x[:, 3] + rng.normal(scale=0.1, size=n)
    y_bin = (x[:, 0] + x[:, 1] * x[:, 4] > 0.3).astype(int)
    with open(f"{out}/rows.csv", "w") as f:
        for i in range(n):
            cells = [f"{v:.6f}" for v in x[i]]
            if i % 50 == 7:
                cells[i % k] = ""
            f.write(",".join([str(i)] + cells) + "\n")
    # Read back as the bolt sees it: the text, to a double, to a float32; an empty cell is missing.
    rows = [line.rstrip("\n").split(",")[1:] for line in open(f"{out}/rows.csv")]
    data = np.array([[float(c) if c else np.nan for c in r] for r in rows], dtype=np.float64).astype(np.float32)
    params = {"max_depth": 4, "eta": 0.3, "nthread": 1, "seed": 1}
    reg = xgb.train({**params, "objective": "reg:squarederror"}, xgb.DMatrix(x, label=y_reg), num_boost_round=20)
    binary = xgb.train({**params, "objective": "binary:logistic"}, xgb.DMatrix(x, label=y_bin), num_boost_round=20)
    reg.save_model(f"{out}/reg.json")
    binary.save_model(f"{out}/bin.json")
    np.savetxt(f"{out}/reg_pred.txt", reg.inplace_predict(data, missing=np.nan), fmt="%.9g")
    np.savetxt(f"{out}/bin_prob.txt", binary.inplace_predict(data, missing=np.nan), fmt="%.9g")
    np.savetxt(f"{out}/bin_margin.txt", binary.inplace_predict(data, missing=np.nan, predict_type="margin"), fmt="%.9g")


if __name__ == "__main__":
    main(sys.argv[1])
