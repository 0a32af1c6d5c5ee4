//! Streaming segment reader: pulls bytes from any `Read` through one reused buffer and hands out
//! segments borrowed from it, with their byte offset in the original input. Memory is bounded
//! by the longest segment (or, in keep mode, by the span the caller asked to keep), never by the
//! file. It finds delimiters in each ISA header and skips what real files put between segments
//! (BOM, CR/LF, indentation). It does not interpret envelopes or grammars.

use std::io::{self, Read};

use super::lexer::{self, Delimiters, HeaderError};

/// Buffer size a reader grows to (and keeps) on a large input.
const FULL_BUF: usize = 256 * 1024;
/// Buffer size a reader starts with, before it knows the input is large.
const FIRST_BUF: usize = 8 * 1024;
/// A "segment" longer than this is garbage (a binary file, a missing terminator); the reader
/// reports it instead of buffering without end.
pub const MAX_SEGMENT: usize = 8 * 1024 * 1024;

/// One thing the reader found in the input.
#[derive(Debug)]
pub enum Item<'a> {
    /// A segment (without its terminator). `raw` is borrowed from the reader's buffer.
    Segment(Segment<'a>),
    /// Bytes that are not part of any interchange (text before the first ISA, EBCDIC, ...).
    Garbage { offset: u64, len: u64 },
    /// An ISA whose delimiters could not be read; the reader skipped to the next ISA.
    /// `fields` holds ISA01..ISA16 when the fixed-width layout still gives them (else empty).
    BadHeader {
        offset: u64,
        error: HeaderError,
        fields: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub raw: &'a [u8],
    /// Byte offset of the segment's first byte in the original input.
    pub offset: u64,
    pub delimiters: Delimiters,
    /// The segment is the last of the input and had no terminator.
    pub unterminated: bool,
}

impl Segment<'_> {
    pub fn id(&self) -> &[u8] {
        lexer::segment_id(self.raw, &self.delimiters)
    }
}

/// Things worth a warning that do not make a segment wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderNote {
    /// Spaces or tabs between segments (after the terminator).
    WhitespaceBetweenSegments { offset: u64 },
    /// CR/LF inside segments: the interchange is hard-wrapped at a fixed width.
    HardWrapped { offset: u64 },
    /// ISA11 holds a letter although ISA12 calls for a repetition separator.
    RepetitionSeparatorIsLetter { offset: u64 },
    /// Segments end with spaces and a line end; the line end was read as the terminator.
    SpacesBeforeLineEnd { offset: u64 },
}

pub struct SegmentReader<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Offset in the input of `buf[0]`.
    base: u64,
    eof: bool,
    delims: Option<Delimiters>,
    /// CR/LF inside segments are line wraps to remove (set per interchange).
    wrapped: bool,
    /// Trailing spaces before a line-end terminator are padding (set per interchange).
    trim_spaces: bool,
    /// Offset from which bytes must stay in the buffer (keep mode).
    keep_from: Option<u64>,
    at_start: bool,
    notes: Vec<ReaderNote>,
    noted_whitespace: bool,
    /// Terminators found ahead; forgotten whenever the buffer's bytes move or change.
    ahead: TerminatorsAhead,
}

/// Terminators found ahead in the buffer: bit i of `mask` is set where `buf[base + i]` is
/// `byte`, for the `len` (at most 64) bytes from `base`. Segments average a few dozen bytes,
/// so one 64-byte mask serves the next segment or two with a bit scan each, where a `memchr`
/// per segment paid its set-up every time.
#[derive(Default)]
struct TerminatorsAhead {
    mask: u64,
    base: usize,
    len: usize,
    byte: u8,
}

impl TerminatorsAhead {
    fn forget(&mut self) {
        self.len = 0;
    }

    /// The first `sep` in `buf[from..end]`.
    #[inline]
    fn find(&mut self, buf: &[u8], end: usize, mut from: usize, sep: u8) -> Option<usize> {
        if sep != self.byte {
            self.byte = sep;
            self.len = 0;
        }
        let origin = from;
        loop {
            if from >= self.base && from < self.base + self.len {
                let m = self.mask & (u64::MAX << (from - self.base));
                if m != 0 {
                    return Some(self.base + m.trailing_zeros() as usize);
                }
                from = self.base + self.len;
                if self.len == 64 && self.base >= origin {
                    // A whole window of this segment without a terminator: a long segment,
                    // the rest in one vectorised search.
                    let rest = buf.get(from..end).unwrap_or_default();
                    return memchr::memchr(sep, rest).map(|i| from + i);
                }
            }
            if from >= end {
                return None;
            }
            let len = (end - from).min(64);
            self.mask = lexer::sep_mask(buf.get(from..from + len).unwrap_or_default(), sep);
            self.base = from;
            self.len = len;
        }
    }
}

/// Bytes skipped between segments: line ends, and whitespace or NUL (noted once).
fn is_filler(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0)
}

impl<R: Read> SegmentReader<R> {
    pub fn new(src: R) -> Self {
        SegmentReader {
            src,
            // Small at first: the drop folder opens a reader per (usually small) file, and
            // zeroing a full buffer each time cost more than checking the file. It grows to
            // FULL_BUF on the first refills of a large input.
            buf: vec![0; FIRST_BUF],
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            delims: None,
            wrapped: false,
            trim_spaces: false,
            keep_from: None,
            at_start: true,
            notes: Vec::new(),
            noted_whitespace: false,
            ahead: TerminatorsAhead::default(),
        }
    }

    /// Delimiters of the interchange being read, once its ISA was seen.
    pub fn delimiters(&self) -> Option<Delimiters> {
        self.delims
    }

    /// Whether there are warnings to take (rarely: asked after every item).
    #[inline]
    pub fn has_notes(&self) -> bool {
        !self.notes.is_empty()
    }

    /// Warnings collected so far (drained).
    pub fn take_notes(&mut self) -> Vec<ReaderNote> {
        std::mem::take(&mut self.notes)
    }

    /// Keep every byte from `offset` on in the buffer until `release`, so segments handed out
    /// since then can be re-read with `slice`. Used to hold one transaction set at a time.
    pub fn keep_from(&mut self, offset: u64) {
        self.keep_from = Some(offset);
    }

    pub fn release(&mut self) {
        self.keep_from = None;
    }

    /// Bytes at `offset..offset+len` of the input, if still buffered (keep mode guarantees it).
    pub fn slice(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let s = offset.checked_sub(self.base)? as usize;
        self.buf.get(s..s.checked_add(len)?)
    }

    /// Offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Makes room and reads more bytes. Returns false at end of input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let keep = match self.keep_from {
            Some(k) if k >= self.base => ((k - self.base) as usize).min(self.start),
            _ => self.start,
        };
        if keep > 0 {
            self.ahead.forget();
            self.buf.copy_within(keep..self.end, 0);
            self.end -= keep;
            self.start -= keep;
            self.base += keep as u64;
        }
        if self.end == self.buf.len() || self.buf.len() < FULL_BUF {
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Ensures at least `n` unread bytes are buffered, unless the input ends first.
    fn want(&mut self, n: usize) -> io::Result<bool> {
        while self.end - self.start < n {
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Skips a BOM at the very start, and whitespace between segments.
    fn skip_filler(&mut self) -> io::Result<()> {
        if self.at_start {
            self.want(3)?;
            if self.buf[self.start..self.end].starts_with(&[0xEF, 0xBB, 0xBF]) {
                self.start += 3;
            }
            self.at_start = false;
        }
        loop {
            while self.start < self.end {
                let b = self.buf[self.start];
                match b {
                    // Line ends after terminators, and blank lines where LF is the terminator.
                    b'\r' | b'\n' => self.start += 1,
                    _ if is_filler(b) => {
                        if !self.noted_whitespace && self.delims.is_some() {
                            self.noted_whitespace = true;
                            self.notes.push(ReaderNote::WhitespaceBetweenSegments {
                                offset: self.position(),
                            });
                        }
                        self.start += 1;
                    }
                    _ => return Ok(()),
                }
            }
            if !self.fill()? {
                return Ok(());
            }
        }
    }

    /// The next item, or `None` at end of input. In line (the envelope's read loop is its one
    /// caller), with `read_segment`: the item then reaches the engine in registers.
    #[inline(always)]
    pub fn next_item(&mut self) -> io::Result<Option<Item<'_>>> {
        // Inside an interchange, a segment usually starts right here with plenty buffered:
        // nothing to skip, nothing to fill and no header to look for (what the tests below
        // would find too, after all their work).
        let at_segment = self.delims.is_some()
            && self.end - self.start >= lexer::ISA_LEN + 8
            && self
                .buf
                .get(self.start)
                .is_some_and(|&b| !is_filler(b) && b != b'I');
        if !at_segment {
            self.skip_filler()?;
            if self.start >= self.end && !self.want(1)? {
                return Ok(None);
            }
            // Enough bytes to recognise an ISA header (plus slack for line wraps).
            self.want(lexer::ISA_LEN + 8)?;
            let avail = &self.buf[self.start..self.end];
            // Only an `I` can start a header: the other segments skip the full test.
            if avail.first() == Some(&b'I') && lexer::starts_isa(avail) {
                return self.read_header().map(Some);
            }
        }
        let Some(d) = self.delims else {
            return self.skip_garbage().map(Some);
        };
        self.read_segment(d).map(Some)
    }

    fn skip_garbage(&mut self) -> io::Result<Item<'_>> {
        let from = self.position();
        loop {
            let avail = &self.buf[self.start..self.end];
            // Look for the next "ISA" that starts a header; keep a 3-byte tail for a split match.
            let mut cut = None;
            let mut i = 1;
            while let Some(p) = memchr::memmem::find(&avail[i..], b"ISA") {
                let at = i + p;
                if at + 4 <= avail.len() && lexer::starts_isa(&avail[at..]) {
                    cut = Some(at);
                    break;
                }
                if at + 4 > avail.len() {
                    break;
                }
                i = at + 1;
            }
            match cut {
                Some(at) => {
                    self.start += at;
                    break;
                }
                None => {
                    let consumed = avail.len().saturating_sub(3);
                    self.start += consumed;
                    if !self.fill()? {
                        self.start = self.end;
                        break;
                    }
                }
            }
        }
        self.delims = None;
        Ok(Item::Garbage {
            offset: from,
            len: self.position() - from,
        })
    }

    fn read_header(&mut self) -> io::Result<Item<'_>> {
        self.ahead.forget();
        let offset = self.position();
        let has_crlf = |b: &[u8]| b.iter().any(|&c| c == b'\r' || c == b'\n');
        // Hard-wrapped files put CR/LF inside the ISA: remove them in place and read it again.
        let first = lexer::read_isa_layout(&self.buf[self.start..self.end]);
        let head = (self.end - self.start).min(lexer::ISA_LEN - 1);
        let wrapped = match &first {
            Ok(l) => has_crlf(&self.buf[self.start..self.start + l.len - 1]),
            Err(_) => has_crlf(&self.buf[self.start..self.start + head]),
        };
        let layout = if wrapped {
            strip_crlf_prefix(&mut self.buf[self.start..self.end], lexer::ISA_LEN);
            lexer::read_isa_layout(&self.buf[self.start..self.end])
        } else {
            first
        };
        self.wrapped = wrapped;
        match layout {
            Ok(l) => {
                self.delims = Some(l.delimiters);
                if l.repetition_is_letter {
                    self.notes
                        .push(ReaderNote::RepetitionSeparatorIsLetter { offset });
                }
                if wrapped {
                    self.notes.push(ReaderNote::HardWrapped { offset });
                }
                self.trim_spaces = l.spaces_before_newline;
                if l.spaces_before_newline {
                    self.notes.push(ReaderNote::SpacesBeforeLineEnd { offset });
                }
                let s = self.start;
                self.start = s + l.len;
                Ok(Item::Segment(Segment {
                    raw: &self.buf[s..s + l.len - 1],
                    offset,
                    delimiters: l.delimiters,
                    unterminated: false,
                }))
            }
            Err(error) => {
                let fields =
                    lexer::isa_fixed_fields(&self.buf[self.start..self.end]).unwrap_or_default();
                self.start += 3;
                self.delims = None;
                Ok(Item::BadHeader {
                    offset,
                    error,
                    fields,
                })
            }
        }
    }

    #[inline(always)]
    fn read_segment(&mut self, d: Delimiters) -> io::Result<Item<'_>> {
        let offset = self.position();
        let mut scanned = 0;
        let term_at = loop {
            if let Some(t) = self
                .ahead
                .find(&self.buf, self.end, self.start + scanned, d.segment)
            {
                break Some(t);
            }
            scanned = self.end - self.start;
            if scanned > MAX_SEGMENT {
                // Hand the oversized run out as garbage rather than buffering forever.
                let len = scanned as u64;
                self.start = self.end;
                self.delims = None;
                return Ok(Item::Garbage { offset, len });
            }
            if !self.fill()? {
                break None;
            }
        };
        let (seg_end, next, unterminated) = match term_at {
            Some(t) => (t, t + 1, false),
            None => (self.end, self.end, true),
        };
        let s = self.start;
        self.start = next;
        let mut len = seg_end - s;
        if self.wrapped {
            self.ahead.forget();
            len = strip_crlf_all(&mut self.buf[s..seg_end]);
        } else if d.segment != b'\n' && d.segment != b'\r' {
            // A CR just before an LF terminator-style line end belongs to neither; trim it.
            while len > 0 && self.buf[s + len - 1] == b'\r' {
                len -= 1;
            }
        } else if d.segment == b'\n' && len > 0 && self.buf[s + len - 1] == b'\r' {
            len -= 1;
        }
        if self.trim_spaces {
            while len > 0 && self.buf[s + len - 1] == b' ' {
                len -= 1;
            }
        }
        Ok(Item::Segment(Segment {
            raw: &self.buf[s..s + len],
            offset,
            delimiters: d,
            unterminated,
        }))
    }
}

/// Removes CR/LF from `buf` so that its first `want` bytes are free of them, shifting the rest
/// left and padding the tail with CR (skipped later as filler). Returns how many were removed.
fn strip_crlf_prefix(buf: &mut [u8], want: usize) -> usize {
    let mut w = 0;
    let mut r = 0;
    let mut removed = 0;
    while r < buf.len() && w < want {
        let b = buf[r];
        if b == b'\r' || b == b'\n' {
            removed += 1;
        } else {
            buf[w] = b;
            w += 1;
        }
        r += 1;
    }
    if removed > 0 {
        // Slide the remainder left and pad the freed tail with CR, which `skip_filler` and
        // `strip_crlf_all` ignore, so no byte of the input is lost or duplicated.
        buf.copy_within(r.., w);
        let tail = buf.len() - removed;
        for b in &mut buf[tail..] {
            *b = b'\r';
        }
    }
    removed
}

/// Removes every CR/LF in place, returning the new length.
fn strip_crlf_all(buf: &mut [u8]) -> usize {
    let mut w = 0;
    for r in 0..buf.len() {
        let b = buf[r];
        if b != b'\r' && b != b'\n' {
            buf[w] = b;
            w += 1;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(input: &[u8]) -> Vec<String> {
        let mut r = SegmentReader::new(input);
        let mut out = Vec::new();
        while let Some(item) = r.next_item().unwrap() {
            match item {
                Item::Segment(s) => out.push(String::from_utf8_lossy(s.raw).into_owned()),
                Item::Garbage { .. } => out.push("<garbage>".into()),
                Item::BadHeader { .. } => out.push("<bad>".into()),
            }
        }
        out
    }

    const ISA: &str = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240101*1200*U*00401*000000001*0*P*>~";

    #[test]
    fn reads_segments_with_crlf_and_indentation() {
        let input = format!(
            "\u{feff}{ISA}\r\n  GS*PO*A*B~\r\n   ST*850*0001~\nSE*2*0001~GE*1*1~IEA*1*000000001~\n"
        );
        let got = ids(input.as_bytes());
        assert_eq!(got.len(), 6);
        assert_eq!(got[1], "GS*PO*A*B");
        assert_eq!(got[5], "IEA*1*000000001");
    }

    #[test]
    fn newline_terminator() {
        let isa = ISA.replace('~', "\n");
        let input = format!("{isa}GS*PO*A*B\r\nST*850*0001\nSE*2*0001\n");
        assert_eq!(ids(input.as_bytes())[3], "SE*2*0001");
    }

    #[test]
    fn hard_wrapped_interchange() {
        let body =
            format!("{ISA}GS*PO*SENDER*RECEIVER*20240101*1200*1*X*004010~ST*850*0001~SE*2*0001~");
        let wrapped: String = body
            .as_bytes()
            .chunks(80)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n");
        let got = ids(wrapped.as_bytes());
        assert_eq!(got[0].len(), 105);
        assert_eq!(got[1], "GS*PO*SENDER*RECEIVER*20240101*1200*1*X*004010");
        assert_eq!(got[3], "SE*2*0001");
    }

    /// Hands out its bytes `piece` at a time.
    struct Pieces<'a>(&'a [u8], usize);
    impl Read for Pieces<'_> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(b.len()).min(self.1);
            b[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn terminators_found_across_windows_and_refills() {
        // Segments of many lengths, around the 64-byte terminator window and well past it,
        // read whole and in pieces that split them anywhere (refills move the buffer).
        let mut input = ISA.to_string();
        let mut want = vec![ISA[..ISA.len() - 1].to_string()];
        for n in 0..400usize {
            let seg = format!("REF*ZZ*{}", "x".repeat((n * 7) % 300));
            input.push_str(&seg);
            input.push('~');
            want.push(seg);
        }
        input.push_str("REF*ZZ*last");
        want.push("REF*ZZ*last".into());
        assert_eq!(ids(input.as_bytes()), want);
        for piece in [1usize, 7, 63, 64, 65, 1000, 100_000] {
            let mut r = SegmentReader::new(Pieces(input.as_bytes(), piece));
            let mut got = Vec::new();
            while let Some(item) = r.next_item().unwrap() {
                match item {
                    Item::Segment(s) => got.push(String::from_utf8_lossy(s.raw).into_owned()),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(got, want, "read in pieces of {piece}");
        }
    }

    #[test]
    fn a_second_interchange_changes_the_terminator() {
        let other = ISA.replace('~', "!");
        let input = format!("{ISA}GS*PO~ST*850*1~{other}GS*PO!ST*850~2!SE*1*2!");
        let got = ids(input.as_bytes());
        assert_eq!(got[1], "GS*PO");
        assert_eq!(got[4], "GS*PO");
        assert_eq!(got[5], "ST*850~2");
        assert_eq!(got[6], "SE*1*2");
    }

    #[test]
    fn garbage_before_isa_and_small_reads() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(b.len()).min(7);
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let input = format!("hello world{ISA}GS*PO~");
        let mut r = SegmentReader::new(Trickle(input.as_bytes()));
        assert!(matches!(
            r.next_item().unwrap(),
            Some(Item::Garbage { offset: 0, len: 11 })
        ));
        match r.next_item().unwrap() {
            Some(Item::Segment(s)) => assert_eq!(s.offset, 11),
            other => panic!("{other:?}"),
        }
        match r.next_item().unwrap() {
            Some(Item::Segment(s)) => assert_eq!(s.raw, b"GS*PO"),
            other => panic!("{other:?}"),
        }
        assert!(r.next_item().unwrap().is_none());
    }
}
