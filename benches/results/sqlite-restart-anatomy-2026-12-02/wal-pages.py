#!/usr/bin/env python3
"""usage: wal-pages.py CAPTURE_DIR STAMP... — for each copy made by gw-capture.sh: every frame in
the WAL file (whatever generation: the log is written over from the top after each restart),
counted by the b-tree (table or index) its page belongs to in that moment's database, and the
frames per commit."""
import collections, os, shutil, sqlite3, struct, sys, tempfile

def btree_of_page(db, wal):
    """Page number → b-tree name, from a consistent copy of the database with its log."""
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(db, f"{d}/x.db")
        shutil.copy(wal, f"{d}/x.db-wal")
        conn = sqlite3.connect(f"{d}/x.db")
        pages = dict((p, n) for n, p in conn.execute("SELECT name, pageno FROM dbstat"))
        conn.close()
    return pages

def frames(wal):
    data = open(wal, "rb").read()
    size = struct.unpack(">I", data[8:12])[0]
    at = 32
    while at + 24 + size <= len(data):
        page, commit = struct.unpack(">II", data[at:at + 8])
        if page:
            yield page, commit
        at += 24 + size

def main():
    directory = sys.argv[1]
    for stamp in sys.argv[2:]:
        db, wal = f"{directory}/{stamp}.db", f"{directory}/{stamp}.wal"
        names = btree_of_page(db, wal)
        by_tree = collections.Counter()
        total = commits = 0
        for page, commit in frames(wal):
            total += 1
            commits += commit != 0
            by_tree[names.get(page, "(freelist or unknown)")] += 1
        print(f"## {stamp}: {total} frames, {commits} commits, {total / max(commits, 1):.1f} frames per commit\n")
        print("| b-tree | frames | share | per commit |")
        print("|---|---|---|---|")
        for name, n in by_tree.most_common():
            print(f"| {name} | {n} | {100 * n / total:.1f} % | {n / max(commits, 1):.2f} |")
        print()

main()
