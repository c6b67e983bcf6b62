//! Decoders: one input line in, at most one normalized [`AuthEvent`] out.
//!
//! A decoder is created per input (so it may keep per-input state: a CSV header, the year of
//! syslog lines). It never does I/O and never knows about detectors. A line it understands but
//! that says nothing about authentication (a `GET /`, an sshd `Connection closed`) is
//! `Ok(None)`: recognized and irrelevant, not rejected. A line it cannot read is a
//! [`ParseError`], which the drivers count by reason.

pub mod access;
pub mod delimited;
pub mod fields;
pub mod json;
pub mod sshd;

use crate::error::ParseError;
use crate::event::{AuthEvent, LineMeta};

/// Turns lines of one input into events.
pub trait Decoder: Send {
    /// The format's name as used in `--format` and the summary (`access`, `json`, `sshd`, `csv`).
    fn name(&self) -> &'static str;

    /// Decodes one line (without its line terminator).
    ///
    /// Returns `Ok(Some(event))` for an authentication or account event, `Ok(None)` for a line
    /// that is well-formed but not about authentication (or, for CSV, a header or the first part
    /// of a record that continues on the next line), and `Err` for a line that cannot be read.
    fn decode(&mut self, line: &[u8], meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError>;

    /// Another decoder for the same input, when lines can be decoded independently and in any
    /// order (nothing carried from one line to the next), so that a large input's lines can be
    /// decoded on several cores. `None` (the default): the lines must go through this decoder,
    /// in order (CSV records spanning lines, sshd's "message repeated").
    fn fork(&self) -> Option<Box<dyn Decoder>> {
        None
    }

    /// Called once after the last line of the input (`meta` names that line), for decoders that
    /// hold an unfinished record (a CSV quote still open). The default has nothing pending.
    fn finish(&mut self, _meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError> {
        Ok(None)
    }
}

use std::fmt;
use std::str::FromStr;

use crate::error::ConfigError;
use crate::time::Timestamp;

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Web access logs: nginx / Apache (combined or common, optional trailing fields, a
    /// leading virtual host, syslog-wrapped), traefik CLF, HAProxy's HTTP log, Caddy's JSON.
    Access,
    /// JSON lines: the canonical schema or Elastic Common Schema names.
    Json,
    /// sshd / syslog auth logs.
    Sshd,
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
}

impl Format {
    /// The name used in `--format`, the config and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Access => "access",
            Format::Json => "json",
            Format::Sshd => "sshd",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;

    /// Accepts the names and common aliases (`nginx`, `apache`, `combined`, `jsonl`, `ndjson`,
    /// `ecs`, `syslog`, `auth.log`).
    fn from_str(s: &str) -> Result<Format, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "access" | "nginx" | "apache" | "combined" | "common" | "clf" => Format::Access,
            "json" | "jsonl" | "ndjson" | "ecs" => Format::Json,
            "sshd" | "syslog" | "auth" | "auth.log" | "authlog" => Format::Sshd,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            other => {
                return Err(format!(
                    "unknown format `{other}` (expected auto, access, json, sshd, csv or tsv)"
                ));
            }
        })
    }
}

/// The first line of `head` that is not blank (a CSV header, say).
fn first_line(head: &[u8]) -> &[u8] {
    head.split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .unwrap_or(&[])
}

/// Builds decoders for inputs from the validated per-format settings.
#[derive(Debug, Clone)]
pub struct DecoderFactory {
    /// Built once: compiling the route map's regex set takes milliseconds.
    access: access::AccessDecoder,
    /// Built once; also knows the configured JSON field names, for format detection.
    json: json::JsonDecoder,
    csv: delimited::CsvConfig,
    sshd: sshd::SshdConfig,
}

impl DecoderFactory {
    /// Validates every format's settings by building one decoder of each, so a bad regex or
    /// mapping is reported before any input is read.
    pub fn new(
        access: &access::AccessConfig,
        json: &json::JsonConfig,
        csv: &delimited::CsvConfig,
        sshd: &sshd::SshdConfig,
    ) -> Result<DecoderFactory, ConfigError> {
        let f = DecoderFactory {
            access: access::AccessDecoder::new(access)?,
            json: json::JsonDecoder::new(json)?,
            csv: csv.clone(),
            sshd: sshd.clone(),
        };
        f.build(Format::Sshd, Timestamp(0), b"")?;
        f.build(Format::Csv, Timestamp(0), b"")?;
        Ok(f)
    }

    /// Recognizes an input's format from its first bytes: the first line for CSV/TSV (a header
    /// with a time and an event column, under canonical, ECS or configured names), otherwise the
    /// format that most of the first 20 non-blank lines parse as, so a few dirty lines at the
    /// top don't change the verdict.
    pub fn detect(&self, head: &[u8]) -> Option<Format> {
        let mut lines: Vec<&[u8]> = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .take(21)
            .collect();
        // The last piece of a full head buffer is probably a cut-off line.
        if head.len() >= crate::source::HEAD_BYTES && !head.ends_with(b"\n") {
            lines.pop();
        }
        lines.truncate(20);
        let first = lines.first()?;
        if let Some(delim) = delimited::detect_delimiter(&self.csv, first) {
            return Some(if delim == b'\t' {
                Format::Tsv
            } else {
                Format::Csv
            });
        }
        let json = lines.iter().filter(|l| self.json.looks_like(l)).count();
        let mut access = 0;
        let mut syslog = 0;
        for l in &lines {
            if access::looks_like_access(l) {
                access += 1;
            } else if let Some(msg) = sshd::syslog_message(l) {
                // An access line relayed through syslog (`web01 nginx: 1.2.3.4 - - [...]`) is
                // an access log in a syslog envelope, not an auth log.
                if access::looks_like_access(msg) {
                    access += 1;
                } else {
                    syslog += 1;
                }
            } else if sshd::looks_like_dropbear(l) {
                // dropbear's messages without a syslog header (read from its stderr).
                syslog += 1;
            }
        }
        [
            (Format::Json, json),
            (Format::Access, access),
            (Format::Sshd, syslog),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .max_by_key(|(_, n)| *n)
        .map(|(f, _)| f)
    }

    /// A fresh decoder for one input. `reference` is the input's modification time (or now),
    /// from which syslog lines without a year get theirs; `head` is the input's first bytes, from
    /// which a CSV decoder takes its delimiter when the config names none.
    pub fn build(
        &self,
        format: Format,
        reference: Timestamp,
        head: &[u8],
    ) -> Result<Box<dyn Decoder>, ConfigError> {
        Ok(match format {
            Format::Access => Box::new(self.access.clone()),
            Format::Json => Box::new(self.json.clone()),
            Format::Sshd => Box::new(sshd::SshdDecoder::new(&self.sshd, reference)?),
            Format::Csv | Format::Tsv => {
                let default = if format == Format::Tsv { b'\t' } else { b',' };
                let delimiter = match self.csv.delimiter_byte()? {
                    Some(d) => d,
                    None => {
                        delimited::detect_delimiter(&self.csv, first_line(head)).unwrap_or(default)
                    }
                };
                Box::new(delimited::CsvDecoder::new(&self.csv, delimiter)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factory() -> DecoderFactory {
        DecoderFactory::new(
            &access::AccessConfig::default(),
            &json::JsonConfig::default(),
            &delimited::CsvConfig::default(),
            &sshd::SshdConfig::default(),
        )
        .unwrap()
    }

    #[test]
    fn detects_the_syslog_headers_real_servers_write() {
        let f = factory();
        for head in [
            &b"<38>1 2022-01-19T14:23:55+00:00 OPNsense.localdomain sshd 44255 - [meta sequenceId=\"1\"] Invalid user tutu from 1.2.3.4 port 33166\n"[..],
            b"2020-03-24 08:38:42.344447-0700  localhost sshd[2519]: Failed password for user from 172.18.1.100 port 43042 ssh2\n",
            b"Jan  8 16:39:33 tp.lan dropbear[14824]: Bad password attempt for 'root' from 193.219.28.149:48629\n",
            b"Exit (root): Disconnect received\nBad PAM password attempt for 'foobar' from 192.168.9.163:49242\n",
            b"Jun 13 23:29:15 UDMP-DTC [WAN_LOCAL-D-2147483647] DESCR=x SRC=192.168.1.1\nJun 27 09:02:22 Dream-Machine-Pro Dream-Machine-Pro sshd[454008]: Failed keyboard-interactive/pam for invalid user asdasf from 192.168.1.2 port 5454 ssh2\n",
            b"Nov 20 10:15:02.123456 host sshd[1]: Accepted publickey for a from 1.2.3.4 port 5 ssh2\n",
        ] {
            assert_eq!(
                f.detect(head),
                Some(Format::Sshd),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn an_access_log_in_a_syslog_envelope_is_not_sshd() {
        let f = factory();
        let head = b"Jan 11 10:13:05 web01 nginx: 10.10.10.11 - - [10/Apr/2017:13:18:05 -0700] \"GET /x HTTP/1.1\" 404 271 \"-\" \"curl\"\n\
Jan 11 10:13:05 web01 apache: 10.11.12.13 - - [27/Mar/2017:13:40:40 -0700] \"GET /y HTTP/1.1\" 200 1 \"-\" \"curl\"\n\
Jan 11 10:13:06 web01 sshd[1]: Failed password for root from 1.2.3.4 port 5 ssh2\n";
        assert_eq!(f.detect(head), Some(Format::Access));
        assert_eq!(
            f.detect(b"1.2.3.4 - - [10/Oct/2026:13:55:36 +0900] \"POST /login HTTP/1.1\" 401 12\n"),
            Some(Format::Access)
        );
    }

    #[test]
    fn detects_the_access_shapes_real_servers_write() {
        let f = factory();
        for head in [
            // Leading virtual host, with and without a port.
            &b"www.crowdsec.net 192.168.1.1 - - [08/Jun/2020:08:04:43 +0000] \"GET / HTTP/1.1\" 500 803 \"-\" \"ua\"\nwebsite.com:443 1.2.3.4 - - [25/Oct/2021:11:05:52 +0200] \"GET / HTTP/1.1\" 403 6963 \"-\" \"ua\"\n"[..],
            // One-digit day, no zone, no identd field.
            b"10.0.0.5 - - [1/Apr/2014:00:00:01 -0500] \"GET / HTTP/1.1\" 403 181\n192.168.1.1 - [08/Jun/2020:08:04:43] \"GET /api HTTP/1.1\" 200 100\n",
            // HAProxy, bare and in syslog.
            b"117.136.40.129:14853 [14/Jan/2015:12:48:57.127] https-in~ b/s 170/0/0/3/173 200 739 - - --NN 0/0/0/0/0 0/0 \"GET /x HTTP/1.1\"\nFeb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 \"GET /index.html HTTP/1.1\"\n",
            // Caddy's JSON access log.
            b"{\"level\":\"info\",\"ts\":1693840791.75,\"logger\":\"http.log.access\",\"msg\":\"handled request\",\"request\":{\"remote_ip\":\"172.17.0.1\",\"method\":\"GET\",\"uri\":\"/\"},\"status\":200}\n",
        ] {
            assert_eq!(
                f.detect(head),
                Some(Format::Access),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
