"""Text tables in the layout the official evaluator prints."""

from __future__ import annotations

from corrtrack.evaluate.api import EvalResult

_COLS = ("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total")


def _cell(value: float) -> str:
    return f"{value:1.1f}".rjust(5)


def _row(values: list[float]) -> str:
    """A table row exactly as the official tool prints it (cells right-aligned to 5 characters)."""
    return "&" + "".join(f"{_cell(v)} &" for v in values[:-1]) + f"{_cell(values[-1])} \\\\"


def format_tables(result: EvalResult) -> str:
    lines = []
    if result.ap is not None:
        lines += [
            "Average Precision (AP) metric:",
            "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\",
            _row(list(result.group_means(result.ap.ap).values())),
        ]
    if result.mot is not None:
        m = result.mot_metrics
        mota = list(result.group_means(m["mota"]).values())
        lines += [
            "Multiple Object Tracking (MOT) metrics:",
            "& MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTP & Prec & Rec  \\\\",
            "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total& Total& Total& Total\\\\",
            _row(mota + [m["motp"][-1], m["pre"][-1], m["rec"][-1]]),
        ]
    if result.hota is not None:
        h = result.hota
        lines += [
            "Keypoint HOTA (PoseTrack21 similarity, mean over alphas and 15 joints):",
            "& HOTA & DetA & AssA & LocA \\\\",
            _row([h.hota * 100, h.deta * 100, h.assa * 100, h.loca * 100]),
        ]
    return "\n".join(lines)
