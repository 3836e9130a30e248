"""Running networks on images: top-down pose estimation, correspondences between frames, person detection."""
