#!/usr/bin/env bash
# The whole job on the bundled sample publication, offline and with no secrets:
# import the sample subscribers, preview this issue, send it through the file backend
# (one .eml per reader in examples/outbox/), and show the recorded issue.
# Running it again sends nothing: the issue is already sent.
set -euo pipefail
cd "$(dirname "$0")"
DIGEST=${DIGEST:-digest}
CONFIG=digest.toml

$DIGEST subscribers import subscribers.csv --confirmed --config "$CONFIG"
$DIGEST preview --config "$CONFIG" --out preview
$DIGEST send --yes --config "$CONFIG"
$DIGEST issues list --config "$CONFIG"
echo "the emails: $(pwd)/outbox/"
ls outbox
