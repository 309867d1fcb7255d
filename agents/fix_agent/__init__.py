"""Turn an evidence snapshot and the embedded source into a patch bundle."""
