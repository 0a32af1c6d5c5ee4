//! `edigate validate`: checks each file, streaming, and prints a report or the acknowledgement.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use super::report::Report;
use super::{AckArg, Format};
use crate::x12::ack::{AckKind, AckOptions, AckWriter, Counter, Ta1Mode, Tee};
use crate::x12::envelope;
use crate::x12::grammar::Grammars;
use crate::x12::offload::Parallel;
use crate::x12::validate::Leniency;

/// Reads the first bytes of a file for sniffing, and gives them back in front of the rest.
pub(crate) fn sniff(mut f: File) -> io::Result<(Vec<u8>, File)> {
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    head.truncate(n);
    Ok((head, f))
}

/// The first byte of a head after a UTF-8 BOM and whitespace (`None`: too blank to tell).
pub(crate) fn first_text_byte(head: &[u8]) -> Option<u8> {
    let h = head.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(head);
    h.iter().copied().find(|b| !b.is_ascii_whitespace())
}

pub(crate) fn is_xml(head: &[u8]) -> bool {
    first_text_byte(head) == Some(b'<')
}

pub fn run(
    grammars: &Grammars,
    files: &[PathBuf],
    format: Format,
    ack: Option<AckArg>,
    threads: Option<usize>,
) -> u8 {
    let parallel = match threads {
        None => Parallel::auto(),
        Some(workers) => Parallel {
            workers,
            ..Parallel::auto()
        },
    };
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut worst = 0u8;
    let mut numbers = Counter {
        interchange: 0,
        group: 0,
    };
    for path in files {
        let label = path.display().to_string();
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("edigate: cannot read {label}: {e}");
                worst = 2;
                continue;
            }
        };
        let (head, rest) = match sniff(file) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("edigate: cannot read {label}: {e}");
                worst = 2;
                continue;
            }
        };
        if is_xml(&head) {
            let code = super::inspect::xml_validate(
                &label,
                head,
                rest,
                format == Format::Json,
                ack.is_some(),
            );
            worst = worst.max(code);
            continue;
        }
        let input = io::Cursor::new(head).chain(rest);
        let json = format == Format::Json;
        let result = match ack {
            None => {
                let report = Report::new(BufWriter::new(stdout.lock()), label.clone(), json);
                envelope::check_with(input, grammars, Leniency::default(), report, parallel).map(
                    |(mut r, s)| {
                        let _ = r.out.flush();
                        (s, None)
                    },
                )
            }
            Some(a) => {
                let (kind, ta1) = match a {
                    AckArg::F997 => (Some(AckKind::F997), Ta1Mode::Never),
                    AckArg::F999 => (Some(AckKind::F999), Ta1Mode::Never),
                    AckArg::Ta1 => (None, Ta1Mode::Only),
                    AckArg::Auto => (Some(AckKind::F997), Ta1Mode::Auto),
                };
                let report = Report::new(BufWriter::new(stderr.lock()), label.clone(), json);
                let acks = AckWriter::new(
                    BufWriter::new(stdout.lock()),
                    AckOptions::new(kind, ta1),
                    &mut numbers,
                );
                envelope::check_with(
                    input,
                    grammars,
                    Leniency::default(),
                    Tee(report, acks),
                    parallel,
                )
                .map(|(Tee(mut r, a), s)| {
                    let _ = r.out.flush();
                    let err = a.error.as_ref().map(|e| e.to_string());
                    if let Some(mut out) = a.into_inner() {
                        let _ = out.flush();
                    }
                    (s, err)
                })
            }
        };
        match result {
            Ok((summary, ack_error)) => {
                if let Some(e) = ack_error {
                    eprintln!("edigate: {label}: could not write the acknowledgement: {e}");
                    worst = worst.max(1);
                }
                if !summary.clean() {
                    worst = worst.max(1);
                }
            }
            Err(e) => {
                eprintln!("edigate: cannot read {label}: {e}");
                worst = 2;
            }
        }
    }
    worst
}
