"""What the PathOps agents agree on: schemas, identifiers, artifact store, callbacks.

Tools import this package; it never imports a tool.
"""

__version__ = "0.1.0"
