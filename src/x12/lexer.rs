//! Lexing: delimiters from the ISA header, and splitting one segment into elements, components
//! and repetitions. Everything here borrows from the caller's bytes; nothing allocates.
//! It knows nothing of envelopes or grammars.

use nom::bytes::complete::{tag, take};
use nom::IResult;

/// Fixed width of a standard ISA segment up to and including the segment terminator.
pub const ISA_LEN: usize = 106;

/// The four delimiters of one interchange, read from its ISA header.
#[derive(Debug, Clone, Copy, Eq)]
pub struct Delimiters {
    pub element: u8,
    pub component: u8,
    /// `None` before version 00402, or when ISA11 holds a letter or digit (a common mistake).
    pub repetition: Option<u8>,
    pub segment: u8,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters {
            element: b'*',
            component: b':',
            repetition: Some(b'^'),
            segment: b'~',
        }
    }
}

/// Compared in line: the clean-segment memo compares delimiters for every segment it probes,
/// and the derived comparison was called out of line.
impl PartialEq for Delimiters {
    #[inline(always)]
    fn eq(&self, other: &Self) -> bool {
        self.element == other.element
            && self.component == other.component
            && self.repetition == other.repetition
            && self.segment == other.segment
    }
}

impl Delimiters {
    /// True when `b` is one of the delimiters (data may never contain them).
    pub fn is_delimiter(&self, b: u8) -> bool {
        b == self.element || b == self.component || b == self.segment || Some(b) == self.repetition
    }
}

/// Why the delimiters of an ISA header could not be determined (TA1 note codes in brackets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the ISA segment ends after {0} bytes, before its 16 elements are complete")]
    Truncated(usize),
    #[error("element separator {0:?} is a letter, digit, space or non-ASCII byte [TA1 026]")]
    BadElementSeparator(char),
    #[error("component separator {0:?} is a letter, digit or equals another delimiter [TA1 027]")]
    BadComponentSeparator(char),
    #[error("segment terminator {0:?} is a letter, digit, space or non-ASCII byte, or equals another delimiter [TA1 004]")]
    BadSegmentTerminator(char),
}

impl HeaderError {
    /// The TA105 note code that answers this header problem.
    pub fn ta1_code(&self) -> u16 {
        match self {
            HeaderError::Truncated(_) => 23,
            HeaderError::BadElementSeparator(_) => 26,
            HeaderError::BadComponentSeparator(_) => 27,
            HeaderError::BadSegmentTerminator(_) => 4,
        }
    }
}

/// Offsets of the 16 element separators in a well-formed, fixed-width ISA.
const ISA_SEPARATORS: [usize; 16] = [
    3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103,
];

/// The 16 ISA elements read by their fixed offsets, whatever the separator byte is, when every
/// fixed separator position holds the same byte. Used to answer a header whose delimiters are
/// unusable with a TA1 that still names the sender, receiver and control number.
pub fn isa_fixed_fields(bytes: &[u8]) -> Option<Vec<String>> {
    if !bytes.starts_with(b"ISA") || !fixed_layout(bytes) {
        return None;
    }
    let mut fields = Vec::with_capacity(16);
    for (i, &p) in ISA_SEPARATORS.iter().enumerate() {
        let end = ISA_SEPARATORS.get(i + 1).copied().unwrap_or(p + 2);
        fields.push(String::from_utf8_lossy(&bytes[p + 1..end]).into_owned());
    }
    Some(fields)
}

/// Result of reading delimiters from the start of an ISA segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsaLayout {
    pub delimiters: Delimiters,
    /// Length of the ISA segment including its terminator (106 when it is well formed).
    pub len: usize,
    /// ISA11 was alphanumeric although ISA12 says a repetition separator is due.
    pub repetition_is_letter: bool,
    /// ISA16 was followed by spaces and a line end: the line end is the terminator, and
    /// spaces before it are padding (seen in files from some translators).
    pub spaces_before_newline: bool,
}

fn isa_tag(input: &[u8]) -> IResult<&[u8], &[u8]> {
    tag(&b"ISA"[..])(input)
}

fn one_byte(input: &[u8]) -> IResult<&[u8], u8> {
    let (rest, b) = take(1usize)(input)?;
    Ok((rest, b[0]))
}

/// True when `bytes` starts an ISA segment: `ISA` followed by a byte that can be a separator,
/// or by a letter or digit that recurs at every fixed separator offset (an unusable element
/// separator, which still deserves a TA1 026 rather than being skipped as garbage).
pub fn starts_isa(bytes: &[u8]) -> bool {
    bytes.len() >= 4
        && &bytes[..3] == b"ISA"
        && (!bytes[3].is_ascii_alphanumeric() || fixed_layout(bytes))
}

/// Every fixed separator offset of a 106-byte ISA holds the same byte.
fn fixed_layout(bytes: &[u8]) -> bool {
    bytes.len() >= ISA_LEN - 1 && ISA_SEPARATORS.iter().all(|&p| bytes[p] == bytes[3])
}

/// Reads the delimiters of an ISA header. `bytes` starts at `ISA` and must hold the whole
/// segment (CR/LF from hard line wraps already removed). Rather than trusting the fixed offsets
/// 103/104/105, it counts 16 element separators, so a header with unpadded ids still yields
/// its delimiters and the envelope check can report the precise width error.
pub fn read_isa_layout(bytes: &[u8]) -> Result<IsaLayout, HeaderError> {
    let parsed: IResult<&[u8], u8> = isa_tag(bytes).and_then(|(rest, _)| one_byte(rest));
    let (_, element) = parsed.map_err(|_| HeaderError::Truncated(bytes.len()))?;
    if element.is_ascii_alphanumeric() || element == b' ' || element >= 0x80 {
        return Err(HeaderError::BadElementSeparator(element as char));
    }
    // Positions of the 16 element separators; ISA16 is the single byte after the last one.
    let mut seps = [0usize; 16];
    let mut found = 0;
    for (i, &b) in bytes.iter().enumerate().skip(3) {
        if b == element {
            seps[found] = i;
            found += 1;
            if found == 16 {
                break;
            }
        }
    }
    if found < 16 || seps[15] + 2 >= bytes.len() {
        return Err(HeaderError::Truncated(bytes.len()));
    }
    let component = bytes[seps[15] + 1];
    let mut segment = bytes[seps[15] + 2];
    // `> \r\n` after ISA16: a space is never a terminator, but spaces then a line end are a
    // known export quirk; read the line end as the terminator.
    let after = &bytes[seps[15] + 2..];
    let spaces = after.iter().take_while(|&&b| b == b' ').count();
    let spaces_before_newline =
        segment == b' ' && matches!(after.get(spaces), Some(b'\r') | Some(b'\n'));
    if spaces_before_newline {
        segment = b'\n';
    }
    if component.is_ascii_alphanumeric()
        || component == element
        || component == b' '
        || component >= 0x80
    {
        return Err(HeaderError::BadComponentSeparator(component as char));
    }
    // A space is data, and a byte above 0x7F starts a multi-byte character in UTF-8 files.
    if segment.is_ascii_alphanumeric()
        || segment == element
        || segment == component
        || segment == b' '
        || segment >= 0x80
    {
        return Err(HeaderError::BadSegmentTerminator(segment as char));
    }
    let isa11 = &bytes[seps[10] + 1..seps[11]];
    let isa12 = &bytes[seps[11] + 1..seps[12]];
    let rep_due =
        isa12.len() == 5 && isa12 >= &b"00402"[..] && isa12.iter().all(u8::is_ascii_digit);
    let mut repetition = None;
    let mut repetition_is_letter = false;
    if rep_due && isa11.len() == 1 {
        let r = isa11[0];
        if r.is_ascii_alphanumeric() || r == b' ' {
            repetition_is_letter = true;
        } else if r != element && r != component && r != segment {
            repetition = Some(r);
        }
    }
    Ok(IsaLayout {
        delimiters: Delimiters {
            element,
            component,
            repetition,
            segment,
        },
        len: seps[15] + 3,
        repetition_is_letter,
        spaces_before_newline,
    })
}

/// Position of `b` in `hay`. X12 elements are mostly a few bytes long, where a plain loop beats
/// the set-up cost of a vectorised search, so the first bytes are looked at one by one (`hay` is
/// usually the rest of a segment: long, with the separator near its start); long elements (free
/// text) still get memchr.
#[inline]
fn find(b: u8, hay: &[u8]) -> Option<usize> {
    const HEAD: usize = 16;
    if hay.len() <= HEAD {
        return hay.iter().position(|&c| c == b);
    }
    match hay[..HEAD].iter().position(|&c| c == b) {
        Some(i) => Some(i),
        None => memchr::memchr(b, &hay[HEAD..]).map(|i| i + HEAD),
    }
}

/// The two- or three-character id of a segment (bytes before the first element separator).
// Always inlined (the envelope asks it of every segment); other shapes search out of line.
#[inline(always)]
pub fn segment_id<'a>(raw: &'a [u8], d: &Delimiters) -> &'a [u8] {
    // Ids are two or three letters: look at those bytes directly before any search.
    if let Some(&[a, b, c]) = raw.first_chunk::<3>() {
        let e = d.element;
        if a != e && b != e {
            if c == e {
                return &raw[..2];
            }
            if raw.get(3) == Some(&e) {
                return &raw[..3];
            }
        }
    }
    searched_id(raw, d)
}

/// `segment_id` of a segment whose id is not two or three bytes long.
#[inline(never)]
fn searched_id<'a>(raw: &'a [u8], d: &Delimiters) -> &'a [u8] {
    match find(d.element, raw) {
        Some(i) => &raw[..i],
        None => raw,
    }
}

/// Iterates the elements of a segment after its id (element 1 first), borrowed. Separator
/// positions are found 64 bytes at a time as a bit mask (eight bytes per word compare), so a
/// typical segment costs one mask and a bit scan per element instead of a search per element.
#[derive(Clone)]
pub struct Elements<'a> {
    raw: &'a [u8],
    /// Where the next element starts.
    start: usize,
    /// Where the 64-byte window of `mask` starts.
    base: usize,
    /// Separators not yet taken in the window, bit i for `raw[base + i]`.
    mask: u64,
    sep: u8,
    done: bool,
}

impl<'a> Elements<'a> {
    fn new(raw: &'a [u8], start: usize, sep: u8, done: bool) -> Self {
        let mask = if done {
            0
        } else {
            sep_mask(window(raw, start), sep)
        };
        Elements {
            raw,
            start,
            base: start,
            mask,
            sep,
            done,
        }
    }
}

fn window(raw: &[u8], base: usize) -> &[u8] {
    let end = raw.len().min(base.saturating_add(64));
    raw.get(base..end).unwrap_or_default()
}

/// Bit i set where `chunk[i] == sep` (chunk at most 64 bytes). Sixteen bytes a step where
/// there are that many (most segments), else eight.
#[inline]
pub(crate) fn sep_mask(chunk: &[u8], sep: u8) -> u64 {
    let n = chunk.len();
    if n >= 16 {
        let mut mask = 0u64;
        let mut i = 0;
        while let Some(w) = chunk.get(i..).and_then(|c| c.first_chunk::<16>()) {
            mask |= u64::from(mask16(w, sep)) << i;
            i += 16;
        }
        if i < n {
            // The last sixteen bytes, overlapping those seen, keeping the new bytes' bits.
            if let Some(last) = chunk.last_chunk::<16>() {
                mask |= (u64::from(mask16(last, sep)) >> (i + 16 - n)) << i;
            }
        }
        return mask;
    }
    let mut mask = 0u64;
    let mut shift = 0;
    let mut words = chunk.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        mask |= word_mask(a, sep) << shift;
        shift += 8;
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        // The last eight bytes as one more word, overlapping the words already seen, keeping
        // the bits of the new bytes only. A copy into a padded stack buffer instead was a hot
        // stall: a wide load cannot take forwarded the narrow stores of that copy.
        if let Some(last) = chunk.last_chunk::<8>() {
            mask |= (word_mask(*last, sep) >> (8 - rest.len())) << shift;
        } else {
            mask |= short_mask(rest, sep);
        }
    }
    mask
}

/// Bit i set where `w[i] == sep`: one compare of all sixteen bytes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mask16(w: &[u8; 16], sep: u8) -> u32 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    // SAFETY: SSE2 is part of x86_64, and the unaligned load reads exactly the 16 bytes of `w`.
    let bits = unsafe {
        let v = _mm_loadu_si128(w.as_ptr().cast());
        _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(sep as i8)))
    };
    bits as u32
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn mask16(w: &[u8; 16], sep: u8) -> u32 {
    let (lo, hi) = w.split_at(8);
    let word = |h: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(h);
        word_mask(a, sep) as u32
    };
    word(lo) | (word(hi) << 8)
}

/// `sep_mask` of fewer than eight bytes (a component list such as `LI>4`): one word test of
/// `short_word`; bits past the chunk are dropped. Out of line to keep `sep_mask` small enough
/// to be inlined into the hot callers.
#[cold]
#[inline(never)]
fn short_mask(chunk: &[u8], sep: u8) -> u64 {
    word_mask(short_word(chunk).to_le_bytes(), sep) & ((1u64 << chunk.len()) - 1)
}

/// Fewer than eight bytes as the low bytes of a word, first byte lowest, the rest zero: two
/// overlapping loads instead of a byte at a time.
#[inline]
pub(crate) fn short_word(chunk: &[u8]) -> u64 {
    let n = chunk.len();
    debug_assert!(n < 8);
    if let (Some(lo), Some(hi)) = (chunk.first_chunk::<4>(), chunk.last_chunk::<4>()) {
        u64::from(u32::from_le_bytes(*lo)) | u64::from(u32::from_le_bytes(*hi)) << (8 * (n - 4))
    } else if let (Some(lo), Some(hi)) = (chunk.first_chunk::<2>(), chunk.last_chunk::<2>()) {
        u64::from(u16::from_le_bytes(*lo)) | u64::from(u16::from_le_bytes(*hi)) << (8 * (n - 2))
    } else {
        chunk.first().map_or(0, |&b| u64::from(b))
    }
}

/// Bit i (of the low eight) set where `word[i] == sep`.
#[inline(always)]
fn word_mask(word: [u8; 8], sep: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let x = u64::from_le_bytes(word) ^ ONES.wrapping_mul(sep as u64);
    // 0x80 in exactly the bytes of x that are zero (no carry crosses a byte).
    let zero = !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7);
    // Gather each byte's top bit into the low eight bits, byte 0 first.
    ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a [u8];
    // Always inlined: called once per element from each hot element loop.
    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        // A separator left in the window is the common case; `done` implies an empty mask.
        if self.mask != 0 {
            return Some(self.take());
        }
        self.refill()
    }
}

impl<'a> Elements<'a> {
    /// The element ending at the next separator of the window (the mask is not empty).
    #[inline(always)]
    fn take(&mut self) -> &'a [u8] {
        let end = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        let value = self.raw.get(self.start..end).unwrap_or_default();
        self.start = end + 1;
        value
    }

    /// The next element once the window has no separator left: from the next window, or the
    /// last element of the segment (then the iterator is done).
    #[inline]
    fn refill(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        loop {
            self.base += 64;
            if self.base >= self.raw.len() {
                self.done = true;
                return Some(self.raw.get(self.start..).unwrap_or_default());
            }
            self.mask = sep_mask(window(self.raw, self.base), self.sep);
            if self.mask != 0 {
                return Some(self.take());
            }
        }
    }
}

/// Elements of a segment, without the id. A segment with no separator has no elements.
#[inline]
pub fn elements<'a>(raw: &'a [u8], d: &Delimiters) -> Elements<'a> {
    match find(d.element, raw) {
        Some(i) => Elements::new(raw, i + 1, d.element, false),
        None => Elements::new(raw, raw.len(), d.element, true),
    }
}

/// A segment's id and its elements from one look at its first bytes: the id ends at the first
/// separator of the window that the elements are then taken from. The same as `segment_id`
/// and `elements`.
#[inline]
pub fn id_and_elements<'a>(raw: &'a [u8], d: &Delimiters) -> (&'a [u8], Elements<'a>) {
    let sep = d.element;
    let mask = sep_mask(window(raw, 0), sep);
    if mask == 0 && raw.len() > 64 {
        return (segment_id(raw, d), elements(raw, d));
    }
    if mask == 0 {
        return (raw, Elements::new(raw, raw.len(), sep, true));
    }
    let i = mask.trailing_zeros() as usize;
    let els = Elements {
        raw,
        start: i + 1,
        base: 0,
        mask: mask & (mask - 1),
        sep,
        done: false,
    };
    (raw.get(..i).unwrap_or_default(), els)
}

/// Elements of a segment whose separator offsets are known already (a segment held in a
/// `SetTree`): `bounds` holds the offsets in `buf` of its element separators, then its end.
/// The same values as `elements`, without looking at the bytes again.
#[derive(Debug, Clone)]
pub struct Bounded<'a> {
    buf: &'a [u8],
    bounds: &'a [usize],
}

impl<'a> Bounded<'a> {
    pub fn new(buf: &'a [u8], bounds: &'a [usize]) -> Self {
        Bounded { buf, bounds }
    }
}

impl<'a> Iterator for Bounded<'a> {
    type Item = &'a [u8];
    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        match *self.bounds {
            [sep, end, ..] => {
                self.bounds = &self.bounds[1..];
                Some(self.buf.get(sep + 1..end).unwrap_or_default())
            }
            _ => None,
        }
    }
}

/// Splits a value on a separator (components of a composite, or repetitions), borrowed.
#[inline]
pub fn split(value: &[u8], sep: u8) -> Elements<'_> {
    Elements::new(value, 0, sep, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISA: &[u8] = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240101*1200*^*00501*000000001*0*P*:~";

    #[test]
    fn segment_id_of_every_short_shape() {
        let d = Delimiters::default();
        for raw in [
            &b""[..],
            b"*",
            b"A",
            b"A*",
            b"AB",
            b"AB*",
            b"*B*",
            b"A**",
            b"A*C*",
            b"ABC",
            b"ABC*1",
            b"ABCD*1",
            b"AB*1*2",
            b"**",
            b"***",
        ] {
            let want = raw
                .iter()
                .position(|&b| b == b'*')
                .map_or(raw, |i| &raw[..i]);
            assert_eq!(segment_id(raw, &d), want, "{raw:?}");
        }
    }

    #[test]
    fn sep_mask_matches_each_byte_at_every_length() {
        let bytes: Vec<u8> = (0..64)
            .map(|i| {
                if i % 3 == 1 {
                    b'*'
                } else {
                    b'A' + (i % 26) as u8
                }
            })
            .collect();
        for n in 0..=64 {
            let want = bytes[..n]
                .iter()
                .enumerate()
                .fold(0u64, |m, (i, &b)| m | (u64::from(b == b'*') << i));
            assert_eq!(sep_mask(&bytes[..n], b'*'), want, "{n}");
        }
    }

    #[test]
    fn reads_standard_header() {
        let l = read_isa_layout(ISA).unwrap();
        assert_eq!(l.len, ISA_LEN);
        assert_eq!(
            l.delimiters,
            Delimiters {
                element: b'*',
                component: b':',
                repetition: Some(b'^'),
                segment: b'~'
            }
        );
    }

    #[test]
    fn letter_isa11_in_5010_is_no_repetition_separator() {
        let isa = String::from_utf8_lossy(ISA).replace("*^*", "*U*");
        let l = read_isa_layout(isa.as_bytes()).unwrap();
        assert_eq!(l.delimiters.repetition, None);
        assert!(l.repetition_is_letter);
    }

    #[test]
    fn short_header_reports_truncation() {
        assert!(matches!(
            read_isa_layout(b"ISA*00*"),
            Err(HeaderError::Truncated(_))
        ));
        assert!(matches!(
            read_isa_layout(b"IS"),
            Err(HeaderError::Truncated(_))
        ));
    }

    #[test]
    fn splits_elements_and_components() {
        let d = Delimiters::default();
        let raw = b"PO1*1*10*EA*1.5**VP*ABC:1";
        assert_eq!(segment_id(raw, &d), b"PO1");
        let els: Vec<&[u8]> = elements(raw, &d).collect();
        assert_eq!(els.len(), 7);
        assert_eq!(els[4], b"");
        let comps: Vec<&[u8]> = split(els[6], d.component).collect();
        assert_eq!(comps, vec![&b"ABC"[..], &b"1"[..]]);
        assert_eq!(elements(b"SE", &d).count(), 0);
    }

    #[test]
    fn id_and_elements_agree_with_segment_id_and_elements() {
        let d = Delimiters::default();
        let mut cases: Vec<Vec<u8>> = [
            &b""[..],
            b"SE",
            b"SE*",
            b"*",
            b"**",
            b"PO1*1*10*EA*1.5**VP*ABC:1",
            b"N1*ST*GREAT PLAINS VA MEDICAL CENTER*92*230425",
        ]
        .iter()
        .map(|c| c.to_vec())
        .collect();
        for len in [15, 16, 17, 31, 32, 33, 63, 64, 65, 70, 130] {
            for at in [0, 1, 2, 3, 15, 16, 40, 63, 64, 65, 100] {
                let mut v: Vec<u8> = (0..len).map(|i| b'A' + (i % 26) as u8).collect();
                if at < len {
                    v[at] = b'*';
                }
                if at + 5 < len {
                    v[at + 5] = b'*';
                }
                cases.push(v);
            }
        }
        for raw in &cases {
            let (id, els) = id_and_elements(raw, &d);
            assert_eq!(id, segment_id(raw, &d), "{raw:?}");
            let ours: Vec<&[u8]> = els.collect();
            let plain: Vec<&[u8]> = elements(raw, &d).collect();
            assert_eq!(ours, plain, "{raw:?}");
        }
    }

    #[test]
    fn mask_split_agrees_with_a_plain_split() {
        // Lengths across several 64-byte windows and word boundaries, separators anywhere
        // (also first, last, doubled, and bytes with the high bit set).
        let mut seed: u32 = 7;
        for len in 0..200usize {
            for _ in 0..4 {
                let v: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        match (seed >> 16) % 5 {
                            0 => b'*',
                            1 => 0xAA,
                            _ => b'A' + ((seed >> 8) % 26) as u8,
                        }
                    })
                    .collect();
                let ours: Vec<&[u8]> = split(&v, b'*').collect();
                let plain: Vec<&[u8]> = v.split(|&b| b == b'*').collect();
                assert_eq!(ours, plain, "len {len}: {v:?}");
            }
        }
    }
}
