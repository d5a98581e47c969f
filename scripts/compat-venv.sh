#!/usr/bin/env bash
# Creates the project-local Python venv with the real txTrader clients (PyPI):
# txtrader-client 1.5.4 and txtrader-monitor 1.1.8, with the install recipe of
# ../shared/spec/txtrader-protocol.md section 7 (their pinned Twisted 20.3 does not
# build on Python 3.11, so they are installed without their pins and given working
# versions of their dependencies). Idempotent: does nothing when the venv is complete.
# With TXTRADER_COMPAT_REFERENCE=1 it also installs the original server, txtrader 1.14.29
# (the same recipe; the rtx benchmark runs it side by side with txtraderd).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${TXTRADER_COMPAT_VENV:-.venv-compat}
PY=${PYTHON:-python3}

REFERENCE=${TXTRADER_COMPAT_REFERENCE:-0}
want='import txtrader_client, txtrader_monitor, pytest, requests'
if [ "$REFERENCE" = 1 ]; then
  want="$want, txtrader, hexdump"
fi
if [ -x "$VENV/bin/txtrader" ] && "$VENV/bin/python" -c "$want" 2>/dev/null; then
  exit 0
fi
echo "creating $VENV (txtrader-client 1.5.4, txtrader-monitor 1.1.8, pytest)" >&2
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --no-deps txtrader-client==1.5.4 txtrader-monitor==1.1.8
if [ "$REFERENCE" = 1 ]; then
  "$VENV/bin/pip" install -q --no-deps txtrader==1.14.29 hexdump==3.3
fi
"$VENV/bin/pip" install -q 'twisted>=23' ujson==3.1.0 click==7.1.2 requests==2.24.0 pytz tzlocal==2.1 'pytest>=7,<9'
"$VENV/bin/python" -c 'import txtrader_client, txtrader_monitor; print("ok")' >/dev/null
"$VENV/bin/txtrader" --version >&2
