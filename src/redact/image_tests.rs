use super::*;
use base64::Engine;

const JPEG: &[u8] = include_bytes!("../../testdata/images/gray-1x1.jpg");
const PNG: &[u8] = include_bytes!("../../testdata/images/gray-2x2.png");

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// `JPEG` with `seg` (marker and body) inserted after the JFIF segment.
fn jpeg_with(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut j = JPEG[..20].to_vec();
    j.extend_from_slice(&[0xFF, marker]);
    j.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    j.extend_from_slice(body);
    j.extend_from_slice(&JPEG[20..]);
    j
}

/// `PNG` with a chunk inserted after IHDR (its CRC right unless `bad_crc`).
fn png_with(kind: &[u8; 4], body: &[u8], bad_crc: bool) -> Vec<u8> {
    let mut p = PNG[..33].to_vec();
    p.extend_from_slice(&(body.len() as u32).to_be_bytes());
    let mut c = kind.to_vec();
    c.extend_from_slice(body);
    let crc = crc32fast::hash(&c) ^ u32::from(bad_crc);
    p.extend_from_slice(&c);
    p.extend_from_slice(&crc.to_be_bytes());
    p.extend_from_slice(&PNG[33..]);
    p
}

const POB: &[u8] = b"PLACE OF BIRTH: EXAMPLE CITY, MX";

#[test]
fn the_sample_images_are_images() {
    assert!(image(JPEG));
    assert!(image(PNG));
    assert!(base64_image(b64(JPEG).as_bytes()));
    assert!(base64_image(b64(PNG).as_bytes()));
}

#[test]
fn blanks_and_line_breaks_between_base64_characters_are_allowed() {
    let s = b64(JPEG);
    let broken: String = s
        .as_bytes()
        .chunks(19)
        .map(|c| String::from_utf8_lossy(c).to_string())
        .collect::<Vec<_>>()
        .join("\r\n ");
    assert!(base64_image(broken.as_bytes()));
}

#[test]
fn base64_that_is_not_strict_is_not_an_image() {
    let s = b64(PNG);
    assert!(
        s.ends_with('=') && !s.ends_with("=="),
        "71 bytes: one padding character"
    );
    // URL-safe alphabet; padding in the middle; nothing at all.
    let j = b64(JPEG);
    assert!(j.contains('/') && !base64_image(j.replace('/', "_").as_bytes()));
    assert!(!base64_image(format!("{s}{s}").as_bytes()));
    assert!(!base64_image(b""));
    // The last character before the padding carries two bits after the
    // data: set, they are a place to write.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut t = s.into_bytes();
    let k = t.len() - 2;
    let v = A.iter().position(|&c| c == t[k]).unwrap();
    t[k] = A[v ^ 1];
    assert!(!base64_image(&t), "bits after the data");
}

#[test]
fn text_after_an_image_magic_is_not_an_image() {
    let mut fake = vec![0xFF, 0xD8, 0xFF];
    fake.extend_from_slice(POB);
    assert!(!image(&fake));
    let mut fake = PNG[..8].to_vec();
    fake.extend_from_slice(POB);
    assert!(!image(&fake));
}

#[test]
fn jpeg_places_made_for_text_or_data_are_refused() {
    assert!(!image(&jpeg_with(0xFE, POB)), "COM");
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(POB);
    assert!(!image(&jpeg_with(0xE1, &exif)), "APP1 Exif");
    assert!(!image(&jpeg_with(0xE2, POB)), "APP2 (ICC)");
    assert!(!image(&jpeg_with(0xED, POB)), "APP13 (IPTC)");
    assert!(!image(&jpeg_with(0xEF, POB)), "APP15");
    // A JFIF segment with a 1×1 thumbnail (3 bytes of "pixels").
    let mut thumb = JPEG.to_vec();
    thumb[5] = 0x13;
    thumb[18] = 1;
    thumb[19] = 1;
    thumb.splice(20..20, [0x41, 0x42, 0x43]);
    assert!(!image(&thumb), "JFIF thumbnail");
}

#[test]
fn jpeg_bytes_after_the_end_or_a_cut_image_are_refused() {
    let mut after = JPEG.to_vec();
    after.extend_from_slice(POB);
    assert!(!image(&after), "after EOI");
    for cut in [3, 20, 100, JPEG.len() - 2, JPEG.len() - 1] {
        assert!(!image(&JPEG[..cut]), "cut at {cut}");
    }
    // A fill byte before a marker.
    let mut fill = JPEG.to_vec();
    fill.insert(20, 0xFF);
    assert!(!image(&fill), "fill byte");
    // A second frame header.
    let sof = JPEG.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    let second = jpeg_with(0xC0, &JPEG[sof + 4..sof + 2 + 11]);
    assert!(!image(&second), "two frames");
}

#[test]
fn png_text_metadata_and_bad_chunks_are_refused() {
    for kind in [
        b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP", b"tIME", b"prVt",
    ] {
        assert!(
            !image(&png_with(kind, POB, false)),
            "{}",
            String::from_utf8_lossy(kind)
        );
    }
    assert!(image(&png_with(b"gAMA", &[0, 1, 0x86, 0xA0], false)));
    assert!(
        !image(&png_with(b"gAMA", &[0, 1, 0x86, 0xA0], true)),
        "bad CRC"
    );
    let mut after = PNG.to_vec();
    after.extend_from_slice(POB);
    assert!(!image(&after), "after IEND");
    assert!(!image(&PNG[..PNG.len() - 1]), "cut");
}
