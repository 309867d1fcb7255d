"""A namespace where everything goes wrong at once, and a decoy namespace beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pathops_testbed.kube_api import FakeKubernetes, StaticLog
from pathops_testbed.kube_objects import (
    ago,
    configmap,
    container,
    deployment,
    endpoints,
    event,
    pod,
    replicaset,
    running,
    service,
    waiting,
)

NS = "shop-frontend-preflight"
SHA = "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
IMAGE = f"harbor.demo.pathops.io/shop/shop-frontend:{SHA[:12]}"
LEAKED_PASSWORD = "Sup3r-S3cret-Passw0rd"
LEAKED_TOKEN = "glpat-AAAAbbbbCCCCddddEEEE1234"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzaG9wLWZyb250ZW5kIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


def lines(*texts: str, minutes_ago: float = 5) -> StaticLog:
    start = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return StaticLog([(start + timedelta(seconds=i), text) for i, text in enumerate(texts)])


def build(cluster: FakeKubernetes) -> None:
    # 1. shop-frontend: readiness probe asks /healthz, the app serves /health; a secret leaks in its log.
    web = container("web", IMAGE, probe_path="/healthz",
                    env=[{"name": "DB_PASSWORD", "value": LEAKED_PASSWORD},
                         {"name": "FEATURE_FLAGS", "valueFrom": {"configMapKeyRef": {"name": "shop-config",
                                                                                     "key": "flags"}}},
                         {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "shop-api", "key": "token"}}}])
    frontend = deployment("shop-frontend", NS, {"containers": [web]}, revision=2,
                          annotations={"pathops.io/source-commit": SHA}, ready=0)
    old_web = dict(web, readinessProbe={"httpGet": {"path": "/health", "port": 8080}})
    current_rs = replicaset(frontend, 2, {"containers": [web]}, replicas=2)
    previous_rs = replicaset(frontend, 1, {"containers": [old_web]}, replicas=1, ready=1)
    cluster.add_all([frontend, current_rs, previous_rs, configmap("shop-config", NS, {
        "flags": "checkout=on", "database_url": f"postgres://shop:{LEAKED_PASSWORD}@db:5432/shop"})])
    for index in range(2):
        name = f"shop-frontend-{current_rs['metadata']['name'][-10:]}-p{index}"
        cluster.add(pod(name, current_rs, [running("web", IMAGE, ready=False)]))
        cluster.set_log(NS, name, "web", lines(
            "Starting shop-frontend on 0.0.0.0:8080",
            f"connecting to postgres://shop:{LEAKED_PASSWORD}@db:5432/shop",
            f"Authorization: Bearer {JWT}",
            f"clone with {LEAKED_TOKEN}",
            "GET /health 200", "GET /healthz 404", "GET /healthz 404"))
        cluster.add(event(NS, "Pod", name, "Unhealthy",
                          "Readiness probe failed: HTTP probe failed with statuscode: 404", 3, count=12,
                          field_path="spec.containers{web}"))
    cluster.add(service("shop-frontend", NS, {"app.kubernetes.io/name": "shop-frontend"}))
    cluster.add(endpoints("shop-frontend", NS, ready=[], not_ready=["10.0.0.5", "10.0.0.6"]))

    # 2. payments: crash loop with a Python traceback in the previous container's log.
    payments = deployment("payments", NS, {"containers": [container("api", "harbor/pay:1", probe_path=None)]},
                          revision=1, replicas=1, ready=0)
    payments_rs = replicaset(payments, 1, payments["spec"]["template"]["spec"], replicas=1)
    crash = {"exitCode": 1, "reason": "Error", "finishedAt": ago(1)}
    cluster.add_all([payments, payments_rs, pod("payments-abc", payments_rs, [
        waiting("api", "harbor/pay:1", "CrashLoopBackOff", "back-off 5m0s restarting failed container",
                restarts=7, last_terminated=crash)])])
    cluster.set_log(NS, "payments-abc", "api", lines("waiting for restart"))
    cluster.set_log(NS, "payments-abc", "api", lines(
        "Booting payments api", "Traceback (most recent call last):", '  File "/app/main.py", line 3, in <module>',
        "    settings = load()", "KeyError: 'PAYMENTS_URL'", "fatal: configuration incomplete"), previous=True)

    # 3. worker: OOMKilled.
    worker = deployment("worker", NS, {"containers": [container("worker", "harbor/worker:2", probe_path=None,
                                                                memory="128Mi")]}, revision=1, replicas=1)
    worker_rs = replicaset(worker, 1, worker["spec"]["template"]["spec"], replicas=1)
    oom = {"exitCode": 137, "reason": "OOMKilled", "finishedAt": ago(2)}
    cluster.add_all([worker, worker_rs, pod("worker-xyz", worker_rs, [
        running("worker", "harbor/worker:2", restarts=3, last_terminated=oom)])])
    cluster.set_log(NS, "worker-xyz", "worker", lines("processing batch 1", "processing batch 2"), previous=True)

    # 4. search: image pull error.  5. cart: missing ConfigMap key.
    search = deployment("search", NS, {"containers": [container("search", "harbor/serch:9", probe_path=None)]},
                        revision=1, replicas=1)
    search_rs = replicaset(search, 1, search["spec"]["template"]["spec"], replicas=1)
    cart = deployment("cart", NS, {"containers": [container("cart", "harbor/cart:3", probe_path=None, env=[
        {"name": "DATABASE_URL", "valueFrom": {"configMapKeyRef": {"name": "shop-config", "key": "databse_url"}}}])]},
        revision=1, replicas=1)
    cart_rs = replicaset(cart, 1, cart["spec"]["template"]["spec"], replicas=1)
    cluster.add_all([search, search_rs, pod("search-1", search_rs, [waiting(
        "search", "harbor/serch:9", "ImagePullBackOff", 'Back-off pulling image "harbor/serch:9"')]),
        cart, cart_rs, pod("cart-1", cart_rs, [waiting(
            "cart", "harbor/cart:3", "CreateContainerConfigError",
            f"couldn't find key databse_url in ConfigMap {NS}/shop-config")])])

    # 6. catalog: healthy, for comparison.
    catalog = deployment("catalog", NS, {"containers": [container("catalog", "harbor/catalog:5", probe_path=None)]},
                         revision=1, replicas=1, ready=1)
    catalog_rs = replicaset(catalog, 1, catalog["spec"]["template"]["spec"], replicas=1, ready=1)
    cluster.add_all([catalog, catalog_rs, pod("catalog-1", catalog_rs, [running("catalog", "harbor/catalog:5")],
                                              ready=True)])
    cluster.set_log(NS, "catalog-1", "catalog", lines(*(f"served product {n}" for n in range(500))))

    # Noise that must not appear: another namespace, an event outside the window.
    cluster.add(configmap("other-secret-stuff", "other-team", {"x": "y"}))
    cluster.add(event("other-team", "Pod", "intruder", "Unhealthy", "Readiness probe failed: other", 2))
    cluster.add(event(NS, "Pod", "shop-frontend-old", "Killing", "Stopping container web (ANCIENT)", 600,
                      kind_of_event="Normal"))
