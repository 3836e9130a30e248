"""Neural networks (torch): the BN-Inception pose estimator, the keypoint correspondence network, the person detector."""
