#!/usr/bin/env bash
# The Windows build, for real, under wine: servidor.exe serves the course-style Python
# clients (listar, descargar with every byte compared, error replies, uploads whole and
# in parts, a copy, a push to a subscriber, a message), then the Windows-only behaviour
# (tests/wine/windows_semantics.py), and Enter on its console stops it with exit code 0.
#
# Needs: the x86_64-pc-windows-gnu target, gcc-mingw-w64-x86-64, wine, python3 (the CI
# stage installs them). Usage: tests/wine/smoke.sh [path/to/servidor.exe]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
exe="${1:-${CARGO_TARGET_DIR:-$repo/target}/x86_64-pc-windows-gnu/debug/servidor.exe}"
work="$(mktemp -d "${TMPDIR:-/tmp}/almacen-wine.XXXXXX")"
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    wineserver -k 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Wine 8 has no bcryptprimitives.dll, which Rust's std needs (ProcessPrng): a stand-in
# goes beside the .exe. Real Windows has the DLL.
mkdir -p "$work/bin"
cp "$exe" "$work/bin/servidor.exe"
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bin/bcryptprimitives.dll" \
    "$repo/tests/wine/bcryptprimitives.c" "$repo/tests/wine/bcryptprimitives.def" -ladvapi32

served="$work/archivos"
mkdir -p "$served"
printf 'Llueve sobre el campus.\n' > "$served/poema.txt"
: > "$served/vacío.txt"
python3 -c "import os; open('$served/con espacio.bin','wb').write(os.urandom(1000))"
python3 -c "import os; open('$served/grande.bin','wb').write(os.urandom(5*1024*1024+17))"

echo "wine: preparing a prefix (the first start takes a while)"
wineboot -i >/dev/null 2>&1 || true
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

# The console: a FIFO we hold open for writing, so Enter can be sent at the end.
mkfifo "$work/console"
exec 3<>"$work/console"
wine "$work/bin/servidor.exe" "$port" 127.0.0.1 --dir "$served" \
    <"$work/console" >"$work/stdout" 2>"$work/stderr" &
server_pid=$!

for _ in $(seq 1 600); do
    grep -q "Presione enter para cerrar" "$work/stdout" 2>/dev/null && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "servidor.exe exited before its banner:" >&2
        cat "$work/stdout" "$work/stderr" >&2
        exit 1
    fi
    sleep 0.1
done
head -1 "$work/stdout"

run() { timeout 300 python3 "$@"; }
run "$repo/tests/py/cliente_curso.py" "$port" "$served" "$work/descargas"
run "$repo/tests/py/desafios.py" "$port" "$served"
run "$repo/tests/wine/windows_semantics.py" "$port" "$served"

echo "wine: Enter on the console"
echo >&3
status=""
for _ in $(seq 1 300); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        set +e
        wait "$server_pid"
        status=$?
        set -e
        break
    fi
    sleep 0.1
done
server_pid=""
if [ "$status" != "0" ]; then
    echo "servidor.exe did not exit with 0 after Enter (status: ${status:-still running})" >&2
    cat "$work/stderr" >&2
    exit 1
fi
echo "wine smoke test: 3 passed, 0 failed"
