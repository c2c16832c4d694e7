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
  # llama-cpp-python has no wheel on PyPI: pip compiles llama.cpp when the pinned version is not
  # installed yet. That needs a C++ compiler (CMake and Ninja come from PyPI if the system lacks them).
  llama_pin=$(sed -n 's/^llama-cpp-python==\([^ ]*\).*/\1/p' requirements.txt)
  llama_have=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || true)
  if [ -n "$llama_pin" ] && [ "$llama_have" != "$llama_pin" ]; then
    if ! command -v c++ >/dev/null 2>&1; then
      if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: llama-cpp-python compiles llama.cpp: install a C++ compiler (g++ or clang) first." >&2
        exit 1
      fi
      echo "Installing Debian packages: build-essential (a C++ compiler for llama.cpp) ..."
      as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential >/dev/null
    fi
    echo "The first install compiles llama.cpp (llama-cpp-python $llama_pin): this takes several minutes."
  fi
  # GGML_NATIVE=OFF: a build that runs on any CPU of the architecture, not only on this one.
  # (This machine's pip configuration names extra local indexes; pip's notes about them are noise.)
  CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF} CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements" \
    2> >(grep -v "^WARNING: Location .* is ignored" >&2)
  touch "$stamp"
fi
