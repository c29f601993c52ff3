#!/usr/bin/env bash
# Label Studio for SafetyForge review.
#   install  build the server's own virtualenv and a migrated template data dir, cached per version
#            under ${XDG_CACHE_HOME:-~/.cache}/safetyforge/ (minutes once per machine, then instant)
#   serve    start the server on 127.0.0.1 (SQLite) and print its URL, login and API token;
#            extra arguments go to `safetyforge review server` (e.g. --set review.label_studio_url=http://127.0.0.1:8081)
set -euo pipefail
cd "$(dirname "$0")/.."
command="${1:-serve}"
shift || true
case "$command" in
  install) exec .venv/bin/python -c "from annotation import server; server.ensure_template()" ;;
  serve) exec .venv/bin/safetyforge review server "$@" ;;
  *) echo "usage: scripts/label_studio.sh [install | serve [options]]" >&2; exit 2 ;;
esac
