//! Compressed captures: a gzip (`.pcap.gz`, `.pcapng.gz`) or zstd (`.zst`) file is read
//! through its decompressor, chosen by the file's magic bytes (never by its name), as a
//! stream: only the decompressor's window and the reader's buffer are held, never the file.

use std::io::{self, Read};

/// How a capture file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed (or not in a format read here).
    None,
    /// gzip (RFC 1952); concatenated members, as pigz and bgzip write, are read on.
    Gzip,
    /// Zstandard; concatenated frames are read on.
    Zstd,
}

impl Compression {
    /// Sniffs the first bytes of a file.
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// The first bytes, read to sniff them, handed out again before the rest of the stream.
pub struct Prefixed<R> {
    head: [u8; 4],
    at: usize,
    len: usize,
    inner: R,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at < self.len {
            let n = (self.len - self.at).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.at..self.at + n]);
            self.at += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

enum Inner<R: Read> {
    Plain(Prefixed<R>),
    Gzip(Box<flate2::read::MultiGzDecoder<Prefixed<R>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, io::BufReader<Prefixed<R>>>>),
}

/// A capture file's bytes, decompressed when its magic bytes say gzip or zstd.
pub struct Decompressed<R: Read> {
    inner: Inner<R>,
    compression: Compression,
    /// Decompressed bytes handed out so far.
    out: u64,
}

impl<R: Read> Decompressed<R> {
    /// Reads the first bytes of `reader` and sets up the decompressor they call for.
    pub fn new(mut reader: R) -> io::Result<Self> {
        let mut head = [0u8; 4];
        let mut len = 0;
        while len < head.len() {
            match reader.read(&mut head[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let compression = Compression::sniff(&head[..len]);
        let prefixed = Prefixed {
            head,
            at: 0,
            len,
            inner: reader,
        };
        let inner = match compression {
            Compression::None => Inner::Plain(prefixed),
            Compression::Gzip => Inner::Gzip(Box::new(flate2::read::MultiGzDecoder::new(prefixed))),
            Compression::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::new(prefixed)?;
                // Past zstd's default window limit (128 MiB) a frame is refused, not
                // allocated for.
                decoder.window_log_max(27)?;
                Inner::Zstd(Box::new(decoder))
            }
        };
        Ok(Decompressed {
            inner,
            compression,
            out: 0,
        })
    }

    /// How the file is compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }
}

impl<R: Read> Read for Decompressed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = match &mut self.inner {
            Inner::Plain(r) => return r.read(buf),
            Inner::Gzip(r) => r.read(buf),
            Inner::Zstd(r) => r.read(buf),
        };
        match read {
            Ok(n) => {
                self.out += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(io::Error::new(
                e.kind(),
                DecompressError {
                    compression: self.compression,
                    after: self.out,
                    detail: e.to_string(),
                },
            )),
        }
    }
}

/// A compressed capture that cannot be decompressed further: cut off, or corrupt.
#[derive(Debug, Clone)]
pub struct DecompressError {
    /// gzip or zstd.
    pub compression: Compression,
    /// Decompressed bytes handed out before it.
    pub after: u64,
    /// What the decompressor said.
    pub detail: String,
}

impl std::fmt::Display for DecompressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} stream is cut off or corrupt after {} decompressed bytes ({})",
            self.compression.name(),
            self.after,
            self.detail
        )
    }
}

impl std::error::Error for DecompressError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> (Compression, io::Result<Vec<u8>>) {
        let mut d = Decompressed::new(bytes).unwrap();
        let mut out = Vec::new();
        let r = d.read_to_end(&mut out).map(|_| out);
        (d.compression(), r)
    }

    #[test]
    fn each_format_is_chosen_by_its_magic_bytes() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(read_all(&data).0, Compression::None);
        assert_eq!(read_all(&data).1.unwrap(), data);
        let (c, out) = read_all(&gzip(&data));
        assert_eq!((c, out.unwrap()), (Compression::Gzip, data.clone()));
        let (c, out) = read_all(&zstd::encode_all(&data[..], 3).unwrap());
        assert_eq!((c, out.unwrap()), (Compression::Zstd, data.clone()));
        // Shorter than a magic number: handed out as it is.
        assert_eq!(read_all(&[0x1f]).1.unwrap(), [0x1f]);
        assert!(read_all(&[]).1.unwrap().is_empty());
        // Two gzip members, one after the other.
        let mut two = gzip(&data[..10]);
        two.extend(gzip(&data[10..20]));
        assert_eq!(read_all(&two).1.unwrap(), &data[..20]);
    }

    #[test]
    fn a_cut_off_stream_is_an_error_saying_so() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        for (name, whole) in [
            ("gzip", gzip(&data)),
            ("zstd", zstd::encode_all(&data[..], 3).unwrap()),
        ] {
            let cut = &whole[..whole.len() / 2];
            let err = read_all(cut).1.expect_err(name);
            let text = err.to_string();
            assert!(
                text.contains(&format!("the {name} stream is cut off or corrupt")),
                "{text}"
            );
        }
    }
}
