"""artver: version data, models and the pipelines that make them, next to code in Git."""

__version__ = "0.1.0"
