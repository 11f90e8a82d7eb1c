"""cirsearch trainer: the QuRe model in PyTorch, datasets, negatives, losses, training,
evaluation, ONNX export and personalization. Produces model bundles for the engine."""
