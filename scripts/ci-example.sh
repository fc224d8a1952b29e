#!/usr/bin/env bash
# What a CI job runs to test a Pycom project on pycom-sim: copy it into your repository.
#
#   SHARD=2 SHARDS=4 scripts/ci-example.sh [SCENARIO_DIR]
#
# Runs the SHARD-th of SHARDS stable shares of the scenario files (by a hash of each path, so
# every runner of a matrix takes a different share and together they take all), writes
# junit-SHARD.xml for the CI's test reporter, and exits with pycom-sim's status: 0 all passed,
# 1 an expectation failed, 2 a bad scenario file, 42 a wait timed out.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-tests/scenarios}"
shard="${SHARD:-1}"
shards="${SHARDS:-1}"

# In your project: `cargo install --git <pycom-sim repository> pycom-sim`, or a release binary.
cargo build --release --locked --bin pycom-sim
sim="${CARGO_TARGET_DIR:-target}/release/pycom-sim"

# A flash file can be prepared offline, without booting the device, and a scenario copies it
# (flash = "../ci.flash" in its TOML) — here we only show that the files land there.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$sim" run --time virtual --flash "$work/ci.flash" </dev/null >/dev/null
printf "print('hello from CI')\n" >"$work/main.py"
"$sim" fs put "$work/main.py" /flash/main.py --flash "$work/ci.flash"
"$sim" fs ls /flash --flash "$work/ci.flash"

status=0
"$sim" scenario "$dir" --partition "$shard/$shards" --junit "junit-$shard.xml" || status=$?
echo "scenarios (share $shard of $shards): exit status $status; JUnit report junit-$shard.xml"
exit "$status"
