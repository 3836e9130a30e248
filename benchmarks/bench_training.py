"""Training throughput: samples per second of the pose (crops), detector (images) and correspondence (pairs)
trainers, and the split of a step's wall time (data wait, forward + loss, backward, optimizer).

Each network is trained for ``--warmup + --steps`` steps on a small SynthTrack data set (written to
``--data`` if missing) by its real trainer (``train_pose`` / ``train_detector`` / ``train_corr``);
samples/s are counted over the last ``--steps`` steps from the trainer's history. Two recipes:

* ``baseline``: the bundled networks' recipe (1 torch thread, 1 DataLoader worker, JPEGs decoded
  in every step, the default AdamW, fp32). Run it on the starting commit too, with the same venv::

      git worktree add /tmp/trainbase 16e81de
      PYTHONPATH=/tmp/trainbase/src python benchmarks/bench_training.py --recipe baseline

  (the starting commit's history has no step split; the script then measures it with its own copy
  of that loop's step).
* ``new``: decoded-frame shards, 1 DataLoader worker, ``--threads`` torch threads (default 1: on the
  shared 2-core machine 2 threads ran 3x slower, docs/training.md),
  the foreach AdamW, channels_last where it measured faster (the detector); same batch sizes, data
  order and learning rates, so the accuracy per step is the recipe's.

Prints one line per network and writes ``--json`` if given. Give the load average beside the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

BATCH = {"pose": 32, "detector": 16, "corr": 8}


def make_data(root: Path) -> None:
    from corrtrack.synth.dataset import generate_dataset, make_specs

    generate_dataset(root, make_specs("train", ["easy", "medium", "hard"], 6, 20, 1, "all"))


def old_split(network: str, data: Path, steps: int, warmup: int) -> dict[str, float]:
    """The step split of the starting commit's loop (its history has none), measured on the same step."""
    from corrtrack.training.loop import _KeyedDataset, _Keys

    model, dataset, step_fn = build(network, data)
    keys = _KeyedDataset(dataset, 0)
    sampler = _Keys(len(dataset), 0, 0, 1)
    loader = torch.utils.data.DataLoader(
        keys, batch_sampler=list(sampler.batches(0, warmup + steps, BATCH[network])), num_workers=1
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    times = []
    it = iter(loader)
    for _ in range(warmup + steps):
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        loss, _ = step_fn(model, batch)
        t2 = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        times.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))
    mean = np.mean(times[warmup:], axis=0)
    return dict(zip(("t_data", "t_forward", "t_backward", "t_optim"), map(float, mean)))


def build(network: str, data: Path) -> tuple[torch.nn.Module, Any, Any]:
    torch.manual_seed(0)
    if network == "pose":
        from corrtrack.models.heatmap_codec import CodecConfig
        from corrtrack.models.pose_losses import PoseLossConfig
        from corrtrack.models.pose_net import PoseNet, pose_config
        from corrtrack.training.pose_data import AugmentConfig, PoseCropDataset, load_records
        from corrtrack.training.pose_train import PoseTrainConfig, make_step_fn

        cfg = pose_config("tiny")
        r = PoseTrainConfig().radius_for(cfg)
        ds = PoseCropDataset(load_records(data), (cfg.input_width, cfg.input_height), AugmentConfig())
        step = make_step_fn(cfg, CodecConfig(stride=4, radius=r), PoseLossConfig(offset_scale=r))
        return PoseNet(cfg), ds, step
    if network == "detector":
        from corrtrack.models.detector_net import DetectorNet, detector_config
        from corrtrack.training.detector_data import DetectorDataset, box_records
        from corrtrack.training.detector_train import DetectorTrainConfig, _make_step

        dc = detector_config("tiny")
        ds = DetectorDataset(box_records(data), (dc.input_width, dc.input_height), stride=dc.stride)
        return DetectorNet(dc), ds, _make_step(DetectorTrainConfig())
    from corrtrack.models.correspondence_net import CorrespondenceNet, correspondence_config
    from corrtrack.training.corr_data import CorrPairDataset, PairConfig, RecordStills
    from corrtrack.training.corr_train import CorrObjective, CorrTrainConfig, _step
    from corrtrack.training.pose_data import load_records

    cc = correspondence_config("tiny")
    ds = CorrPairDataset(RecordStills(load_records(data, min_joints=1)), cc.input_size, PairConfig())
    return CorrObjective(CorrespondenceNet(cc), "embedding", CorrTrainConfig()), ds, _step


def run(
    network: str, recipe: str, data: Path, out: Path, steps: int, warmup: int, threads: int, precision: str = "fp32"
) -> dict[str, Any]:
    torch.set_num_threads(threads)
    opts: dict[str, Any] = {
        "steps": warmup + steps,
        "batch_size": BATCH[network],
        "log_every": 1,
        "warmup_steps": 1,
        "checkpoint_every": 10_000,
        "workers": 1,
        "progress": False,
    }
    if recipe == "new":
        opts.update(shards=str(out.parent / "shards"), foreach=True, channels_last=network == "detector")
        if precision != "fp32":
            opts["precision"] = precision
    t0, c0 = time.perf_counter(), time.process_time()
    if network == "pose":
        from corrtrack.training.pose_train import train_pose

        train_pose("tiny", data, out, **opts)
        history = json.loads((out / "history.json").read_text())
    elif network == "detector":
        from corrtrack.training.detector_train import train_detector

        train_detector("tiny", data, out, **opts)
        history = json.loads((out / "history.json").read_text())
    else:
        from corrtrack.training.corr_train import train_corr

        train_corr(
            "tiny",
            data,
            out,
            embedding_steps=warmup + steps,
            refiner_steps=1,
            max_steps_this_run=warmup + steps,
            **opts,
        )
        history = json.loads((out / "phase1" / "history.json").read_text())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    clock = "wall_s" if "wall_s" in history[0] else "time_s"
    span = history[-1][clock] - history[warmup - 1][clock]
    row: dict[str, Any] = {
        "network": network,
        "recipe": recipe,
        "batch": BATCH[network],
        "threads": threads,
        "precision": precision,
        "losses": [round(h["loss"], 4) for h in history],
        "samples_per_s": round(BATCH[network] * steps / span, 2),
        "call_wall_s": round(wall, 1),
        "call_cpu_s_main_process": round(cpu, 1),
        "final_loss": history[-1]["loss"],
    }
    if "t_data" in history[0]:
        part = history[warmup:]
        row.update(
            {
                k: round(float(np.mean([h[k] for h in part])), 4)
                for k in ("t_data", "t_forward", "t_backward", "t_optim")
            }
        )
        row["split_from"] = "the trainer's history"
    else:
        row.update({k: round(v, 4) for k, v in old_split(network, data, steps, warmup).items()})
        row["split_from"] = "this script's copy of the starting commit's step"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=["baseline", "new"], default="new")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "corrtrack-bench-training-data")
    parser.add_argument("--what", default="pose,detector,corr")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="new recipe: autocast dtype")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1:
        print("error: --warmup and --steps must be >= 1", file=sys.stderr)
        sys.exit(2)
    threads = max(1, args.threads)
    if not (args.data / "annotations").is_dir():
        make_data(args.data)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    try:
        for network in args.what.split(","):
            row = run(network, args.recipe, args.data, work / network, args.steps, args.warmup, threads, args.precision)
            rows.append(row)
            split = " ".join(f"{k[2:]} {row[k] * 1e3:.0f}" for k in ("t_data", "t_forward", "t_backward", "t_optim"))
            print(
                f"{network:9s} {args.recipe:8s} {args.precision} batch {row['batch']:2d} threads {threads}: "
                f"{row['samples_per_s']:7.2f} samples/s; step split (ms) {split}; "
                f"loss {row['final_loss']:.4f}; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "load_average": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
