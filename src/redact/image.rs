//! What a released photo may hold (`text = "base64"` in a profile, the
//! photo a court order releases): the whole image decoded from strict
//! base64 and its structure walked from the first byte to the last.
//!
//! A JPEG or PNG carries, besides the picture, places made for text and
//! other data: comments, EXIF, XMP and ICC metadata, thumbnails, PNG text
//! chunks, and whatever follows the image's end. A photo with any of them is
//! not released (it is removed, as anything else not known to be safe):
//! only the segments that code the picture may be there. JPEG 2000 is not
//! walked, so it is never released. See `specs/redaction.md` (*Images*).

use base64::Engine;

/// True when `v` (base64 with blanks and line breaks allowed between the
/// characters, `=` padding only at the end, no bits after the data) decodes
/// to a JPEG or PNG image holding only what codes its picture.
pub fn base64_image(v: &[u8]) -> bool {
    let compact: Vec<u8> = v
        .iter()
        .copied()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    match base64::engine::general_purpose::STANDARD.decode(&compact) {
        Ok(img) => image(&img),
        Err(_) => false,
    }
}

/// True when `b` is a JPEG or PNG image holding only what codes its picture.
pub fn image(b: &[u8]) -> bool {
    if b.starts_with(&[0xFF, 0xD8]) {
        jpeg(b)
    } else if b.starts_with(PNG_SIGNATURE) {
        png(b)
    } else {
        false
    }
}

const PNG_SIGNATURE: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// A JPEG (ITU T.81 with JFIF): SOI; then only JFIF's APP0 without a
/// thumbnail, quantisation and Huffman tables, the restart interval, one
/// frame header and its scans; EOI as the last two bytes. Each marker is
/// one 0xFF (fill bytes are a place to write too).
fn jpeg(b: &[u8]) -> bool {
    let (mut i, mut frame, mut scans) = (2usize, false, 0u32);
    loop {
        if b.get(i) != Some(&0xFF) {
            return false;
        }
        let Some(&m) = b.get(i + 1) else {
            return false;
        };
        i += 2;
        if m == 0xD9 {
            return scans > 0 && i == b.len();
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return false;
        };
        if len < 2 || i + len > b.len() {
            return false;
        }
        let seg = &b[i + 2..i + len];
        let known = match m {
            // JFIF: identifier, version, units, densities, no thumbnail.
            0xE0 => seg.len() == 14 && seg.starts_with(b"JFIF\0") && seg[12] == 0 && seg[13] == 0,
            // DQT, DHT, DRI.
            0xDB | 0xC4 | 0xDD => true,
            // One frame header (SOF0-3, 5-7, 9-11, 13-15).
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                !std::mem::replace(&mut frame, true)
            }
            // A scan, after the frame header.
            0xDA => frame,
            // APP1-15 (EXIF, XMP, ICC, …), COM, DNL, DAC, restart markers
            // outside a scan, SOI again, reserved codes.
            _ => false,
        };
        if !known {
            return false;
        }
        i += len;
        if m == 0xDA {
            scans += 1;
            // The entropy-coded data runs to the next marker that is not a
            // stuffed zero or a restart marker.
            loop {
                let Some(k) = memchr::memchr(0xFF, &b[i..]) else {
                    return false;
                };
                i += k;
                match b.get(i + 1) {
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(_) => break,
                    None => return false,
                }
            }
        }
    }
}

/// A PNG: the signature; IHDR first; then only palette, transparency,
/// colour-space, physical-size, background and image-data chunks, each
/// with its CRC right; IEND, empty, as the last chunk and the last bytes.
/// Text (`tEXt`, `zTXt`, `iTXt`), `eXIf`, `iCCP`, `tIME` and private or
/// unknown chunks are not released.
fn png(b: &[u8]) -> bool {
    let (mut i, mut data) = (PNG_SIGNATURE.len(), false);
    loop {
        let Some(h) = b.get(i..i + 8) else {
            return false;
        };
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let kind = [h[4], h[5], h[6], h[7]];
        let Some(end) = len.checked_add(i + 12).filter(|&e| e <= b.len()) else {
            return false;
        };
        let crc = u32::from_be_bytes([b[end - 4], b[end - 3], b[end - 2], b[end - 1]]);
        if crc32fast::hash(&b[i + 4..end - 4]) != crc {
            return false;
        }
        let first = i == PNG_SIGNATURE.len();
        match &kind {
            b"IHDR" if first => {
                if len != 13 {
                    return false;
                }
            }
            _ if first => return false,
            b"IDAT" => data = true,
            b"IEND" => return len == 0 && data && end == b.len(),
            b"PLTE" | b"tRNS" | b"gAMA" | b"cHRM" | b"sRGB" | b"sBIT" | b"pHYs" | b"bKGD" => {}
            _ => return false,
        }
        i = end;
    }
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
