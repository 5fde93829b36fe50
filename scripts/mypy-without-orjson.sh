#!/usr/bin/env bash
# Type-check roomcast as if the optional orjson (the `fast` extra) were not installed: a throwaway
# venv sees every package of the given venv but orjson, and mypy runs from it. `make typecheck`
# runs this after the usual `mypy --strict roomcast`, so both set-ups must pass.
set -euo pipefail
venv="${1:-.venv}"
python="$venv/bin/python"
site="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv --without-pip "$tmp/venv"
target="$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
for entry in "$site"/*; do
    case "$(basename "$entry")" in
        orjson | orjson-* | orjson.* | __pycache__) ;;
        *) ln -s "$entry" "$target/" ;;
    esac
done
if "$tmp/venv/bin/python" -c 'import orjson' 2>/dev/null; then
    echo "orjson is still importable: cannot check without it" >&2
    exit 1
fi
"$tmp/venv/bin/python" -m mypy --strict --cache-dir "$tmp/mypy-cache" roomcast
