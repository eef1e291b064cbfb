"""Expression Studio: run, render, score and study text-to-facial-expression models."""

__version__ = "0.1.0"
