"""matforge-pointcloud: atom-centred point clouds, padded and masked."""

__version__ = "0.1.0"
