"""Training loops, data sets and augmentation for the pose, correspondence and detector networks."""
