#!/usr/bin/env python3
"""The sweep at scale: what selecting the due grants costs at 100,000 and 1,000,000 grants.

Seeds a SQLite database built from migrations/ (the engine and schema local D1 uses) straight
with grants, then times the sweep's own statement (store::sweep::TAKE_DUE, as the store's
registry prints it, so the benchmark cannot drift from the code): one page of PAGE rows, each
run rolled back so the rows stay due, and shows its query plan. Taking every due page follows
the sweep's cursor. The same due count at both sizes shows whether the cost grows
with what is due or with what is stored; a larger due count at the larger size shows the other.

    python3 scripts/bench-sweep.py [--sizes 100000,1000000] [--due 1000] [--runs 50]
Prints one JSON object per case.
"""
import argparse, glob, json, os, random, sqlite3, statistics, subprocess, tempfile, time

PAGE = 100  # core::grant::sweep::PAGE_SIZE
NOW = 1_800_000_000_000
DAY = 86_400_000


def take_due_statement(root):
    """store::sweep::TAKE_DUE's SQL text, as the store's registry prints it (its own text)."""
    out = subprocess.run(
        ["cargo", "test", "-q", "-p", "evergreen", "--lib", "print_every_statement", "--",
         "--ignored", "--nocapture"],
        cwd=root, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("STATEMENT\tsweep.take_due\t"):
            return line.split("\t", 2)[2]
    raise SystemExit("sweep.take_due is not in the store's registry")


START = (-(2**63), "")


def database(root, size, due):
    path = os.path.join(tempfile.mkdtemp(prefix="evergreen-sweep-"), "d1.sqlite")
    db = sqlite3.connect(path)
    for migration in sorted(glob.glob(os.path.join(root, "migrations", "*.sql"))):
        with open(migration) as f:
            db.executescript(f.read())
    db.execute("INSERT INTO tenants (id, name, created_at) VALUES ('ten_bench', 'bench', ?)", (NOW,))
    rng = random.Random(size * 31 + due)

    def rows():
        for i in range(size):
            if i < due:
                next_check = NOW - rng.randrange(1, DAY)          # due now
            elif rng.random() < 0.3:
                next_check = None                                 # on demand: never swept
            else:
                next_check = NOW + rng.randrange(60_000, 150 * DAY)
            yield (f"gr_{i:08d}", "x" if next_check is None else "youtube", str(i),
                   "client", f"user-{i}", "on_demand" if next_check is None else "proactive",
                   next_check, NOW - DAY, NOW - DAY)

    db.executemany(
        "INSERT INTO grants (id, tenant_id, provider, provider_account_id, client_id, end_user_ref, "
        "refresh_policy, next_check_at, created_at, updated_at) "
        "VALUES (?1, 'ten_bench', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        rows(),
    )
    db.commit()
    db.execute("ANALYZE")
    return db, path


def params(cursor):
    # ?1 lease until, ?2 now, ?3 page size, ?4 and ?5 the cursor.
    return (NOW + 60_000, NOW, PAGE) + cursor


def measure(db, take, runs):
    times = []
    for _ in range(runs):
        db.execute("SAVEPOINT run")
        t0 = time.perf_counter()
        taken = db.execute(take, params(START)).fetchall()
        times.append((time.perf_counter() - t0) * 1000)
        db.execute("ROLLBACK TO run")
        db.execute("RELEASE run")
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + take, params(START))]
    return statistics.median(times), len(taken), plan


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    take = take_due_statement(root)
    sizes = [int(s) for s in args.sizes.split(",")]
    cases = [(n, args.due) for n in sizes] + [(sizes[-1], args.due * 10)]
    for size, due in cases:
        t0 = time.perf_counter()
        db, path = database(root, size, due)
        seeded = time.perf_counter() - t0
        median_ms, taken, plan = measure(db, take, args.runs)
        # Every page of the due grants, as the sweep takes them one page after another.
        t1 = time.perf_counter()
        pages, cursor = 0, START
        while True:
            rows = db.execute(take, params(cursor)).fetchall()
            if not rows:
                break
            cursor = max((r[1], r[0]) for r in rows)
            pages += 1
        all_pages_ms = (time.perf_counter() - t1) * 1000
        print(json.dumps({
            "grants": size, "due": due, "page": PAGE, "taken": taken,
            "take_page_ms_median": round(median_ms, 3),
            "take_every_due_page_ms": round(all_pages_ms, 1), "pages": pages,
            "plan": plan, "seed_s": round(seeded, 1), "sqlite": sqlite3.sqlite_version,
        }))
        db.close()
        os.remove(path)


if __name__ == "__main__":
    main()
