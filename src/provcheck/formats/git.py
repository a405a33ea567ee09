"""Git plumbing on a repository, with a hardened environment (no system or global config,
no hooks, no replace objects, no fsmonitor): nothing in the repository runs.

``is_repo(path)``, ``resolve_ref(repo, ref)``, ``tags(repo)``, ``ls_tree(repo, commit)``
-> ``[(mode, type, sha, path)]``, ``entry_node(...)`` -> a tree node for one entry,
``cat_blobs(repo, [(sha, node)], ctx)`` -> the nodes with their blobs in the store.
"""

from provcheck.unpack.git import cat_blobs, entry_node, is_repo, ls_tree, resolve_ref, tags

__all__ = ["cat_blobs", "entry_node", "is_repo", "ls_tree", "resolve_ref", "tags"]
