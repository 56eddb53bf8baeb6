"""matforge-egnn: E(n)-equivariant graph neural network backbone (Satorras et al. 2021)."""

__version__ = "0.1.0"
