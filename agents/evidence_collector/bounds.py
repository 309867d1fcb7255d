"""The bounds of one collection: the byte budget (shared by object files and logs), log tails, the deadline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    total_bytes: int = 50 * 1024 * 1024
    log_bytes: int = 256 * 1024
    tail_lines: int = 2000
    concurrency: int = 8
    deadline_seconds: float = 300.0
    healthy_tail_lines: int = 200  # containers with nothing wrong get a short tail, for comparison
    excerpt_head: int = 20
    excerpt_tail: int = 60
    stream_seconds: float = 60.0  # one log stream's time, whatever the server does

    def section_cap(self, name: str) -> int:
        """Object files share the budget with the logs: pods and events a quarter each, others less."""
        return self.total_bytes // (4 if name in ("objects/pods.jsonl", "objects/events.jsonl") else 16)

    def list_bytes(self, plural: str) -> int:
        """Bytes of answers a list is read to at most; then it is cut, with a gap (a list that never ends, a
        namespace of 100,000 pods): what is held of it stays bounded whatever the API has.

        Twice its section's share for pods (whose managedFields are left out; they are read no further
        anyway once pods.jsonl is full) and for the lists held whole until written (also left out: 3,000 Services
        as `kubectl apply` leaves them are 4.8 MB of answers, 3.1 MB written; at most LISTED_WHOLE). Events and
        ConfigMaps are reduced as they are read (to the window's, spooled to disk; to names and keys, at most
        CONFIGMAPS_LISTED of them): twice and eight times the whole budget (200 dashboards of 900 KB are
        read), a backstop for a list that never ends. "owners": the owners asked for one by one (a GET per
        ownerReference), held until owners.jsonl is written, without managedFields: twice its share. "replicasets":
        the Deployments' lists, read eight at once, share twice the owners' share, less what the older ones' history
        leaves out (Collector._replicasets_of): what is held of them all, not of each."""
        if plural == "events":
            return 2 * self.total_bytes
        if plural == "configmaps":
            return 8 * self.total_bytes
        if plural == "replicasets":
            return 2 * self.section_cap("objects/owners.jsonl")
        return 2 * self.section_cap(f"objects/{plural}.jsonl")
