//! Sources: find the inputs and read their lines.
//!
//! A path on the command line is a file, a directory (walked recursively in name order, hidden
//! entries skipped) or `-` for standard input. Compression is recognized by content (gzip magic,
//! with every member of a multi-member file read), not by name. Lines are handed out one at a
//! time into a caller-owned buffer; a line longer than the limit is cut off, skipped to its end
//! and flagged, so a multi-megabyte line never holds the whole line in memory.

pub mod follow;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::SourceError;
use crate::event::SourceId;
use crate::time::Timestamp;

/// How many bytes of an input are read up front to recognize compression, binary content and
/// the log format.
pub const HEAD_BYTES: usize = 64 * 1024;

/// Where an input's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPath {
    /// Standard input (`-`).
    Stdin,
    /// A file.
    File(PathBuf),
}

/// One input of a run.
#[derive(Debug, Clone)]
pub struct Input {
    /// Its index in the run.
    pub id: SourceId,
    /// Where to read it.
    pub path: InputPath,
    /// The name shown to the user (`-` for stdin).
    pub display: String,
    /// True when the user named it directly (then an unreadable format is an error); false
    /// when it was found by walking a directory (then it is skipped and reported).
    pub explicit: bool,
}

/// Expands command-line paths into inputs. Directories are walked recursively in name order;
/// hidden files and directories (name starting with `.`) are skipped, symbolic links to
/// directories are not followed (no loops).
pub fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, SourceError> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push((InputPath::Stdin, "-".to_string(), true));
            continue;
        }
        let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => SourceError::NotFound { path: p.clone() },
            _ => SourceError::Io {
                path: p.clone(),
                source: e,
            },
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found)?;
            out.extend(
                found
                    .into_iter()
                    .map(|f| (InputPath::File(f.clone()), f.display().to_string(), false)),
            );
        } else {
            out.push((InputPath::File(p.clone()), p.display().to_string(), true));
        }
    }
    Ok(out
        .into_iter()
        .enumerate()
        .map(|(i, (path, display, explicit))| Input {
            id: SourceId(i as u32),
            path,
            display,
            explicit,
        })
        .collect())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    let io_err = |e| SourceError::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type().map_err(io_err)?;
        if file_type.is_dir() {
            walk(&path, out)?;
        } else if file_type.is_file() || (file_type.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// An input opened for reading, with its first bytes already inspected.
pub struct OpenedInput {
    /// The decompressed stream, starting at its first byte.
    pub reader: Box<dyn BufRead + Send>,
    /// Up to [`HEAD_BYTES`] of the decompressed content, for format detection.
    pub head: Vec<u8>,
    /// True when the content was gzip-compressed.
    pub compressed: bool,
    /// The file's modification time (for inferring the year of syslog lines).
    pub modified: Option<Timestamp>,
}

impl std::fmt::Debug for OpenedInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedInput")
            .field("head_len", &self.head.len())
            .field("compressed", &self.compressed)
            .field("modified", &self.modified)
            .finish_non_exhaustive()
    }
}

/// Opens an input, decompressing gzip transparently.
pub fn open(input: &Input) -> Result<OpenedInput, SourceError> {
    let io_err = |e| SourceError::Io {
        path: PathBuf::from(&input.display),
        source: e,
    };
    let (raw, modified): (Box<dyn Read + Send>, Option<Timestamp>) = match &input.path {
        InputPath::Stdin => (Box::new(io::stdin()), None),
        InputPath::File(p) => {
            let f = File::open(p).map_err(io_err)?;
            let modified = f
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| Timestamp(d.as_millis() as i64));
            (Box::new(f), modified)
        }
    };
    let (raw_head, raw) = read_head(raw, 2).map_err(io_err)?;
    let compressed = raw_head.starts_with(&[0x1f, 0x8b]);
    let stream: Box<dyn Read + Send> = if compressed {
        // Decompression on a thread of its own, a few chunks ahead of the decoding.
        Box::new(ThreadedReader::spawn(Box::new(MultiGzDecoder::new(raw))))
    } else {
        raw
    };
    let (head, stream) = read_head(stream, HEAD_BYTES).map_err(io_err)?;
    Ok(OpenedInput {
        reader: Box::new(BufReader::with_capacity(256 * 1024, stream)),
        head,
        compressed,
        modified,
    })
}

/// Reads another reader on a thread of its own, up to [`ThreadedReader::AHEAD`] chunks ahead,
/// so that slow reading (gzip decompression) overlaps with what the caller does with the bytes.
/// An error of the inner reader is returned where it happened in the stream; dropping the
/// reader stops the thread.
pub struct ThreadedReader {
    chunks: crossbeam_channel::Receiver<io::Result<Vec<u8>>>,
    current: Cursor<Vec<u8>>,
    done: bool,
}

impl ThreadedReader {
    /// Chunks read ahead of the caller.
    pub const AHEAD: usize = 4;
    /// Bytes per chunk.
    pub const CHUNK: usize = 1 << 20;

    /// Starts reading `inner` on a new thread.
    pub fn spawn(mut inner: Box<dyn Read + Send>) -> ThreadedReader {
        let (tx, rx) = crossbeam_channel::bounded(Self::AHEAD);
        let reader = move || {
            loop {
                let mut chunk = vec![0u8; Self::CHUNK];
                let mut filled = 0;
                // Fill the chunk (short reads are common with decompressors).
                let result = loop {
                    match inner.read(&mut chunk[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == chunk.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                chunk.truncate(filled);
                let last = filled < Self::CHUNK || result.is_err();
                if filled > 0 && tx.send(Ok(chunk)).is_err() {
                    return;
                }
                if let Err(e) = result {
                    let _ = tx.send(Err(e));
                    return;
                }
                if last {
                    return;
                }
            }
        };
        let chunks = match std::thread::Builder::new()
            .name("credwatch-inflate".into())
            .spawn(reader)
        {
            Ok(_) => rx,
            Err(e) => {
                // No thread: report it as the stream's error rather than lose the input.
                let (tx, rx) = crossbeam_channel::bounded(1);
                let _ = tx.send(Err(e));
                rx
            }
        };
        ThreadedReader {
            chunks,
            current: Cursor::new(Vec::new()),
            done: false,
        }
    }
}

impl Read for ThreadedReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(out)?;
            if n > 0 || out.is_empty() || self.done {
                return Ok(n);
            }
            match self.chunks.recv() {
                Ok(Ok(chunk)) => self.current = Cursor::new(chunk),
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
    }
}

/// Reads up to `n` bytes and returns them with a reader that yields the same stream from its
/// start again.
fn read_head(mut r: Box<dyn Read + Send>, n: usize) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = Vec::with_capacity(n.min(HEAD_BYTES));
    (&mut r).take(n as u64).read_to_end(&mut head)?;
    let again = Cursor::new(head.clone()).chain(r);
    Ok((head, Box::new(again)))
}

/// True when content looks binary rather than text: more than 1 % NUL bytes, or more than 10 %
/// control bytes other than tab, CR, LF and ESC. A single NUL-damaged line in a log stays text.
pub fn looks_binary(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    let sample = &head[..head.len().min(8 * 1024)];
    let nul = memchr::memchr_iter(0, sample).count();
    let control = sample
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x1b | 0))
        .count();
    nul * 100 > sample.len() || control * 10 > sample.len()
}

/// What the line reader says about the line it just produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    /// 1-based line number.
    pub number: u64,
    /// The line's full length in bytes, even when it was cut off.
    pub length: u64,
    /// True when the line exceeded the limit: the buffer holds only its first bytes.
    pub too_long: bool,
    /// False for a last line without a line terminator (perhaps cut off mid-write).
    pub terminated: bool,
}

/// Splits a byte stream into lines (LF or CRLF), with a length limit.
pub struct LineReader {
    inner: Box<dyn BufRead + Send>,
    max_line: usize,
    number: u64,
    bytes: u64,
}

impl std::fmt::Debug for LineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineReader")
            .field("max_line", &self.max_line)
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

impl LineReader {
    /// Reads lines from `inner`, keeping at most `max_line` bytes of any line.
    pub fn new(inner: Box<dyn BufRead + Send>, max_line: usize) -> LineReader {
        LineReader {
            inner,
            max_line: max_line.max(1),
            number: 0,
            bytes: 0,
        }
    }

    /// Lines produced so far (the number of the last line).
    pub fn lines_read(&self) -> u64 {
        self.number
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Reads the next line into `buf` (cleared first), without its terminator. `Ok(None)` at the
    /// end of the stream.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<LineInfo>> {
        buf.clear();
        let mut length: u64 = 0;
        let mut too_long = false;
        let mut terminated = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            let room = self.max_line.saturating_sub(buf.len());
            if take > room {
                too_long = true;
            }
            buf.extend_from_slice(&chunk[..take.min(room)]);
            length += take as u64;
            let consumed = if done { take + 1 } else { take };
            self.inner.consume(consumed);
            self.bytes += consumed as u64;
            if done {
                terminated = true;
                break;
            }
        }
        if length == 0 && !terminated {
            return Ok(None);
        }
        if terminated && buf.last() == Some(&b'\r') && !too_long {
            buf.pop();
            length -= 1;
        }
        self.number += 1;
        Ok(Some(LineInfo {
            number: self.number,
            length,
            too_long,
            terminated,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threaded_reader_yields_the_same_bytes_and_the_error_where_it_happened() {
        let data: Vec<u8> = (0..(3 * ThreadedReader::CHUNK + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut r = ThreadedReader::spawn(Box::new(Cursor::new(data.clone())));
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, data);

        /// 10 bytes, then an error.
        struct Failing(u8);
        impl Read for Failing {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt member"));
                }
                self.0 -= 1;
                out[0] = b'x';
                Ok(1)
            }
        }
        let mut r = ThreadedReader::spawn(Box::new(Failing(10)));
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(got, b"xxxxxxxxxx");
        // Dropping a reader with chunks still coming stops its thread (no hang).
        let r = ThreadedReader::spawn(Box::new(io::repeat(b'y')));
        drop(r);
    }

    fn reader(data: &[u8], max: usize) -> LineReader {
        LineReader::new(Box::new(Cursor::new(data.to_vec())), max)
    }

    fn all_lines(data: &[u8], max: usize) -> Vec<(Vec<u8>, LineInfo)> {
        let mut r = reader(data, max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(info) = r.next_line(&mut buf).unwrap() {
            out.push((buf.clone(), info));
        }
        out
    }

    #[test]
    fn splits_lf_and_crlf_and_flags_unterminated_last_line() {
        let lines = all_lines(b"a\r\nbb\n\nccc", 100);
        let texts: Vec<&[u8]> = lines.iter().map(|(l, _)| l.as_slice()).collect();
        assert_eq!(texts, vec![&b"a"[..], b"bb", b"", b"ccc"]);
        assert!(lines[..3].iter().all(|(_, i)| i.terminated));
        assert!(!lines[3].1.terminated);
        assert_eq!(lines[3].1.number, 4);
    }

    #[test]
    fn long_lines_are_cut_and_skipped_to_their_end() {
        let mut data = vec![b'x'; 3 * 1024 * 1024];
        data.extend_from_slice(b"\nnext\n");
        let lines = all_lines(&data, 1024);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].1.too_long);
        assert_eq!(lines[0].0.len(), 1024);
        assert_eq!(lines[0].1.length, 3 * 1024 * 1024);
        assert_eq!(lines[1].0, b"next");
        assert!(!lines[1].1.too_long);
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(all_lines(b"", 10).is_empty());
    }

    #[test]
    fn binary_detection_tolerates_one_nul_line() {
        let mut text = b"Nov 20 10:00:00 host sshd[1]: Accepted\n".repeat(50);
        text.extend_from_slice(b"\0\0\0\n");
        assert!(!looks_binary(&text));
        assert!(looks_binary(&[0u8; 100]));
        assert!(looks_binary(
            &(0u8..32).cycle().take(500).collect::<Vec<_>>()
        ));
    }

    #[test]
    fn gzip_is_recognized_by_content() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("credwatch-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log.1"); // no .gz extension
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(b"first member\n").unwrap();
        let mut data = enc.finish().unwrap();
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(b"second member\n").unwrap();
        data.extend(enc.finish().unwrap());
        std::fs::write(&path, &data).unwrap();
        let inputs = expand_inputs(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(inputs.len(), 1);
        assert!(!inputs[0].explicit);
        let opened = open(&inputs[0]).unwrap();
        assert!(opened.compressed);
        assert_eq!(opened.head, b"first member\nsecond member\n");
        let mut r = LineReader::new(opened.reader, 100);
        let mut buf = Vec::new();
        let mut n = 0;
        while r.next_line(&mut buf).unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_path_is_a_clear_error() {
        let err = expand_inputs(&[PathBuf::from("/nonexistent/credwatch")]).unwrap_err();
        assert!(err.to_string().contains("no such file"), "{err}");
    }
}
