//! OS errors in Spanish words, for the sentences both programs show a person.
//!
//! `io::Error`'s own text comes from the OS in English ("Connection refused (os error
//! 111)"), which would land in the middle of a Spanish sentence. Each common
//! `io::ErrorKind` gets Spanish words instead; anything rarer says its OS code, which is
//! still something to search for, without English text.

use std::io::{self, ErrorKind};

/// A short Spanish phrase for what went wrong, such as "no existe" or "permiso denegado".
pub fn io_error(e: &io::Error) -> String {
    let words = match e.kind() {
        ErrorKind::NotFound => "no existe",
        ErrorKind::PermissionDenied => "permiso denegado",
        ErrorKind::ConnectionRefused => "conexión rechazada",
        ErrorKind::ConnectionReset => "la conexión se cortó",
        ErrorKind::ConnectionAborted => "la conexión se interrumpió",
        ErrorKind::NotConnected => "no hay conexión",
        ErrorKind::HostUnreachable => "no hay ruta hasta ese computador",
        ErrorKind::NetworkUnreachable => "la red no está al alcance",
        ErrorKind::NetworkDown => "la red no está disponible",
        ErrorKind::AddrInUse => "la dirección ya está en uso",
        ErrorKind::AddrNotAvailable => "la dirección no es de este computador",
        ErrorKind::BrokenPipe => "el otro lado cerró la conexión",
        ErrorKind::AlreadyExists => "ya existe",
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "se agotó el tiempo de espera",
        ErrorKind::NotADirectory => "no es una carpeta",
        ErrorKind::IsADirectory => "es una carpeta",
        ErrorKind::DirectoryNotEmpty => "la carpeta no está vacía",
        ErrorKind::ReadOnlyFilesystem => "el disco es de solo lectura",
        ErrorKind::StorageFull => "no queda espacio en el disco",
        ErrorKind::QuotaExceeded => "se superó la cuota de disco",
        ErrorKind::FileTooLarge => "el archivo es demasiado grande",
        ErrorKind::ResourceBusy | ErrorKind::ExecutableFileBusy => "está en uso",
        ErrorKind::CrossesDevices => "está en otro disco",
        ErrorKind::InvalidFilename => "nombre de archivo inválido",
        ErrorKind::InvalidInput => "dato inválido",
        ErrorKind::InvalidData => "datos inválidos",
        ErrorKind::UnexpectedEof => "terminó antes de lo esperado",
        ErrorKind::WriteZero => "no se pudo escribir",
        ErrorKind::OutOfMemory => "no queda memoria",
        ErrorKind::Interrupted => "interrumpido",
        ErrorKind::Unsupported => "no se puede en este sistema",
        _ => {
            return match e.raw_os_error() {
                Some(code) => format!("error del sistema operativo n.º {code}"),
                None => "error de entrada o salida".to_string(),
            }
        }
    };
    words.to_string()
}

/// `text` as one word for a shell command shown in a hint: quoted when it has spaces.
pub fn shell_word(text: &str) -> String {
    if text.contains(char::is_whitespace) {
        format!("\"{text}\"")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Common errors read in Spanish; rare ones give their OS code, never English text.
    #[test]
    fn errors_read_in_spanish() {
        let refused = io::Error::from(ErrorKind::ConnectionRefused);
        assert_eq!(io_error(&refused), "conexión rechazada");
        assert_eq!(io_error(&io::Error::from(ErrorKind::NotFound)), "no existe");
        // No OS defines error 99999: it falls through to its code, without OS text.
        let odd = io::Error::from_raw_os_error(99_999);
        assert_eq!(io_error(&odd), "error del sistema operativo n.º 99999");
        let custom = io::Error::other("something in English");
        assert_eq!(io_error(&custom), "error de entrada o salida");
    }
}
