"""Predict what a GPU would do from a CPU run's op profiles (docs/predict.md). Torch-free."""
