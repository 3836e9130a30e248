"""Tracking on plain arrays: baselines now; correspondence tracking (recovery, association, merging) to come."""

from corrtrack.tracking.baselines import associate_frame_to_frame, strip_identities

__all__ = ["associate_frame_to_frame", "strip_identities"]
