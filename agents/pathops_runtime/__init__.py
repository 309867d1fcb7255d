"""How the PathOps agents meet the outside world: artifact store, callbacks, Kubernetes, git, logs, CLI.

The I/O half of the shared code; the pure half (schemas, identifiers, errors, bundles,
patch policy, redaction) is `pathops_contracts`. Tools import both; neither imports a tool,
and `pathops_contracts` never imports this package.
"""
