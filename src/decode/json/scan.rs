//! The fast path of the JSON decoder: a hand-written scanner for the lines that make up
//! nearly every real log, falling back to serde_json for everything else.
//!
//! Profiles of a JSON scan put half of the whole run's instructions in serde_json's generic
//! machinery (visitor calls per key and value, escape handling, re-validation of every string).
//! A log line is one object of short keys and plain strings; this scanner walks such a line
//! once over bytes already known to be UTF-8 and hands keys and values to the same trie and
//! [`EventBuilder`] calls as the serde path, in the same order.
//!
//! It accepts only what it can check completely: an escape sequence in a string (`\"`,
//! `\u00e9`), nesting deeper than [`MAX_DEPTH`] or anything unexpected returns [`Bail`], and the
//! caller decodes the line again through serde_json from a fresh builder. So a line is never
//! accepted here that serde_json would reject, every error message is serde_json's, and a
//! property test holds the two paths equal on generated and mutated lines.

use super::{Node, Table};
use crate::decode::fields::{EventBuilder, Number};

/// The line needs the full parser.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Bail;

/// Objects and arrays nested deeper than this go to serde_json (whose limit is 128).
const MAX_DEPTH: usize = 32;

/// Parses `line` (valid UTF-8, byte-order mark removed) into `b`, or [`Bail`]s with `b` in an
/// unspecified state.
pub(super) fn scan_into(root: &Table, line: &str, b: &mut EventBuilder<'_>) -> Result<(), Bail> {
    let mut s = Scanner {
        bytes: line.as_bytes(),
        text: line,
        pos: 0,
    };
    s.skip_ws();
    s.expect(b'{')?;
    s.object(root, b, 1)?;
    s.skip_ws();
    if s.pos == s.bytes.len() {
        Ok(())
    } else {
        Err(Bail)
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    /// The same bytes as text (for string slices without a second UTF-8 check).
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), Bail> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// After the opening quote: the string's text up to the closing quote, which is consumed.
    /// An escape or a control character (which JSON forbids unescaped) bails.
    fn string(&mut self) -> Result<&'a str, Bail> {
        let start = self.pos;
        let len = first_special(&self.bytes[start..]).ok_or(Bail)?;
        if self.bytes[start + len] != b'"' {
            return Err(Bail);
        }
        self.pos = start + len + 1;
        // Both ends sit next to an ASCII quote: on character boundaries.
        self.text.get(start..start + len).ok_or(Bail)
    }

    /// After `{`: the members, each key looked up in `table`, through the closing `}`.
    fn object(
        &mut self,
        table: &Table,
        b: &mut EventBuilder<'_>,
        depth: usize,
    ) -> Result<(), Bail> {
        self.members(|s, key| match table.get(key) {
            Some(node) => s.value(node, b, depth),
            None => s.skip_value(depth),
        })
    }

    /// After `{`: each member's key handed to `member` (positioned at the value, which it
    /// must consume), through the closing `}`.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Result<(), Bail>,
    ) -> Result<(), Bail> {
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.expect(b'"')?;
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            member(self, key)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Bail),
            }
        }
    }

    /// A member's value under an accepted name: as the serde path's `ValueSeed`.
    fn value(&mut self, node: &Node, b: &mut EventBuilder<'_>, depth: usize) -> Result<(), Bail> {
        match self.peek().ok_or(Bail)? {
            b'"' => {
                self.pos += 1;
                let v = self.string()?;
                if let Some(t) = node.target {
                    b.set_text(t, v);
                }
            }
            b'{' => {
                if depth >= MAX_DEPTH {
                    return Err(Bail);
                }
                self.pos += 1;
                match &node.children {
                    Some(children) => self.object(children, b, depth + 1)?,
                    None => self.skip_object(depth + 1)?,
                }
            }
            b'[' => self.skip_value(depth)?,
            b't' => {
                self.literal(b"true")?;
                if let Some(t) = node.target {
                    b.set_bool(t, true);
                }
            }
            b'f' => {
                self.literal(b"false")?;
                if let Some(t) = node.target {
                    b.set_bool(t, false);
                }
            }
            b'n' => self.literal(b"null")?,
            b'-' | b'0'..=b'9' => {
                let token = self.number()?;
                if let Some(t) = node.target {
                    b.set_number(t, parse_number(token)?);
                }
            }
            _ => return Err(Bail),
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Bail> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// A number token, checked against JSON's grammar
    /// (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
    fn number(&mut self) -> Result<&'a str, Bail> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Bail),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(Bail);
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(Bail);
            }
            self.digits();
        }
        self.text.get(start..self.pos).ok_or(Bail)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// Any value, checked and dropped (a name no rule reads).
    fn skip_value(&mut self, depth: usize) -> Result<(), Bail> {
        match self.peek().ok_or(Bail)? {
            b'"' => {
                self.pos += 1;
                self.string()?;
            }
            b'{' => {
                if depth >= MAX_DEPTH {
                    return Err(Bail);
                }
                self.pos += 1;
                self.skip_object(depth + 1)?;
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return Err(Bail);
                }
                self.pos += 1;
                self.skip_array(depth + 1)?;
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'-' | b'0'..=b'9' => {
                self.number()?;
            }
            _ => return Err(Bail),
        }
        Ok(())
    }

    /// After `{` of an object no accepted name lives in.
    fn skip_object(&mut self, depth: usize) -> Result<(), Bail> {
        self.members(|s, _| s.skip_value(depth))
    }

    /// After `[`.
    fn skip_array(&mut self, depth: usize) -> Result<(), Bail> {
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.skip_value(depth)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Bail),
            }
        }
    }
}

/// Where the first `"`, `\\` or control character (below 0x20) is, eight bytes at a time: a
/// string's end, or the reason to bail.
fn first_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        // The classic "has a zero byte" and "has a byte below n" tests: the lowest flagged
        // byte is always a true hit (a borrow can only flag bytes above it).
        let hits = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | w.wrapping_sub(ONES * 0x20) & !w)
            & HIGH;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p)
}

/// A number token as serde_json hands it to a visitor: `u64` when it is a non-negative
/// integer that fits, `i64` for a negative one that fits, `f64` otherwise (serde_json's own
/// parser, so the float is bit-for-bit the same).
fn parse_number(token: &str) -> Result<Number, Bail> {
    let n: serde_json::Number = token.parse().map_err(|_| Bail)?;
    if let Some(u) = n.as_u64() {
        Ok(Number::U64(u))
    } else if let Some(i) = n.as_i64() {
        Ok(Number::I64(i))
    } else {
        n.as_f64().map(Number::F64).ok_or(Bail)
    }
}
