#!/bin/sh
# Two read-only servidores behind HAProxy on loopback, fed by rsync from a writable
# primary: the setup docs/scaling.md describes, run end to end and checked.
#
#   cargo build --release && examples/scaling/two_instances.sh
#
# It needs haproxy, python3 and (optionally) rsync; everything listens on 127.0.0.1 on
# free ports, lives in a temporary folder, and is stopped when the script ends (each
# process also runs under `timeout`, so nothing outlives a crash by more than 2 minutes).
set -eu

repo=$(cd "$(dirname "$0")/../.." && pwd)
servidor=${SERVIDOR:-$repo/target/release/servidor}
[ -x "$servidor" ] || { echo "build servidor first: cargo build --release" >&2; exit 2; }
command -v haproxy >/dev/null || { echo "haproxy not found (Debian: apt-get install -y haproxy)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/almacen-two-XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    i=0
    until python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "nothing listens on $1" >&2; exit 1; }
        sleep 0.1
    done
}
start() { # start PORT DIR [options]: one servidor in the background, its warnings in a log
    port=$1 dir=$2; shift 2
    timeout 120 "$servidor" "$port" 127.0.0.1 --dir "$dir" "$@" </dev/null >/dev/null 2>>"$work/servidor.log" &
    pids="$pids $!"
    wait_port "$port"
}
sync_copies() { # the primary's published files onto both read-only copies
    for copy in "$work/lectura1" "$work/lectura2"; do
        if command -v rsync >/dev/null; then
            # Hidden names are servidor's staging area: half-written uploads stay behind.
            # --omit-dir-times: each copy's folder time stays its own (when rsync last
            # changed a name in it) and only moves forward; -a alone would set it to the
            # primary's. servidor's remembered listing is checked against that time.
            rsync -a --omit-dir-times --delete --exclude '.*' "$work/primaria/" "$copy/"
        else
            mkdir -p "$copy" && find "$work/primaria" -maxdepth 1 -type f ! -name '.*' -exec cp -p {} "$copy/" \;
        fi
    done
}

mkdir -p "$work/primaria"
printf 'Oda al servidor\n' >"$work/primaria/poema.txt"
head -c 50000000 /dev/urandom >"$work/primaria/datos.bin"
sync_copies

p0=$(free_port); p1=$(free_port); p2=$(free_port); lb=$(free_port)
start "$p0" "$work/primaria"                 # the one writable instance
start "$p1" "$work/lectura1" --read-only
start "$p2" "$work/lectura2" --read-only
cat >"$work/haproxy.cfg" <<CFG
global
    maxconn 4000

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend almacen
    bind 127.0.0.1:$lb
    default_backend lectura

backend lectura
    balance leastconn
    server lectura1 127.0.0.1:$p1 check
    server lectura2 127.0.0.1:$p2 check
CFG
timeout 120 haproxy -db -f "$work/haproxy.cfg" </dev/null >/dev/null 2>"$work/haproxy.log" &
pids="$pids $!"
wait_port "$lb"
echo "primary 127.0.0.1:$p0 (writable); read-only 127.0.0.1:$p1 and :$p2; HAProxy 127.0.0.1:$lb"

echo "== the course's client through HAProxy: listar, descargar every file, byte for byte"
python3 "$repo/tests/py/cliente_curso.py" "$lb" "$work/lectura1" "$work/descargas"

echo "== protocol 2 through HAProxy: descargar with its SHA-256 checked"
python3 "$repo/examples/py/cliente_v2.py" --host 127.0.0.1 --puerto "$lb" descargar datos.bin "$work/datos-v2.bin"

echo "== a write through HAProxy is refused; the primary takes it, rsync publishes it"
printf 'nuevo\n' >"$work/nuevo.txt"
if python3 "$repo/examples/py/cliente_v2.py" --host 127.0.0.1 --puerto "$lb" subir "$work/nuevo.txt"; then
    echo "a read-only instance accepted an upload" >&2; exit 1
fi
python3 "$repo/examples/py/cliente_v2.py" --host 127.0.0.1 --puerto "$p0" subir "$work/nuevo.txt"
sync_copies
for port in "$p1" "$p2"; do
    python3 "$repo/examples/py/cliente_v2.py" --host 127.0.0.1 --puerto "$port" listar | grep -qx nuevo.txt
done
echo "nuevo.txt listed by both read-only instances after rsync"

echo "== pushes do not cross instances"
python3 - "$lb" <<'PY'
import pickle, socket, sys

class Mensaje:
    def __init__(self, operacion=None, data=None, estado=None):
        self.operacion, self.data, self.estado = operacion, data, estado

def conectar():
    return socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)

def leer(s, n):
    b = b""
    while len(b) < n:
        parte = s.recv(n - len(b))
        if not parte:
            raise ConnectionError("closed")
        b += parte
    return b

def pedir(s, operacion, data=None):
    datos = pickle.dumps(Mensaje(operacion, data))
    s.sendall(len(datos).to_bytes(4, "big") + datos)
    r = pickle.loads(leer(s, int.from_bytes(leer(s, 4), "big")))
    return r.estado, r.data

ana, beto = conectar(), conectar()
id_ana = pedir(ana, "suscribir", {"alias": "ana"})[1]["id"]
id_beto = pedir(beto, "suscribir", {"alias": "beto"})[1]["id"]
# Each instance lists only its own connections: were ana and beto sent to the same one?
vistos = {c["alias"] for c in pedir(ana, "clientes")[1]}
juntos = "beto" in vistos
emisor = conectar()
_, r = pedir(emisor, "mensaje", {"para": "todos", "texto": "hola a todos"})
print(f"ana and beto subscribed through HAProxy, {'on the same instance' if juntos else 'on different instances'}")
print(f"mensaje to todos from a third client: entregado_a = {r['entregado_a']} (2 subscribers in all)")
print("mensaje to ana:", pedir(emisor, "mensaje", {"para": "ana", "texto": "hola"}))
print("mensaje to beto:", pedir(emisor, "mensaje", {"para": "beto", "texto": "hola"}))
if not juntos:
    assert r["entregado_a"] < 2, r
PY
echo "done"
