"""vaelib's version, in a module of its own: checkpoints record it, and a module inside
the package reads it from here rather than importing the package itself."""

__version__ = "0.1.0"
