"""Harbor's stand-in: the CNCF distribution registry (Debian `docker-registry`) on 127.0.0.1.

Also the agents' runtime image as the tests need it: built FROM scratch with a static busybox
(no base image can be pulled here) by buildah, daemonless, and pushed to that registry.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pathops_testbed.loopback import free_port, wait_for_http


@contextmanager
def oci_registry(root: Path) -> Iterator[str]:
    """Serve a registry storing under root/data; yield its address (127.0.0.1:PORT, plain HTTP); stop it."""
    port = free_port()
    (root / "config.yml").write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                                     f"http:\n  addr: 127.0.0.1:{port}\n")
    server = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        wait_for_http(f"http://{address}/v2/", what="the OCI registry (docker-registry)")
        yield address
    finally:
        server.terminate()
        server.wait(timeout=10)


def push_busybox_image(reference: str, root: Path, labels: dict[str, str] | None = None) -> None:
    """Build a FROM-scratch image holding /bin/busybox (user 10001) and push it to reference (plain HTTP).

    buildah's storage stays under root.
    """
    context = root / "busybox-image"
    context.mkdir(parents=True)
    shutil.copy(shutil.which("busybox") or "busybox", context / "busybox")
    label_lines = "".join(f"LABEL {name}={value}\n" for name, value in (labels or {}).items())
    (context / "Containerfile").write_text(f"FROM scratch\nCOPY busybox /bin/busybox\n{label_lines}USER 10001\n")
    buildah = ["buildah", "--root", str(root / "b"), "--runroot", str(root / "rr"), "--storage-driver", "vfs"]
    subprocess.run([*buildah, "bud", "-q", "--isolation", "chroot", "-t", reference, str(context)], check=True,
                   capture_output=True)
    subprocess.run([*buildah, "push", "-q", "--tls-verify=false", reference], check=True, capture_output=True)
