"""gpusim: simulated NVIDIA GPUs for the fractional.gpu tests (see tests/gpusim/README.md)."""
