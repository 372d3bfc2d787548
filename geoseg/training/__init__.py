"""Training segmentation models on scenes and labels (losses, spatial splits, the training loop)."""
