//! The durable spool: append-only JSON-lines segment files plus a cursor.
//!
//! Layout of a spool directory:
//! - `00000000000000000001.jsonl`, `…2.jsonl`, …: segments, one alert per line, appended by the
//!   sink's caller and never rewritten. A new segment starts when the current one passes
//!   [`SEGMENT_MAX`] bytes, or at open when the last one ends in a torn line (a crash mid-write).
//! - `cursor`: `<segment> <byte offset>` of the first undelivered line, replaced atomically
//!   (temp file, fsync, rename, fsync of the directory) after each delivered batch.
//! - `lock`: held with `flock` while a sink uses the directory, so two processes cannot
//!   interleave lines or deliver the same spool.
//!
//! Segments wholly before the cursor are deleted. After a crash, everything from the cursor on is
//! delivered again: at most the batch in flight at the crash is sent twice.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::Record;

/// Segment size after which the writer starts a new segment.
pub(crate) const SEGMENT_MAX: u64 = 8 << 20;

const CURSOR: &str = "cursor";
const CURSOR_TMP: &str = "cursor.tmp";
const LOCK: &str = "lock";

/// A position in the spool: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    /// Segment number.
    pub seg: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

fn seg_path(dir: &Path, seg: u64) -> PathBuf {
    dir.join(format!("{seg:020}.jsonl"))
}

/// Segment numbers present in `dir`, ascending.
pub(crate) fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(num) = name.strip_suffix(".jsonl")
            && num.len() == 20
            && let Ok(n) = num.parse::<u64>()
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Reads the cursor; a missing cursor is the start of the spool.
pub(crate) fn read_cursor(dir: &Path) -> io::Result<Pos> {
    let text = match fs::read_to_string(dir.join(CURSOR)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Pos::default()),
        Err(e) => return Err(e),
    };
    let mut it = text.split_ascii_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(seg)), Some(Ok(offset)), None) => Ok(Pos { seg, offset }),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "corrupt spool cursor {:?} (expected \"<segment> <offset>\")",
                text.trim()
            ),
        )),
    }
}

/// Replaces the cursor atomically and durably.
pub(crate) fn write_cursor(dir: &Path, pos: Pos) -> io::Result<()> {
    let tmp = dir.join(CURSOR_TMP);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(format!("{} {}\n", pos.seg, pos.offset).as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(CURSOR))?;
    sync_dir(dir)
}

/// Makes a rename or a new file in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Complete lines (alerts) from `from` to the end of the spool.
pub(crate) fn count_pending(dir: &Path, from: Pos) -> io::Result<u64> {
    let mut n = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for seg in segments(dir)? {
        if seg < from.seg {
            continue;
        }
        let mut f = File::open(seg_path(dir, seg))?;
        if seg == from.seg {
            f.seek(SeekFrom::Start(from.offset))?;
        }
        loop {
            let k = f.read(&mut buf)?;
            if k == 0 {
                break;
            }
            n += memchr::memchr_iter(b'\n', buf.get(..k).unwrap_or_default()).count() as u64;
        }
    }
    Ok(n)
}

/// Takes the directory's lock file, failing at once if another process holds it.
pub(crate) fn lock(dir: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK))?;
    // SAFETY: flock only reads the descriptor, which `f` keeps open for the call.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("spool is in use by another credwatch process ({e})"),
        ));
    }
    Ok(f)
}

/// Appends alerts; owned by the sink, used from the caller's thread.
pub(crate) struct SpoolWriter {
    dir: PathBuf,
    file: File,
    seg: u64,
    len: u64,
    max: u64,
    /// Written but not yet fsync'd.
    dirty: bool,
}

impl SpoolWriter {
    /// Continues the last segment when it ends cleanly, else starts a new one after both the last
    /// segment and the cursor's (so a new segment can never hide behind an old cursor offset).
    pub(crate) fn open(dir: &Path, cursor: Pos, max: u64) -> io::Result<SpoolWriter> {
        let segs = segments(dir)?;
        if let Some(&last) = segs.last()
            && last >= cursor.seg
        {
            let path = seg_path(dir, last);
            let len = fs::metadata(&path)?.len();
            if len < max && ends_cleanly(&path, len)? {
                let file = OpenOptions::new().append(true).open(&path)?;
                return Ok(SpoolWriter {
                    dir: dir.to_path_buf(),
                    file,
                    seg: last,
                    len,
                    max,
                    dirty: false,
                });
            }
        }
        let next = segs.last().copied().unwrap_or(0).max(cursor.seg) + 1;
        let file = create_segment(dir, next)?;
        Ok(SpoolWriter {
            dir: dir.to_path_buf(),
            file,
            seg: next,
            len: 0,
            max,
            dirty: false,
        })
    }

    /// Appends one line (which must end in `\n`) with a single write, so a reader never sees
    /// two alerts interleaved. The bytes are in the OS after this returns: they survive a
    /// process crash; [`SpoolWriter::sync`] makes them survive a power loss.
    pub(crate) fn append(&mut self, line: &[u8]) -> io::Result<()> {
        if self.len >= self.max {
            // The old segment must be complete on disk before the reader may treat it as
            // finished.
            self.file.sync_all()?;
            self.file = create_segment(&self.dir, self.seg + 1)?;
            self.seg += 1;
            self.len = 0;
        }
        self.file.write_all(line)?;
        self.len += line.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// fsyncs what was appended.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }
}

fn create_segment(dir: &Path, seg: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(seg_path(dir, seg))?;
    sync_dir(dir)?;
    Ok(file)
}

fn ends_cleanly(path: &Path, len: u64) -> io::Result<bool> {
    if len == 0 {
        return Ok(true);
    }
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last == [b'\n'])
}

/// Reads alerts in order from the cursor; owned by the delivery thread.
pub(crate) struct SpoolReader {
    dir: PathBuf,
    /// Position after the last line handed out.
    pos: Pos,
    file: Option<BufReader<File>>,
    line: Vec<u8>,
}

impl SpoolReader {
    /// Starts at `cursor`.
    pub(crate) fn new(dir: &Path, cursor: Pos) -> SpoolReader {
        SpoolReader {
            dir: dir.to_path_buf(),
            pos: cursor,
            file: None,
            line: Vec::new(),
        }
    }

    /// Appends up to `max` complete alerts to `out`, each with the position after it. Lines
    /// that are not alerts (hand-edited or damaged spools) are skipped and counted in
    /// `corrupt`: one bad line must not stall delivery forever.
    pub(crate) fn read(
        &mut self,
        max: usize,
        out: &mut Vec<(Record, Pos)>,
        corrupt: &mut u64,
    ) -> io::Result<()> {
        let mut added = 0;
        // Set when the current segment ended and a newer one exists: one more pass over the
        // current segment picks up lines appended between our read and that check.
        let mut final_pass = false;
        while added < max {
            if !self.open_current()? {
                return Ok(());
            }
            let Some(reader) = self.file.as_mut() else {
                return Ok(());
            };
            self.line.clear();
            let n = reader.read_until(b'\n', &mut self.line)?;
            if n > 0 && self.line.last() == Some(&b'\n') {
                self.pos.offset += n as u64;
                final_pass = false;
                let text = self.line.get(..n - 1).unwrap_or_default();
                match parse_record(text) {
                    Some(rec) => {
                        out.push((rec, self.pos));
                        added += 1;
                    }
                    None => {
                        *corrupt += 1;
                        tracing::warn!(
                            spool = %self.dir.display(),
                            segment = self.pos.seg,
                            "skipping a spooled line that is not an alert"
                        );
                    }
                }
                continue;
            }
            // End of the segment, possibly with a torn line: go back to the line start.
            reader.seek(SeekFrom::Start(self.pos.offset))?;
            let newer = segments(&self.dir)?.into_iter().find(|&s| s > self.pos.seg);
            let Some(newer) = newer else {
                return Ok(());
            };
            if !final_pass {
                final_pass = true;
                continue;
            }
            if n > 0 {
                tracing::warn!(
                    spool = %self.dir.display(),
                    segment = self.pos.seg,
                    "skipping a torn line at the end of a spool segment (crash while writing)"
                );
            }
            self.file = None;
            self.pos = Pos {
                seg: newer,
                offset: 0,
            };
            final_pass = false;
        }
        Ok(())
    }

    /// The reader of the current segment; moves to the next existing segment when the current
    /// one is gone. `false` when there is nothing to read yet.
    fn open_current(&mut self) -> io::Result<bool> {
        if self.file.is_none() {
            let file = match File::open(seg_path(&self.dir, self.pos.seg)) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let next = segments(&self.dir)?.into_iter().find(|&s| s > self.pos.seg);
                    let Some(next) = next else { return Ok(false) };
                    self.pos = Pos {
                        seg: next,
                        offset: 0,
                    };
                    File::open(seg_path(&self.dir, next))?
                }
                Err(e) => return Err(e),
            };
            let len = file.metadata()?.len();
            if self.pos.offset > len {
                tracing::warn!(
                    spool = %self.dir.display(),
                    segment = self.pos.seg,
                    "spool cursor is past the end of its segment; starting the segment over"
                );
                self.pos.offset = 0;
            }
            let mut reader = BufReader::new(file);
            reader.seek(SeekFrom::Start(self.pos.offset))?;
            self.file = Some(reader);
        }
        Ok(true)
    }

    /// Deletes the segments wholly before `pos` (delivered).
    pub(crate) fn delete_before(&self, pos: Pos) -> io::Result<()> {
        for seg in segments(&self.dir)? {
            if seg >= pos.seg {
                break;
            }
            match fs::remove_file(seg_path(&self.dir, seg)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn parse_record(text: &[u8]) -> Option<Record> {
    let v: serde_json::Value = serde_json::from_slice(text).ok()?;
    let id = v.get("id")?.as_str()?.to_string();
    let json = String::from_utf8(text.to_vec()).ok()?;
    Some(Record { id, json })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str) -> Vec<u8> {
        format!("{{\"id\":\"{id}\"}}\n").into_bytes()
    }

    fn read_all(r: &mut SpoolReader) -> (Vec<String>, Option<Pos>, u64) {
        let mut out = Vec::new();
        let mut corrupt = 0;
        r.read(1000, &mut out, &mut corrupt).unwrap();
        let last = out.last().map(|(_, p)| *p);
        (out.into_iter().map(|(r, _)| r.id).collect(), last, corrupt)
    }

    #[test]
    fn segments_roll_and_are_read_in_order_then_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut w = SpoolWriter::open(d, Pos::default(), 30).unwrap();
        for i in 0..7 {
            w.append(&line(&format!("a{i}"))).unwrap();
        }
        w.sync().unwrap();
        // 12-byte lines, roll after 30 bytes: 3 per segment.
        assert_eq!(segments(d).unwrap(), vec![1, 2, 3]);
        assert_eq!(count_pending(d, Pos::default()).unwrap(), 7);
        let mut r = SpoolReader::new(d, read_cursor(d).unwrap());
        let (ids, last, corrupt) = read_all(&mut r);
        assert_eq!(ids, ["a0", "a1", "a2", "a3", "a4", "a5", "a6"]);
        assert_eq!(corrupt, 0);
        let last = last.unwrap();
        assert_eq!(last, Pos { seg: 3, offset: 12 });
        write_cursor(d, last).unwrap();
        r.delete_before(last).unwrap();
        assert_eq!(segments(d).unwrap(), vec![3]);
        assert_eq!(read_cursor(d).unwrap(), last);
        assert_eq!(count_pending(d, last).unwrap(), 0);
    }

    #[test]
    fn torn_tail_is_not_read_and_a_new_writer_starts_a_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut w = SpoolWriter::open(d, Pos::default(), 1 << 20).unwrap();
        w.append(&line("ok1")).unwrap();
        w.append(b"{\"id\":\"torn").unwrap();
        drop(w);
        let mut r = SpoolReader::new(d, Pos::default());
        assert_eq!(read_all(&mut r).0, ["ok1"]);
        // Restart: the torn segment is left alone, new lines go to segment 2.
        let mut w = SpoolWriter::open(d, Pos::default(), 1 << 20).unwrap();
        w.append(&line("ok2")).unwrap();
        assert_eq!(segments(d).unwrap(), vec![1, 2]);
        let (ids, last, _) = read_all(&mut r);
        assert_eq!(ids, ["ok2"]);
        assert_eq!(last, Some(Pos { seg: 2, offset: 13 }));
        assert_eq!(count_pending(d, Pos::default()).unwrap(), 2);
    }

    #[test]
    fn garbage_lines_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut w = SpoolWriter::open(d, Pos::default(), 1 << 20).unwrap();
        w.append(&line("a")).unwrap();
        w.append(b"\xff\xfe not json\n").unwrap();
        w.append(b"{\"no_id\":1}\n").unwrap();
        w.append(&line("b")).unwrap();
        let mut r = SpoolReader::new(d, Pos::default());
        let (ids, _, corrupt) = read_all(&mut r);
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(corrupt, 2);
    }

    #[test]
    fn writer_after_a_cursor_into_a_deleted_segment_starts_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let cursor = Pos { seg: 5, offset: 99 };
        write_cursor(d, cursor).unwrap();
        let mut w = SpoolWriter::open(d, cursor, 1 << 20).unwrap();
        w.append(&line("x")).unwrap();
        assert_eq!(segments(d).unwrap(), vec![6]);
        let mut r = SpoolReader::new(d, cursor);
        assert_eq!(read_all(&mut r).0, ["x"]);
    }

    #[test]
    fn corrupt_cursor_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CURSOR), "garbage").unwrap();
        let e = read_cursor(dir.path()).unwrap_err();
        assert!(e.to_string().contains("corrupt spool cursor"), "{e}");
    }

    #[test]
    fn second_lock_fails() {
        let dir = tempfile::tempdir().unwrap();
        let _a = lock(dir.path()).unwrap();
        let e = lock(dir.path()).unwrap_err();
        assert!(e.to_string().contains("in use"), "{e}");
    }

    proptest::proptest! {
        /// A damaged or hand-edited spool never panics the reader: every complete line is
        /// either handed out or counted as corrupt, and a torn tail is left alone.
        #[test]
        fn arbitrary_segment_bytes_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            valid in proptest::collection::vec("[a-f0-9]{1,16}", 0..5),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let mut data = Vec::new();
            for id in &valid {
                data.extend_from_slice(&line(id));
            }
            data.extend_from_slice(&bytes);
            fs::write(seg_path(d, 1), &data).unwrap();
            let lines = data.iter().filter(|&&b| b == b'\n').count() as u64;
            proptest::prop_assert_eq!(count_pending(d, Pos::default()).unwrap(), lines);
            let mut r = SpoolReader::new(d, Pos::default());
            let mut out = Vec::new();
            let mut corrupt = 0;
            r.read(usize::MAX, &mut out, &mut corrupt).unwrap();
            proptest::prop_assert_eq!(out.len() as u64 + corrupt, lines);
            let ids: Vec<&str> = out.iter().take(valid.len()).map(|(r, _)| r.id.as_str()).collect();
            proptest::prop_assert_eq!(ids, valid.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
