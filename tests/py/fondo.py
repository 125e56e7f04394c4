"""A server started as a background job of its terminal keeps serving, and comes back.

This script plays the shell: it becomes a session leader with a pty as its controlling
terminal, and starts servidor in a process group of its own, so servidor is a background
job of that terminal (as after `./servidor &`). Then:
- keys typed at the terminal do not stop servidor (SIGTTIN), and it keeps serving;
- it says once that it is in the background;
- brought to the foreground (as `fg` does), Enter closes it with exit code 0.
Run: python3 fondo.py SERVIDOR SERVED_DIR. Exit code 0 means all passed.
"""
import fcntl
import os
import pickle
import socket
import subprocess
import sys
import termios
import time


class Mensaje:
    def __init__(self, operacion=None, data=None, estado=None):
        self.operacion = operacion
        self.data = data
        self.estado = estado


def listar(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    datos = pickle.dumps(Mensaje("listar"))
    s.sendall(len(datos).to_bytes(4, "big") + datos)
    largo = int.from_bytes(s.recv(4, socket.MSG_WAITALL), "big")
    r = pickle.loads(s.recv(largo, socket.MSG_WAITALL))
    s.close()
    return r


def estado_de(pid):
    """The process state as ps shows it: T means stopped."""
    return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)],
                          capture_output=True, text=True).stdout.strip()


def esperar(condicion, segundos=10):
    limite = time.monotonic() + segundos
    while time.monotonic() < limite:
        if condicion():
            return True
        time.sleep(0.05)
    return False


def main():
    servidor, carpeta = sys.argv[1], sys.argv[2]
    os.setsid()
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    assert os.tcgetpgrp(slave) == os.getpgrp(), "the script is the foreground job"

    # Its stderr goes to a file of its own (append mode): reading it here must not move
    # the offset servidor writes at.
    ruta_errores = os.path.join(carpeta, ".stderr")
    errores = open(ruta_errores, "a")
    proc = subprocess.Popen(
        [servidor, "0", "127.0.0.1", "--dir", carpeta],
        stdin=slave, stdout=subprocess.PIPE, stderr=errores,
        process_group=0, env=dict(os.environ, RUST_LOG="info"),
    )
    try:
        probar(proc, master, slave, ruta_errores)
    finally:
        if proc.poll() is None:
            proc.kill()  # a failed check must not leave a server behind
            proc.wait()


def probar(proc, master, slave, ruta_errores):
    banner = proc.stdout.readline().decode()
    port = int(banner.rsplit(":", 1)[1])
    proc.stdout.readline()
    assert os.getpgid(proc.pid) != os.tcgetpgrp(slave), "servidor is a background job"

    for vuelta in range(2):
        # Keys typed while it is in the background. Had servidor read them, SIGTTIN would
        # stop it: this round's listar, or the next round's, would then get no answer.
        os.write(master, b"hola\n")
        assert "T" not in estado_de(proc.pid), f"stopped: {estado_de(proc.pid)}"
        r = listar(port)
        assert r.estado == "ok", r.data
        print("en segundo plano, vuelta", vuelta, "sirve:", r.data)

    def log():
        with open(ruta_errores) as f:
            return f.read()
    assert log().count("segundo plano") == 1, log()
    print("avisó una vez que está en segundo plano")

    os.tcsetpgrp(slave, os.getpgid(proc.pid))  # fg
    os.write(master, b"\n")
    assert esperar(lambda: proc.poll() is not None), "Enter in the foreground closes it"
    assert proc.returncode == 0, proc.returncode
    print("en primer plano, Enter lo cerró con código 0")
    print("todo ok")


if __name__ == "__main__":
    main()
