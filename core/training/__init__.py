"""Training support shared by the CLI and Python users: run directories, default loggers and
callbacks, evaluation tables, predictions and plots.

Nothing here is imported by ``matforge`` itself; import the submodule you need.
"""
