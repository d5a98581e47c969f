#!/usr/bin/env bash
# Sets up the FIX peers the FIX adapter's tests run against (../shared/spec/fix.md, section 4):
# QuickFIX's prebuilt C++ `executor` and `ordermatch` examples (Debian packages libquickfix17
# and libquickfix-doc; the binaries are extracted into target/fixpeer/bin) and a venv with
# QuickFIX's Python binding (quickfix-ssl, which also brings the FIX42/FIX44 data
# dictionaries) for tests/peers/fix/fix_exchange.py. Installs the Debian packages when run as
# root (CI); otherwise says what to install. Idempotent: does nothing when all is in place.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${TXTRADER_FIX_VENV:-.venv-fix}
PY=${PYTHON:-python3}
DOC=/usr/share/doc/libquickfix-doc/examples
BIN=target/fixpeer/bin

if [ ! -e "$DOC/executor/C++/.libs/executor.gz" ] || ! ls /usr/lib/*/libquickfix.so.17 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing libquickfix17 libquickfix-doc (the QuickFIX C++ example acceptors)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libquickfix17 libquickfix-doc >/dev/null
  else
    echo "the FIX tests need QuickFIX's examples: sudo apt-get install libquickfix17 libquickfix-doc" >&2
    exit 1
  fi
fi
mkdir -p "$BIN"
for peer in executor ordermatch; do
  src="$DOC/$peer/.libs/$peer.gz"
  [ "$peer" = executor ] && src="$DOC/executor/C++/.libs/executor.gz"
  if [ ! -x "$BIN/$peer" ] || [ "$src" -nt "$BIN/$peer" ]; then
    zcat "$src" > "$BIN/$peer.tmp" && chmod +x "$BIN/$peer.tmp" && mv "$BIN/$peer.tmp" "$BIN/$peer"
  fi
done
if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import quickfix' 2>/dev/null && [ -e "$VENV/share/quickfix/FIX44.xml" ]; }; then
  echo "creating $VENV (quickfix-ssl 1.15.1.post4)" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q quickfix-ssl==1.15.1.post4
fi
