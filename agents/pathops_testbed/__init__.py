"""The testbed: local stand-ins for the systems the golden path talks to, and their starters.

Used alike by `pathops demo`, the tests and the benchmarks; never by a tool. Servers bind to
127.0.0.1 only: MinIO (`s3`), GitLab's git (`git_repos`, `git_http`) and API (`gitlab_api`),
Kubernetes (`kube_api`, `kube_objects`, `kube_logs`), Harbor (`oci_registry`), the control
plane (`control_plane`), the fix agent's patch bundles (`patch_bundles`); plumbing: `http_server`,
`loopback`, `peak_rss`. Beyond the agents' dependencies it needs only the `demo` extra.
"""
