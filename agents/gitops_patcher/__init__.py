"""Render agent Jobs with least-privilege RBAC into the GitOps repository."""
