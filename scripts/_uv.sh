# Sourced by the scripts: puts the pinned uv (scripts/uv-requirements.txt, by version and hash) at $uv, in its
# own small venv (.venv-uv) so that `uv sync` (which removes what the lock does not list) never uninstalls it.
# uv uses this machine's Python and never downloads one.
uv_pin="$(sed -n 's/^uv==\([0-9.]*\).*/\1/p' scripts/uv-requirements.txt)"
if ! .venv-uv/bin/uv --version 2>/dev/null | grep -q "^uv ${uv_pin}\b"; then
  python3 -m venv --clear .venv-uv
  # pip's notes about this machine's package index settings are noise here; real errors still show.
  .venv-uv/bin/python -m pip install --quiet --require-hashes -r scripts/uv-requirements.txt \
    2> >(grep -v '^WARNING: Location' >&2)
fi
export UV_PYTHON_DOWNLOADS=never UV_PYTHON_PREFERENCE=only-system
uv=.venv-uv/bin/uv
