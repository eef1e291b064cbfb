"""Write ``assets/evaluator/training_items.json``: the items the shipped evaluator was trained on,
as short hashes, so the benchmark can refuse to score them (``evaluations.benchmark``), without
retraining the evaluator.

    .venv/bin/python -m studio corpus build --n 20000 --seed 0 --out /tmp/c20k   # once (~4 min)
    .venv/bin/python scripts/evaluator_training_items.py --data /tmp/c20k

The train + val items are chosen exactly as ``evaluations.evaluator.train`` chose them (the
checkpoint's own seed and item caps), each hashed twice (``evaluations.data.TrainingItems``): the
decoded clip's content and the normalised prompt. The file is bound to the checkpoint's SHA-256.

How exact it is goes into the file's ``provenance``. When the corpus has the fingerprint the
evaluator recorded, the hashes are exact. When it does not (today's generator does not write the
evaluator's corpus byte for byte), ``--library`` checks the corpus against the built-in retrieval
model, which was trained on the same ``c20k`` and stores ids, prompts and int8-coded clips of
5,790 of its training items: same prompt for each id, and each clip re-encoded to the stored
codes. The counts go into the provenance beside the verdict: prompt hashes right where the
prompts agree, clip hashes approximate (the same motion up to float rounding can hash apart).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))


def training_splits(data: Path, config: dict[str, Any]) -> tuple[Any, list, list]:
    """The dataset and the train / val items ``evaluations.evaluator.train`` used for ``config``."""
    from evaluations.evaluator import TrainConfig, _train_val_items
    from studio.formats import read_dataset

    training = config.get("training", {})
    cfg = TrainConfig(max_items=training.get("max_items"), max_val_items=training.get("max_val_items"))
    dataset = read_dataset(data)
    # train() draws the subsamples first from default_rng(seed): the same draws pick the same items
    train_items, val_items = _train_val_items(
        dataset, cfg, np.random.default_rng(int(training.get("seed", 0)))
    )
    return dataset, train_items, val_items


def check_library(library: Path, dataset: Any) -> dict[str, Any]:
    """The corpus against the retrieval model's stored training items: how many ids have the same
    prompt, and how many clips re-encode (its PCA basis and int8 scales) to the stored codes."""
    from studio.formats import read_clip
    from studio.formats.checkpoints import read_checkpoint
    from studio.models.retrieval.model import N_SHAPES, ROTATION_WEIGHT
    from studio.motion import N_ARKIT

    checkpoint = read_checkpoint(library)
    t = checkpoint.tensors

    def unpack(buffer: np.ndarray, offsets: np.ndarray, i: int) -> str:
        return bytes(buffer[offsets[i] : offsets[i + 1]]).decode()

    by_id = {item.id: item for item in dataset.items}
    fps = float(checkpoint.config["store_fps"])
    frames = round(float(checkpoint.config["max_clip_s"]) * fps)
    weights = np.r_[np.ones(N_SHAPES), np.full(N_ARKIT - N_SHAPES, ROTATION_WEIGHT)]
    components = (t["basis"].astype(np.float64) * weights).T  # (61, K): undoes basis = components.T / w
    n = len(t["offsets"]) - 1
    same_prompt = codes_equal = codes_total = clips_exact = missing = 0
    for i in range(n):
        item = by_id.get(unpack(t["ids"], t["id_offsets"], i))
        if item is None:
            missing += 1
            continue
        same_prompt += item.prompt == unpack(t["prompts"], t["prompt_offsets"], i)
        values = read_clip(item.clip_path).clip.resample(fps).values[:frames].astype(np.float64)
        coded = np.clip(np.round(((values - t["mean"]) * weights) @ components / t["code_scales"]), -127, 127)
        stored = t["codes"][t["offsets"][i] : t["offsets"][i + 1]]
        if coded.shape != stored.shape:
            continue
        equal = coded.astype(np.int8) == stored
        codes_equal += int(equal.sum())
        codes_total += equal.size
        clips_exact += bool(equal.all())
    return {
        "library": str(library.name),
        "library_data": str(checkpoint.config.get("training", {}).get("data", "?")),
        "items": n,
        "ids_missing": missing,
        "same_prompt": same_prompt,
        "clips_reencoding_to_every_stored_code": clips_exact,
        "int8_codes_equal": codes_equal,
        "int8_codes": codes_total,
    }


def main(argv: list[str] | None = None) -> int:
    from evaluations.data import TrainingItems, items_fingerprint, read_split
    from evaluations.evaluator import DEFAULT_CHECKPOINT, TRAINING_ITEMS_NAME, read_sha256sums
    from studio.formats.checkpoints import read_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the corpus the evaluator was trained on")
    parser.add_argument("--evaluator", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--out", type=Path, help=f"default: {TRAINING_ITEMS_NAME} beside the evaluator")
    parser.add_argument(
        "--library",
        type=Path,
        default=ROOT / "assets" / "models" / "retrieval.safetensors",
        help="a retrieval checkpoint trained on the same corpus, to check it against ('' to skip)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    expected = read_sha256sums().get(args.evaluator.name) if args.evaluator == DEFAULT_CHECKPOINT else None
    checkpoint = read_checkpoint(args.evaluator, expected)
    recorded = str(checkpoint.config.get("training", {}).get("data_fingerprint", "?"))
    dataset, train_items, val_items = training_splits(args.data, checkpoint.config)
    fingerprint = items_fingerprint([*train_items, *val_items])
    exact = fingerprint == recorded
    print(
        f"{len(train_items)} train + {len(val_items)} val items; fingerprint {fingerprint[:12]}, "
        f"the evaluator recorded {recorded[:12]}: {'exact' if exact else 'differs'}",
        flush=True,
    )
    splits = (read_split(dataset, "train", train_items), read_split(dataset, "val", val_items))
    provenance: dict[str, Any] = {
        "exact": exact,
        "dataset": dataset.name,
        "n_train": len(train_items),
        "n_val": len(val_items),
        "hashed_items_fingerprint": fingerprint,
        "command": f"python scripts/evaluator_training_items.py --data {args.data}",
    }
    if exact:
        provenance["summary"] = "the corpus hashed has the training-data fingerprint the evaluator recorded"
    else:
        provenance["summary"] = (
            f"approximate: the corpus hashed has fingerprint {fingerprint[:12]}, the evaluator recorded "
            f"{recorded[:12]}"
        )
        if str(args.library) and args.library.is_file():
            check = check_library(args.library, dataset)
            provenance["library_check"] = check
            provenance["summary"] += (
                f"; against the {check['library']} model's {check['items']} stored training items of "
                f"{check['library_data']}: {check['same_prompt']} same prompts, "
                f"{check['clips_reencoding_to_every_stored_code']} clips re-encode to every stored code "
                f"({check['int8_codes_equal']} of {check['int8_codes']} codes): prompt hashes right, "
                "clip hashes approximate (the clips agree up to float rounding, which changes a hash)"
            )
    items = TrainingItems.from_splits(
        splits,
        evaluator_sha256=checkpoint.sha256,
        training_data_sha256=recorded,
        provenance=provenance,
    )
    out = items.write(args.out or args.evaluator.with_name(TRAINING_ITEMS_NAME))
    print(
        f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB: {len(items.clip_sha256)} clip and "
        f"{len(items.prompt_sha256)} prompt hashes) in {time.perf_counter() - started:.0f} s\n"
        f"{provenance['summary']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
