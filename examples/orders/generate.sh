#!/usr/bin/env bash
# Write one batch of order files into landing/orders/ (beside this script): N orders per
# file as JSON lines, plus the bad records a real feed has — a line that is not JSON, an
# order without an id and one from 2019. With --negative, one order has amount -5 (the
# `positive` expectation then fails silver_orders' update).
#   ./generate.sh [--files F] [--rows N] [--negative]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
files=1 rows=100 negative=0
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --negative) negative=1; shift ;;
    *) echo "usage: $0 [--files F] [--rows N] [--negative]" >&2; exit 2 ;;
  esac
done
mkdir -p "$here/landing/orders"
stamp="$(date +%Y%m%d%H%M%S)-$$-$RANDOM"
for f in $(seq 1 "$files"); do
  out="$here/landing/orders/orders-$stamp-$f.json"
  tmp="$here/landing/orders/.orders-$stamp-$f.json.tmp"   # hidden: readers skip it
  {
    for i in $(seq 1 "$rows"); do
      id=$(( (RANDOM << 15 | RANDOM) ))
      cents=$(( RANDOM % 10000 + 1 ))
      day=$(( RANDOM % 28 + 1 ))
      printf '{"order_id": %d, "amount": %d.%02d, "ts": "2024-03-%02d %02d:%02d:00"}\n' \
        "$id" $((cents / 100)) $((cents % 100)) "$day" $((RANDOM % 24)) $((RANDOM % 60))
    done
    if [ "$f" -eq 1 ]; then
      echo 'this line is not JSON'
      echo '{"order_id": null, "amount": 12.50, "ts": "2024-03-01 09:00:00"}'
      echo '{"order_id": 7, "amount": 3.25, "ts": "2019-06-30 23:59:00"}'
      if [ "$negative" -eq 1 ]; then echo '{"order_id": 8, "amount": -5, "ts": "2024-03-02 10:00:00"}'; fi
    fi
  } > "$tmp"
  mv "$tmp" "$out"   # appear whole: a reader never sees half a file
done
echo "wrote $files file(s) to $here/landing/orders/"
