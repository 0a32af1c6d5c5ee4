//! Byte-scanning steps shared by the decoders and the JSON writer. Depends on nothing.

/// Calls `step` on each 16-byte block of `s`, the last block overlapping the one before when
/// the length is not a multiple of 16: for "does any byte match" tests, which a byte seen
/// twice does not change. `false` (and no call) when `s` is shorter than 16 bytes.
#[inline(always)]
pub(crate) fn each_block16(s: &[u8], mut step: impl FnMut(&[u8; 16])) -> bool {
    let Some(last) = s.last_chunk::<16>() else {
        return false;
    };
    let mut chunks = s.chunks_exact(16);
    for w in &mut chunks {
        if let Some(w) = w.first_chunk::<16>() {
            step(w);
        }
    }
    if !chunks.remainder().is_empty() {
        step(last);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::each_block16;

    #[test]
    fn every_byte_is_in_some_block_and_short_input_has_none() {
        for len in 0..70 {
            let s: Vec<u8> = (0..len as u8).collect();
            let mut seen = vec![false; len];
            let mut calls = 0;
            let long = each_block16(&s, |w| {
                calls += 1;
                for &b in w {
                    seen[b as usize] = true;
                }
            });
            assert_eq!(long, len >= 16, "{len}");
            if len >= 16 {
                assert!(seen.iter().all(|&x| x), "{len}");
                assert_eq!(calls, len.div_ceil(16), "{len}");
            } else {
                assert_eq!(calls, 0, "{len}");
            }
        }
    }
}
