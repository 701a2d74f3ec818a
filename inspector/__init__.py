"""docker-inspector: explain every byte of a Docker data root, offline and read-only."""

__version__ = "0.1.0"
