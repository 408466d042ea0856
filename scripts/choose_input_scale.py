"""Choose the input-resolution rule of inference on validation images only (no test image).

Each committed seed-0 AF-UNet and U-Net of the `cpu` study is scored on the *other* data set's
training images, as they are and resampled to 0.6 and 1.7 times their size (other cameras),
under each rule: native size, or rescaled so the FOV's diameter matches the training images'
when they differ by more than a tolerance. Pooled F1 inside the FOV at 0.5.

    python scripts/choose_input_scale.py --data-dir ../shared/data \
        --out results/experiments/input-resolution/validation.csv
"""

import argparse

import numpy as np
import pandas as pd

from afunet import metrics
from afunet.data import load_dataset
from afunet.data.fov import fov_diameter
from afunet.inference import load_with_metadata, predict_probability
from afunet.reporting.general import resample
from afunet.study import REPO

RULES = {"native": None, "rescale always": 0.0, "tolerance 10%": 0.10, "tolerance 25%": 0.25}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    diameters = {d: float(np.median([fov_diameter(s.fov) for s in
                                     load_dataset(d, "train", args.data_dir)]))
                 for d in ("drive", "stare")}
    rows = []
    for source, target in (("drive", "stare"), ("stare", "drive")):
        samples = load_dataset(target, "train", args.data_dir)
        for model_name in ("afunet", "unet"):
            path = REPO / "results" / "cpu" / "checkpoints" / f"{source}-{model_name}-s0.pt"
            model, config, _ = load_with_metadata(path, "cpu")
            for factor in (0.6, 1.0, 1.7):
                row = dict(trained_on=source, model=model_name, scored_on=f"{target} train",
                           resampled=factor)
                for rule, tolerance in RULES.items():
                    counts = metrics.Counts()
                    for sample in samples:
                        image, label, fov = resample(sample.image, sample.label, sample.fov, factor)
                        scale = diameters[source] / fov_diameter(fov)
                        size = None
                        if tolerance is not None and abs(scale - 1) > tolerance:
                            size = (round(image.shape[0] * scale), round(image.shape[1] * scale))
                        prob = predict_probability(model, image, config, fov, size=size)
                        counts = counts + metrics.confusion(prob >= 0.5, label, fov)
                    row[rule] = round(metrics.scores(counts)["f1"], 4)
                rows.append(row)
                print(row, flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out, index=False)
    print(table.drop(columns=["trained_on", "model", "scored_on", "resampled"]).mean().round(4))


if __name__ == "__main__":
    main()
