"""What the PathOps agents agree on, without network I/O: schemas, identifiers, bundles, policy, redaction.

Tools import this package; it never imports a tool.
"""

__version__ = "0.1.0"
