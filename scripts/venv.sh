# Sourced by run.sh and test.sh: makes .venv (Python 3.11+) with the pinned requirements file "$1".
# Reinstalls only when the requirements change, so a second start takes no time.
set -euo pipefail
requirements="$1"
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements*.txt | sha256sum | cut -c1-16)-$(basename "$requirements")"
if [ ! -f "$stamp" ]; then
  echo "Installing Python packages from $requirements into .venv ..."
  # (This machine's pip configuration names extra local indexes; pip's notes about them are noise.)
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements" \
    2> >(grep -v "^WARNING: Location .* is ignored" >&2)
  touch "$stamp"
fi
