"""Neural networks (torch): the BN-Inception pose estimator, the correspondence network, the person detector."""
