"""harness: benchmark threads, processes, Dask and Ray on the same scenario spec."""

__version__ = "0.1.0"
