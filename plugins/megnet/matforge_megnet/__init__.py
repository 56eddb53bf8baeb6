"""matforge-megnet: MEGNet graph network backbone (Chen et al. 2019)."""

__version__ = "0.1.0"
