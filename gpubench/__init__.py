"""gpubench: diagnose a PyTorch/CUDA setup and measure where the GPU beats the CPU."""

__version__ = "0.1.0"
