"""A heart.csv like the Cleveland clinic's (the keras.io structured-data examples' data),
drawn from a stated rule, for the ports that read it."""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMN_NAMES = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak",
                "slope", "ca", "thal", "target"]


def write_heart_csv(path, n=1000, seed=0):
    """A heart.csv with the Cleveland table's columns and ranges; the target follows a stated
    rule: chest pain type 4, a reversible thal defect, exercise angina, a low maximum heart rate
    and ST depression raise the odds of heart disease."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.integers(29, 78, n), "sex": rng.integers(0, 2, n), "cp": rng.integers(0, 5, n),
        "trestbps": rng.integers(94, 201, n), "chol": rng.integers(126, 565, n), "fbs": rng.integers(0, 2, n),
        "restecg": rng.integers(0, 3, n), "thalach": rng.integers(71, 203, n), "exang": rng.integers(0, 2, n),
        "oldpeak": rng.uniform(0, 6.2, n).round(1), "slope": rng.integers(1, 4, n), "ca": rng.integers(0, 4, n),
        "thal": rng.choice(["normal", "fixed", "reversible"], n),
    })
    logit = (-2.7 + 3.0 * (df.cp == 4) + 3.0 * (df.thal == "reversible") + 2.0 * df.exang
             - 0.04 * (df.thalach - 137) + 0.5 * (df.oldpeak - 3.1))
    df["target"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df[COLUMN_NAMES].to_csv(path, index=False)
