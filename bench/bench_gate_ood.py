"""What knowing when not to answer costs (issue 13): the image-kind gate and the OOD score against
the classifier's own prediction, measured in the same run on the real RG1_UNCI radiograph.

    python bench/bench_gate_ood.py [--model dpn92_se] [--repeats 5] [--threads 2]

predict = the installed classifier's forward on its prepared input (lung U-Net and preprocessing
included, as the Predictor does); gate = the image-kind model on the same film (preprocessing
included); mirror = the mirror check on the same film (session 35: a frontal film is asked once whether it is
stored mirrored) and the upright check (session 50: whether it is stored upside down), each on the image-kind model's
128 px input, which the Predictor makes once for all three; OOD = the Mahalanobis score of the penultimate features from the card (features come
from a hook on the same forward, so only the scoring is extra). Target: (gate + mirror + upright + OOD) / predict < 0.10.
Also shown, outside the target: how long the hanging check takes on the same film stored turned 90 degrees (the
image-kind model calls it "other", so it tries seven turns and inversions; a path only such films take).
Needs the installed weights (image_kind, film_mirror, film_upright and the classifier, with a calibrated card).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best_of(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (lazy init, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="dpn92_se")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import torch

    from covidviewer.inference.calibrated import card_calibration
    from covidviewer.inference.film_mirror import classify_film_side
    from covidviewer.inference.film_upright import p_upside_down
    from covidviewer.inference.image_kind import gate_input
    from covidviewer.inference.image_kind import classify_image_kind
    from covidviewer.inference.inputs import compute_lung_mask, prepare_model_input
    from covidviewer.io.load import load_path
    from covidviewer.io.samples import sample_paths
    from covidviewer.models.features import logits_and_features
    from covidviewer.models.weights import installed_weights_sha256, load_trained_model

    torch.set_num_threads(args.threads)
    volume = load_path(sample_paths()["chest_cr"])
    model = load_trained_model(args.model)
    segmenter = load_trained_model("lung_unet")
    kind_model = load_trained_model("image_kind")
    mirror_model = load_trained_model("film_mirror")
    upright_model = load_trained_model("film_upright")
    calibration, problem = card_calibration(model.spec, installed_weights_sha256(args.model) or "")
    if calibration is None or calibration.ood is None:
        print(f"{args.model}: no calibrated card with an OOD model ({problem or 'none'})")
        return 1

    def predict() -> np.ndarray:
        lung = compute_lung_mask(segmenter, volume)
        model_input, _ = prepare_model_input(volume, model.spec, lung)
        with torch.no_grad():
            return model(torch.from_numpy(model_input.tensor)[None]).numpy()

    model_input, _ = prepare_model_input(volume, model.spec, compute_lung_mask(segmenter, volume))
    _, features = logits_and_features(model, torch.from_numpy(model_input.tensor)[None])
    t_predict = best_of(predict, args.repeats)
    t_gate = best_of(lambda: classify_image_kind(kind_model, kind_model.spec, volume), args.repeats)
    shared = gate_input(volume, kind_model.spec)

    from dataclasses import replace as replaced

    from covidviewer.inference.cache import image_hash
    from covidviewer.inference.gate_verdicts import GateVerdicts
    from covidviewer.inference.store import ModelStore

    store = ModelStore()  # the networks stay loaded, as in the app
    turned = replaced(volume, pixels=np.ascontiguousarray(np.rot90(volume.pixels, -1, axes=(1, 2))))
    turned_digest = image_hash(turned)

    def turned_reading() -> object:  # fresh verdicts: nothing cached, as for a film opened for the first time
        reading = GateVerdicts(store).reading(turned, turned_digest)[1]
        assert reading.turned is not None, "the turned film was not read back"
        return reading
    t_mirror = best_of(lambda: classify_film_side(mirror_model, mirror_model.spec, volume, shared), args.repeats)
    t_upright = best_of(lambda: p_upside_down(upright_model, upright_model.spec, volume, shared), args.repeats)
    t_ood = best_of(lambda: calibration.ood_score(features.numpy()), args.repeats)
    print(f"{args.model} on RG1_UNCI, {args.threads} threads, median of {args.repeats}")
    print(f"  predict (U-Net + preprocessing + forward) {t_predict * 1000:8.1f} ms")
    print(f"  image-kind gate                             {t_gate * 1000:8.1f} ms")
    print(f"  mirror check                                {t_mirror * 1000:8.1f} ms")
    print(f"  upright check                               {t_upright * 1000:8.1f} ms")
    print(f"  OOD score                                   {t_ood * 1000:8.1f} ms")
    ratio = (t_gate + t_mirror + t_upright + t_ood) / t_predict
    print(f"  (gate + mirror + upright + OOD) / predict = {ratio:.3f}  (target < 0.10)")
    t_turned = best_of(turned_reading, args.repeats)
    print(f"  hanging check of the film stored turned 90\u00b0 {t_turned * 1000:8.1f} ms  (seven tries; ratio {t_turned / t_predict:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
