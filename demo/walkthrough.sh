#!/usr/bin/env bash
# A narrated tour of artver: track a dataset next to Git, change it, travel back in history and
# get the exact bytes back; then a two-stage pipeline that re-runs only what a change affects.
#
# Run it with `make demo` (which puts .venv/bin on PATH), or directly:
#     PATH="$PWD/.venv/bin:$PATH" bash demo/walkthrough.sh
# Everything happens in a fresh temporary directory, removed at the end unless KEEP=1.
set -euo pipefail

command -v artver >/dev/null || {
    echo "artver is not on PATH: run \`make demo\`, or put .venv/bin on PATH" >&2
    exit 1
}

# --- a clean stage ---------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/artver-demo.XXXXXX")"
cleanup() {
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo
        echo "KEEP=1: the demo repository is left in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'echo "✗ the demo stopped: \`$BASH_COMMAND\` failed" >&2' ERR

# Our own Git identity and an empty Git/artver user configuration, so that nothing on this
# machine (a signing requirement, another default branch, a global cache.dir) changes the story.
export GIT_AUTHOR_NAME="artver demo" GIT_AUTHOR_EMAIL="demo@example.com"
export GIT_COMMITTER_NAME="artver demo" GIT_COMMITTER_EMAIL="demo@example.com"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export ARTVER_GLOBAL_CONFIG="$WORK/artver-global.yaml"

# One stream, so that messages (stderr) and results (stdout) stay in order in a log too.
exec 2>&1

if [[ -t 1 ]]; then
    BOLD=$'\033[1m' DIM=$'\033[2m' GREEN=$'\033[32m' RED=$'\033[31m' RESET=$'\033[0m'
else
    BOLD="" DIM="" GREEN="" RED="" RESET=""
fi

# Print a command as `$ cmd`, then run it. Quoted strings may use pipes and redirections.
run() {
    printf '\n%s$ %s%s\n' "$BOLD" "$1" "$RESET"
    eval "$1"
}

# A short explanation, printed as `# comment` lines (one argument per line).
say() {
    printf '\n'
    local line
    for line in "$@"; do
        printf '%s# %s%s\n' "$DIM" "$line" "$RESET"
    done
}

# One checksum for a whole directory: every file's path and bytes, in a fixed order.
checksum() {
    python3 - "$1" <<'EOF'
import hashlib, os, sys

digest = hashlib.sha256()
for folder, dirs, files in sorted(os.walk(sys.argv[1])):
    for name in sorted(files):
        path = os.path.join(folder, name)
        digest.update(os.path.relpath(path, sys.argv[1]).encode() + b"\0")
        with open(path, "rb") as fobj:
            digest.update(hashlib.sha256(fobj.read()).digest())
print(digest.hexdigest()[:16])
EOF
}

# Compare two values; ✓ and go on, or ✗ and stop the demo with a non-zero exit code.
expect_same() {
    local what="$1" got="$2" want="$3"
    if [[ "$got" == "$want" ]]; then
        printf '%s✓ %s (%s)%s\n' "$GREEN" "$what" "$got" "$RESET"
    else
        printf '%s✗ %s: got %s, expected %s%s\n' "$RED" "$what" "$got" "$want" "$RESET"
        exit 1
    fi
}

cd "$WORK"
mkdir project
cd project

# --- 1. a Git repository with artver in it ---------------------------------------------------
say "artver lives next to Git: first an ordinary Git repository, then artver init."
run "git init -q -b main"
run "artver init"
run "git add .artver/.gitignore .artver/config.yaml && git commit -q -m 'Initialise artver'"

# --- 2. a dataset ----------------------------------------------------------------------------
say "A small, deterministic dataset: 300 CSV files in nested directories and one 20 MiB blob."
run "python3 - <<'EOF'
import os, random

rng = random.Random(20240601)
for region in ('north', 'south', 'east', 'west', 'central'):
    for month in range(1, 13):
        folder = f'data/sales/{region}/2024-{month:02d}'
        os.makedirs(folder, exist_ok=True)
        for shop in range(5):
            rows = [f'{day},{shop},{rng.randint(0, 999)}' for day in range(1, 29)]
            with open(f'{folder}/shop{shop}.csv', 'w') as fobj:
                fobj.write('day,shop,units\\n' + '\\n'.join(rows) + '\\n')
with open('data/embeddings.bin', 'wb') as fobj:
    fobj.write(rng.randbytes(20 * 1024 * 1024))
EOF"
run "find data -type f | wc -l && du -sh data"

# --- 3. track it -----------------------------------------------------------------------------
say "artver add hashes every file (XXH3-128), copies it into .artver/cache, writes the small" \
    "pointer file data.artver and adds /data to .gitignore. It prints the git add to run."
run "artver add data"
run "cat data.artver"
run "cat .gitignore"
say "Git gets the pointer, never the bytes."
run "git add .gitignore data.artver && git commit -q -m 'Sales data v1' && git tag v1"
V1_SUM="$(checksum data)"
echo "checksum of data/ at v1: $V1_SUM"

# --- 4. a new version ------------------------------------------------------------------------
say "Change the data: late rows for three shops, a new summary file, one bad file dropped."
run "echo '29,0,17' >> data/sales/north/2024-03/shop0.csv"
run "echo '29,1,4' >> data/sales/east/2024-07/shop1.csv"
run "echo '29,2,0' >> data/sales/west/2024-11/shop2.csv"
run "printf 'region,units\\nnorth,1234\\n' > data/sales/summary.csv"
run "rm data/sales/south/2024-05/shop4.csv"
say "artver status names what changed inside the tracked directory (exit code 0: it is a report)."
run "artver status"
say "Record it. Only the changed files are read again: the state DB (.artver/state.db) knows" \
    "the others by inode, mtime and size."
run "artver add data"
run "git add data.artver && git commit -q -m 'Sales data v2' && git tag v2"
V2_SUM="$(checksum data)"
echo "checksum of data/ at v2: $V2_SUM"
run "git log --oneline --decorate"
say "Two versions of 20 MiB, yet the cache holds little more than one: an object is stored" \
    "once, whichever versions use it."
run "du -sh .artver/cache"

# --- 5. travel in time -----------------------------------------------------------------------
say "Back to v1: git restores the pointer, artver checkout restores the bytes it points to."
run "git checkout -q v1"
run "artver checkout"
expect_same "data/ is byte-for-byte v1" "$(checksum data)" "$V1_SUM"
run "artver status"

say "And forward to v2 (the tip of main) again."
run "git checkout -q main"
run "artver checkout"
expect_same "data/ is byte-for-byte v2" "$(checksum data)" "$V2_SUM"

# --- 6. what is tracked, and how -------------------------------------------------------------
run "artver ls"
say "doctor prints what a bug report needs: versions, the cache, the link type that works here."
run "artver doctor"

# --- 7. nothing lost -------------------------------------------------------------------------
say "An edit that was never recorded exists nowhere but in the workspace. artver checkout" \
    "will not overwrite it: it stops, names the file and exits 1. This failure is expected."
run "echo '30,0,99' >> data/sales/north/2024-03/shop0.csv"
rc=0
run "artver checkout" || rc=$?
expect_same "checkout refused with exit code 1" "$rc" 1
say "To throw the edit away on purpose, say so with --force."
run "artver checkout --force"
expect_same "data/ is byte-for-byte v2" "$(checksum data)" "$V2_SUM"

# --- 8. a pipeline ---------------------------------------------------------------------------
say "A pipeline turns the data into results. Two stages: summarise totals the units per region" \
    "(with a threshold from params.yaml), report ranks the regions and writes metrics."
run "cat > params.yaml <<'EOF'
summarise:
  min_units: 10
report:
  top: 3
EOF"
run "mkdir -p src && cat > src/params.py <<'EOF'
def param(section, key):
    \"\"\"A value from params.yaml (two levels deep is all this demo needs).\"\"\"
    current = None
    for line in open('params.yaml'):
        if line.strip() and not line.startswith(' '):
            current = line.strip().rstrip(':')
        elif current == section and line.strip().startswith(key + ':'):
            return int(line.split(':', 1)[1])
    raise KeyError(f'{section}.{key}')
EOF"
run "cat > src/summarise.py <<'EOF'
import json, os, sys
from params import param

top, out = sys.argv[1], sys.argv[2]
minimum = param('summarise', 'min_units')
totals = {}
for region in sorted(os.listdir(top)):
    if not os.path.isdir(os.path.join(top, region)):
        continue
    for folder, _, files in os.walk(os.path.join(top, region)):
        for name in files:
            for row in list(open(os.path.join(folder, name)))[1:]:
                units = int(row.split(',')[2])
                if units >= minimum:
                    totals[region] = totals.get(region, 0) + units
with open(out, 'w') as f:
    json.dump(totals, f, indent=2, sort_keys=True)
print(f'summarised {len(totals)} regions')
EOF"
run "cat > src/report.py <<'EOF'
import json, sys
from params import param

totals = json.load(open(sys.argv[1]))
ranked = sorted(totals.items(), key=lambda kv: -kv[1])[: param('report', 'top')]
with open(sys.argv[2], 'w') as f:
    f.writelines(f'{region} {units}\\n' for region, units in ranked)
json.dump({'regions': len(totals), 'units': sum(totals.values()), 'best': ranked[0][1]},
          open(sys.argv[3], 'w'))
print('top regions:', ', '.join(region for region, _ in ranked))
EOF"
say "artver stage add writes each stage into artver.yaml: its command, the files it reads" \
    "(-d), the params it uses (-p), what it writes (-o) and its metrics (-m). data/sales is" \
    "tracked by data.artver; a stage can read it like any other file."
run "artver stage add -n summarise -d src/summarise.py -d src/params.py -d data/sales \\
    -p summarise.min_units -o summary/totals.json \\
    'python3 src/summarise.py data/sales summary/totals.json'"
run "artver stage add -n report -d src/report.py -d src/params.py -d summary/totals.json \\
    -p report.top -o summary/top.txt -m metrics.json \\
    'python3 src/report.py summary/totals.json summary/top.txt metrics.json'"
run "cat artver.yaml"
say "report reads what summarise writes, so it runs after it: that is the whole graph."
run "artver dag"
say "repro runs the stale stages in order and records what each ran with in artver.lock."
run "artver repro"
run "cat summary/top.txt"
run "git add artver.yaml artver.lock params.yaml src .gitignore summary/.gitignore metrics.json \\
    && git commit -q -m 'Pipeline: summarise and report'"
TOP3_SUM="$(checksum summary)"
TOP3_TOP="$(sha256sum summary/top.txt | cut -c1-16)"
PIPELINE_COMMIT="$(git rev-parse HEAD)"

say "Change one parameter. status says which stage is stale, and why."
run "sed -i.bak 's/top: 3/top: 2/' params.yaml && rm params.yaml.bak"
run "artver status"
run "artver params diff"
say "repro re-runs only report: summarise does not use report.top."
run "artver repro 2>&1 | tee repro.log"
expect_same "stages that ran" "$(grep -c '^Running stage' repro.log)" 1
run "cat summary/top.txt"
say "A change that does not change a stage's result stops there: a comment in summarise.py" \
    "re-runs summarise, which writes the same bytes, so report is not run again."
run "echo '# totals per region' >> src/summarise.py"
run "artver repro 2>&1 | tee repro.log"
expect_same "stages that ran" "$(grep -c '^Running stage' repro.log)" 1
run "rm repro.log"
run "artver metrics show"
run "git add params.yaml src artver.lock metrics.json && git commit -q -m 'Top 2 regions'"

say "Outputs are versioned like data: back at the previous commit, checkout restores them."
run "git checkout -q HEAD~1 && artver checkout"
expect_same "summary/ is the 3-region version" "$(checksum summary)" "$TOP3_SUM"
run "git checkout -q main && artver checkout"
run "artver status"

# --- 9. share it through a remote -------------------------------------------------------------
say "A remote holds the bytes for everyone else. Here a plain directory; s3:// and gs:// URLs" \
    "work the same way (see docs/remotes.md). -d makes it the default remote."
run "artver remote add -d shared \"$WORK/remote\""
run "git add .artver/config.yaml && git commit -q -m 'Add a remote'"
say "push uploads every object the pointers reference that the remote lacks: files first," \
    "each directory's manifest last. Both versions, with --all-commits."
run "artver push --all-commits"
say "A second push finds nothing to send: one check per dataset."
run "artver push"

say "A teammate clones the Git repository: pointers, but no data and an empty cache."
run "git clone -q \"$WORK/project\" \"$WORK/teammate\""
cd "$WORK/teammate"
run "ls; ls .artver"
say "pull = fetch (every object is hashed before it enters the cache) + checkout."
run "artver pull"
expect_same "the clone's data/ is byte-for-byte v2" "$(checksum data)" "$V2_SUM"
say "Older versions come from the remote too. fetch --rev reads v1's pointers straight from" \
    "Git (nothing is checked out) and fetches what they reference; checkout is then offline."
run "artver fetch --rev v1"
run "git checkout -q v1 && artver checkout"
expect_same "the clone's data/ is byte-for-byte v1" "$(checksum data)" "$V1_SUM"
cd "$WORK/project"

# --- 10. history -------------------------------------------------------------------------------
say "Every commit is a version of the data, and artver reads any of them straight from Git." \
    "diff says what changed between v1 and v2, file by file inside data/."
run "artver diff v1 v2"
say "The params of two commits (before and after 'Top 2 regions'), side by side;" \
    "artver metrics diff does the same for metrics files."
run "artver params diff HEAD~2 HEAD"
say "Only v1's data, without moving HEAD (status then reports data/ as modified)."
run "artver checkout --rev v1 data"
expect_same "data/ is byte-for-byte v1" "$(checksum data)" "$V1_SUM"
run "artver checkout"
say "The cache keeps every version; gc removes what nothing uses. --dry-run only lists." \
    "With --workspace, only the current versions are kept; --all-commits keeps all history."
run "artver gc --workspace --dry-run | tail -n 3"
run "artver gc --all-commits --dry-run"

# --- 11. a store you can prove ---------------------------------------------------------------
say "fsck re-hashes every object in the cache and checks every directory manifest;" \
    "it exits 0 only when everything is sound."
run "artver fsck"
say "A disk flips one byte of a cached file. fsck finds it and names the data that uses it;" \
    "--repair moves the bad copy to .artver/quarantine/ and fetches a verified one."
BAD_OID="$(python3 -c 'import sys, xxhash; print(xxhash.xxh3_128_hexdigest(open(sys.argv[1], "rb").read()))' \
    data/sales/north/2024-01/shop0.csv)"
run "chmod u+w .artver/cache/${BAD_OID:0:2}/${BAD_OID:2} && printf X | dd of=.artver/cache/${BAD_OID:0:2}/${BAD_OID:2} bs=1 seek=3 conv=notrunc status=none"
run "artver fsck || echo \"(exit code \$?)\""
run "artver fsck --repair"
run "artver fsck"
say "A tampered remote: someone uploads a manifest whose entry is ../escape, and commits a" \
    "pointer to it. pull refuses the whole manifest before writing a single file."
run "python3 - \"$WORK/remote\" <<'EOF'
import json, os, sys, xxhash

def put(oid, data):
    os.makedirs(os.path.join(sys.argv[1], oid[:2]), exist_ok=True)
    with open(os.path.join(sys.argv[1], oid[:2], oid[2:]), 'wb') as fobj:
        fobj.write(data)

payload = b'not yours\\n'
put(xxhash.xxh3_128_hexdigest(payload), payload)
manifest = json.dumps({'version': 1, 'files': [['../escape', xxhash.xxh3_128_hexdigest(payload),
                                                len(payload), 0]]}, separators=(',', ':')).encode()
oid = xxhash.xxh3_128_hexdigest(manifest) + '.dir'
put(oid, manifest)
with open('evil.artver', 'w') as fobj:
    fobj.write(f'outs:\\n- path: evil\\n  hash: xxh3-128\\n  oid: {oid}\\n  size: 10\\n')
EOF"
run "artver pull evil || echo \"(exit code \$?)\""
run "ls escape evil 2>&1 || true"
run "rm evil.artver"

# --- 12. proving a result ----------------------------------------------------------------------
say "verify re-runs stages away from the workspace, from the deps the lock records, and" \
    "compares every output byte for byte: is the pipeline deterministic?"
run "artver verify"
say "A stage that writes the time is not: verify names the file and the first line that differs."
run "cat > src/stamp.py <<'EOF'
import sys, time
with open(sys.argv[1], 'w') as f:
    f.write(open('summary/top.txt').read() + f'written at {time.time_ns()}\\n')
EOF"
run "artver stage add -n stamp -d src/stamp.py -d summary/top.txt -o summary/stamped.txt \\
    'python3 src/stamp.py summary/stamped.txt' && artver repro stamp -q"
run "artver verify stamp || echo \"(exit code \$?)\""
run "git add artver.yaml artver.lock src/stamp.py summary/.gitignore && git commit -q -m 'Stamp the report'"
say "lineage walks from an output back to the raw data: each stage's command, deps with" \
    "their oids, params and the commit that last changed it. log lists every version."
run "artver lineage summary/top.txt"
run "artver log summary/top.txt"
say "replay re-runs a stage as an older commit recorded it, straight from Git, and leaves" \
    "its outputs outside the workspace: here report as the commit 'Pipeline: summarise and" \
    "report' ran it, with top: 3 from that commit's params.yaml."
run "artver replay report --rev ${PIPELINE_COMMIT:0:8} -o \"$WORK/replayed\""
run "cat \"$WORK/replayed/summary/top.txt\""
expect_same "the replayed top.txt is the 3-region version" \
    "$(sha256sum "$WORK/replayed/summary/top.txt" | cut -c1-16)" "$TOP3_TOP"

# --- 13. experiments ---------------------------------------------------------------------------
say "Experiments try params without committing. Each runs in its own Git worktree, on top of" \
    "HEAD, and is recorded as a commit under refs/artver/exps/: the workspace stays as it is."
run "artver exp run -S summarise.min_units=50 -n strict"
run "git status --short"
say "A sweep queues the product of its values; --run-all runs the queue, two at a time here."
run "artver exp run --queue -S 'report.top=1,4'"
run "artver exp run --run-all -j 2"
say "One table: the baseline, then each experiment with its metrics and params."
run "artver exp show"
run "artver exp diff strict"
say "Keep one: apply writes its params, lock and metrics into the workspace and checks out its" \
    "outputs from the cache; commit it like any change."
run "artver exp apply strict"
run "cat summary/top.txt"
run "git add params.yaml artver.lock metrics.json && git commit -q -m 'min_units 50 (experiment strict)'"

# --- 14. plots ---------------------------------------------------------------------------------
say "Plots are declared in artver.yaml as dvc.yaml declares them. plots show writes one page" \
    "that opens with no network (Vega is inlined), and --png an image of each chart."
run "python3 -c \"import json; t = json.load(open('summary/totals.json'))
print('region,units'); print('\\n'.join(f'{k},{v}' for k, v in sorted(t.items())))\" > regions.csv"
run "cat >> artver.yaml <<'EOF'
plots:
  - regions.csv:
      template: bar_horizontal
      x: units
      y: region
      title: Units per region
EOF"
run "artver plots show --png"
run "ls artver_plots"

say "Done: two versions of 20 MiB of data, switched back and forth with their exact bytes," \
    "a pipeline that re-ran only the stage a parameter change affected, everything" \
    "shared through a remote with a fresh clone, results proven by re-running them," \
    "experiments compared side by side without touching the workspace, and a chart of it all."
