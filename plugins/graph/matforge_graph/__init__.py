"""matforge-graph: periodic radius graphs, GraphBatch, message-passing ops and a DGL backend."""

__version__ = "0.1.0"
