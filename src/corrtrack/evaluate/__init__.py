"""Evaluation: PoseTrack mAP / MOTA as the official evaluator computes them, keypoint HOTA, box MOT metrics."""

from corrtrack.evaluate.api import EvalResult, evaluate, evaluate_dirs, load_pairs

__all__ = ["EvalResult", "evaluate", "evaluate_dirs", "load_pairs"]
