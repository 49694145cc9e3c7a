#!/bin/sh
# demo.sh - create the demo server and its backup target under ./var from config.yaml, once.
# Afterwards: a server with mail databases and NLOs, one full backup, and some traffic since,
# so that every console screen has something to show.
set -eu
cd "$(dirname "$0")/.."
cfg=${DV_CONFIG:-config.yaml}
if [ ! -d var/data/mail ]; then
    echo "demo: creating the demo server under ./var (dvload init)"
    ./dvload -c "$cfg" init --databases 8 --docs 60
fi
if [ ! -f var/backup/target.json ]; then
    echo "demo: creating the backup target (dvault target init)"
    ./dvault -c "$cfg" target init
fi
if [ ! -f var/catalog.db ] || ! ./dvault -c "$cfg" sets 2>/dev/null | grep -q complete; then
    echo "demo: first full backup into var/backup"
    ./dvault -c "$cfg" backup --full
    echo "demo: some traffic after the backup (dvload run)"
    ./dvload -c "$cfg" run --seconds 3 --writers 2
fi
