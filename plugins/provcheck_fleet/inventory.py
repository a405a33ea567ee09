"""The fleet inventory: one SQLite file, no server.

Layers, their files and ELF facts are stored once per layer digest and shared by every
image that uses them; components once per purl; linkage graphs once per distinct edge
set. Per image: tags, digests, layer stack, components (with the layer of their
package record), attestations, findings, errors, the scan time and provcheck version.
Queries answer from indexes without touching layer data except for the few affected
files (see ``query.py``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from provcheck import __version__ as PROVCHECK_VERSION

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS scans (
  id INTEGER PRIMARY KEY, started REAL, finished REAL, provcheck_version TEXT, sources TEXT,
  executor TEXT, images INTEGER, errors INTEGER);
CREATE TABLE IF NOT EXISTS paths (id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS layers (
  id INTEGER PRIMARY KEY, digest TEXT UNIQUE NOT NULL, size INTEGER, media_type TEXT,
  files INTEGER, complete INTEGER, scanned_at REAL);
CREATE TABLE IF NOT EXISTS layer_files (
  layer_id INTEGER NOT NULL, path_id INTEGER NOT NULL, type TEXT, sha256 TEXT, size INTEGER, mode INTEGER,
  link_target TEXT, PRIMARY KEY (path_id, layer_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS elf (
  sha256 TEXT PRIMARY KEY, type TEXT, soname TEXT, needed TEXT, runpath TEXT, interp TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS images (
  id INTEGER PRIMARY KEY, registry TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT, index_digest TEXT,
  platform TEXT, config_digest TEXT, mode TEXT, status TEXT NOT NULL, error TEXT, scanned_at REAL,
  provcheck_version TEXT, scan_id INTEGER, graph_id INTEGER, files INTEGER, components INTEGER,
  UNIQUE (registry, repository, digest));
CREATE TABLE IF NOT EXISTS tags (
  registry TEXT NOT NULL, repository TEXT NOT NULL, tag TEXT NOT NULL, image_id INTEGER NOT NULL,
  PRIMARY KEY (registry, repository, tag, image_id));
CREATE INDEX IF NOT EXISTS tags_image ON tags (image_id);
CREATE TABLE IF NOT EXISTS image_layers (
  image_id INTEGER NOT NULL, idx INTEGER NOT NULL, layer_id INTEGER NOT NULL, PRIMARY KEY (image_id, idx));
CREATE TABLE IF NOT EXISTS components (
  id INTEGER PRIMARY KEY, purl TEXT UNIQUE NOT NULL, type TEXT, name TEXT, version TEXT, source TEXT,
  source_version TEXT, arch TEXT, origin TEXT);
CREATE INDEX IF NOT EXISTS components_name ON components (name);
CREATE INDEX IF NOT EXISTS components_source ON components (source);
CREATE TABLE IF NOT EXISTS component_files (
  component_id INTEGER NOT NULL, path_id INTEGER NOT NULL, PRIMARY KEY (component_id, path_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS image_components (
  image_id INTEGER NOT NULL, component_id INTEGER NOT NULL, layer_id INTEGER, db_path TEXT, answered_by TEXT,
  PRIMARY KEY (component_id, image_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS image_components_image ON image_components (image_id);
CREATE TABLE IF NOT EXISTS graphs (id INTEGER PRIMARY KEY, hash TEXT UNIQUE NOT NULL, edges INTEGER);
CREATE TABLE IF NOT EXISTS edges (
  graph_id INTEGER NOT NULL, src_id INTEGER NOT NULL, dst_id INTEGER NOT NULL, soname TEXT,
  PRIMARY KEY (graph_id, dst_id, src_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attestations (
  image_id INTEGER NOT NULL, kind TEXT, how TEXT, digest TEXT, media_type TEXT, artifact_type TEXT,
  tag TEXT, used INTEGER);
CREATE INDEX IF NOT EXISTS attestations_image ON attestations (image_id);
CREATE TABLE IF NOT EXISTS findings (
  image_id INTEGER NOT NULL, rule_id TEXT, severity TEXT, message TEXT, path TEXT, layer TEXT, key TEXT,
  evidence TEXT);
CREATE INDEX IF NOT EXISTS findings_image ON findings (image_id);
"""


class Inventory:
    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"{path}: no such inventory")
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._check()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            self.db.commit()
            self._check()
        self._paths: dict[str, int] = {}
        self._with_files: set[int] = set()
        # every path with an id up to this one is in ``_paths`` (-1: not known), so interning
        # into an inventory only this connection wrote needs no lookups
        self._complete_to = -1 if readonly else self.db.execute("SELECT coalesce(max(id), 0) FROM paths").fetchone()[0]
        if self._complete_to:
            self._complete_to = -1

    def _check(self) -> None:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path}: not a provcheck inventory ({exc})") from None
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise ValueError(f"{self.path}: inventory schema {row[0] if row else '?'}, this provcheck reads {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    # -- writing -------------------------------------------------------------------------
    def path_id(self, path: str) -> int:
        pid = self._paths.get(path)
        if pid is None:
            cur = self.db.execute("INSERT INTO paths (path) VALUES (?) ON CONFLICT(path) DO UPDATE SET path=path "
                                  "RETURNING id", (path,))
            pid = cur.fetchone()[0]
            self._paths[path] = pid
            if pid == self._complete_to + 1 and self._complete_to >= 0:
                self._complete_to = pid
        return pid

    def intern(self, paths: Iterable[str]) -> None:
        """Path ids for many paths at once. Called inside a write transaction (the caller
        wrote first), so no other writer can add paths until it commits."""
        new = sorted({p for p in paths if p not in self._paths})
        if not new:
            return
        top = self.db.execute("SELECT coalesce(max(id), 0) FROM paths").fetchone()[0]
        complete = top == self._complete_to
        if not complete:  # paths other scans wrote: look them up (one query per 500)
            for chunk in iter_chunks(new):
                marks = ",".join("?" * len(chunk))
                self._paths.update({p: i for i, p in self.db.execute(
                    f"SELECT id, path FROM paths WHERE path IN ({marks})", chunk)})
            new = [p for p in new if p not in self._paths]
        rows = list(enumerate(new, top + 1))
        self.db.executemany("INSERT INTO paths (id, path) VALUES (?,?)", rows)
        self._paths.update((p, i) for i, p in rows)
        if complete:
            self._complete_to = top + len(rows)

    def start_scan(self, sources: list[str], executor: str) -> int:
        cur = self.db.execute("INSERT INTO scans (started, provcheck_version, sources, executor) VALUES (?,?,?,?)",
                              (time.time(), PROVCHECK_VERSION, json.dumps(sources), executor))
        self.db.commit()
        return cur.lastrowid

    def finish_scan(self, scan_id: int, images: int, errors: int) -> None:
        self.db.execute("UPDATE scans SET finished=?, images=?, errors=? WHERE id=?", (time.time(), images, errors,
                                                                                      scan_id))
        self.db.commit()

    def known_images(self) -> frozenset:
        """(registry, repository, digest) of every image this provcheck version scanned completely."""
        return frozenset(self.db.execute("SELECT registry, repository, digest FROM images WHERE status='ok' AND "
                                         "provcheck_version=? AND digest IS NOT NULL", (PROVCHECK_VERSION,)))

    def add_tag(self, registry: str, repository: str, tag: str, digest: str) -> None:
        """Point ``tag`` at an image already in the inventory (a resumed or unchanged image)."""
        row = self.db.execute("SELECT id FROM images WHERE registry=? AND repository=? AND digest=?",
                              (registry, repository, digest)).fetchone()
        if row is not None:
            self.db.execute("DELETE FROM tags WHERE registry=? AND repository=? AND tag=?", (registry, repository, tag))
            self.db.execute("INSERT OR IGNORE INTO tags VALUES (?,?,?,?)", (registry, repository, tag, row[0]))
            self.db.commit()

    def layer_id(self, res: dict[str, Any]) -> int:
        row = self.db.execute("SELECT id FROM layers WHERE digest=?", (res["digest"],)).fetchone()
        if row is not None:
            return row[0]
        files = res.get("files") or []
        cur = self.db.execute("INSERT INTO layers (digest, size, media_type, files, complete, scanned_at) "
                              "VALUES (?,?,?,?,?,?)", (res["digest"], res.get("size"), res.get("media_type"),
                                                       len(files), int(bool(res.get("complete", True))), time.time()))
        lid = cur.lastrowid
        self.intern(f[0] for f in files)
        paths = self._paths
        rows = {paths[p]: (lid, paths[p], t, s, z, m, lt) for p, t, s, z, m, lt in files}  # a path twice: the last
        self.db.executemany("INSERT INTO layer_files VALUES (?,?,?,?,?,?,?)", [rows[k] for k in sorted(rows)])
        self.db.executemany("INSERT OR IGNORE INTO elf VALUES (?,?,?,?,?,?)",
                            [(sha, i.get("type"), i.get("soname"), json.dumps(i.get("needed") or []),
                              json.dumps(_split(i.get("runpath")) + _split(i.get("rpath"))), i.get("interp"))
                             for sha, i in (res.get("elf") or {}).items()])
        return lid

    def graph_id(self, edges: list[tuple[str, str, str]]) -> int | None:
        if not edges:
            return None
        key = hashlib.sha256("\n".join(f"{a}\0{b}\0{s}" for a, b, s in sorted(edges)).encode()).hexdigest()
        row = self.db.execute("SELECT id FROM graphs WHERE hash=?", (key,)).fetchone()
        if row is not None:
            return row[0]
        gid = self.db.execute("INSERT INTO graphs (hash, edges) VALUES (?,?)", (key, len(edges))).lastrowid
        self.db.executemany("INSERT OR IGNORE INTO edges VALUES (?,?,?,?)",
                            [(gid, self.path_id(a), self.path_id(b), s) for a, b, s in edges])
        return gid

    def component_id(self, c: Any) -> int:
        row = self.db.execute("SELECT id FROM components WHERE purl=?", (c.purl,)).fetchone()
        if row is not None and (row[0] in self._with_files or not c.files):
            return row[0]  # file lists are per purl: written once
        cur = self.db.execute(
            "INSERT INTO components (purl, type, name, version, source, source_version, arch, origin) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(purl) DO UPDATE SET purl=purl RETURNING id",
            (c.purl, c.type, c.name, c.version, c.source, c.source_version, c.arch, c.origin))
        cid = cur.fetchone()[0]
        if c.files:
            self.intern(c.files)
            self.db.executemany("INSERT OR IGNORE INTO component_files VALUES (?,?)",
                                [(cid, self.path_id(p)) for p in c.files])
            self._with_files.add(cid)
        return cid

    def write_image(self, img: dict[str, Any], scan_id: int) -> int:
        """Replace the inventory's record of one image (all in one transaction)."""
        return self.write_images([img], scan_id)[0]

    def write_images(self, imgs: list[dict[str, Any]], scan_id: int) -> list[int]:
        """Replace the inventory's records of these images, all in one transaction."""
        try:
            with self.db:
                return [self._write_image(img, scan_id) for img in imgs]
        except BaseException:  # rolled back: ids learnt in the transaction may not exist
            self._paths.clear()
            self._with_files.clear()
            self._complete_to = -1
            raise

    def _write_image(self, img: dict[str, Any], scan_id: int) -> int:
        db = self.db
        old = db.execute("SELECT id FROM images WHERE registry=? AND repository=? AND digest IS ?",
                         (img["registry"], img["repository"], img.get("digest"))).fetchone()
        stale = [old[0]] if old is not None else []
        if img["status"] == "ok":  # earlier failures of this reference are superseded
            stale += [r[0] for r in db.execute(
                "SELECT i.id FROM images i WHERE i.registry=? AND i.repository=? AND i.status!='ok' AND "
                "(i.digest IS NULL OR i.digest=?)", (img["registry"], img["repository"], img.get("digest")))]
        for sid in sorted(set(stale)):
            for table in ("tags", "image_layers", "image_components", "attestations", "findings"):
                db.execute(f"DELETE FROM {table} WHERE image_id=?", (sid,))
            db.execute("DELETE FROM images WHERE id=?", (sid,))
        layer_ids = [self.layer_id(res) for res in img.get("layers") or ()]
        gid = self.graph_id(img.get("edges") or [])
        cur = db.execute(
            "INSERT INTO images (registry, repository, digest, index_digest, platform, config_digest, mode, "
            "status, error, scanned_at, provcheck_version, scan_id, graph_id, files, components) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (img["registry"], img["repository"], img.get("digest"), img.get("index_digest"), img.get("platform"),
             img.get("config_digest"), img.get("mode"), img["status"], img.get("error"), time.time(),
             PROVCHECK_VERSION, scan_id, gid, img.get("files"), len(img.get("components") or ())))
        iid = cur.lastrowid
        for tag in img.get("tags") or ():
            db.execute("DELETE FROM tags WHERE registry=? AND repository=? AND tag=?",
                       (img["registry"], img["repository"], tag))
            db.execute("INSERT OR IGNORE INTO tags VALUES (?,?,?,?)", (img["registry"], img["repository"], tag, iid))
        db.executemany("INSERT INTO image_layers VALUES (?,?,?)", [(iid, i, lid) for i, lid in enumerate(layer_ids)])
        by_digest = {res["digest"]: lid for res, lid in zip(img.get("layers") or (), layer_ids)}
        rows = []
        for c, answered_by in img.get("components") or ():
            rows.append((iid, self.component_id(c), by_digest.get(c.layer), c.db_path, answered_by))
        db.executemany("INSERT OR IGNORE INTO image_components VALUES (?,?,?,?,?)", rows)
        db.executemany("INSERT INTO attestations VALUES (?,?,?,?,?,?,?,?)",
                       [(iid, a.get("kind"), a.get("how"), a.get("digest"), a.get("media_type"),
                         a.get("artifact_type"), a.get("tag"), int(bool(a.get("used"))))
                        for a in img.get("attestations") or ()])
        db.executemany("INSERT INTO findings VALUES (?,?,?,?,?,?,?,?)",
                       [(iid, f["rule_id"], f.get("severity"), f.get("message"), f.get("path"), f.get("layer"),
                         f.get("key"), json.dumps(f.get("evidence") or {}, default=str))
                        for f in img.get("findings") or ()])
        return iid

    # -- reading -------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        q = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {"images": q("SELECT count(*) FROM images"),
                "images_ok": q("SELECT count(*) FROM images WHERE status='ok'"),
                "images_failed": q("SELECT count(*) FROM images WHERE status!='ok'"),
                "layers": q("SELECT count(*) FROM layers"), "components": q("SELECT count(*) FROM components"),
                "tags": q("SELECT count(*) FROM tags")}


def _split(v: Any) -> list[str]:
    if isinstance(v, str):
        return [p for p in v.split(":") if p]
    return list(v or [])


def iter_chunks(items: list[Any], n: int = 500) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]
