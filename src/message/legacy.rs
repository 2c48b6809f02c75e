//! Legacy (text) Nlets message headers, parsed with nom over the raw bytes.
//!
//! Two header forms exist (see `specs/legacy.md`):
//!
//! * **input** — what a member sends to Nlets, on one line:
//!   `MKE.SENDER.DEST[,DEST...][.*CONTROL].TXT`
//! * **output** — what Nlets delivers:
//!   ```text
//!   MKE.SENDER
//!   HH:MM MM/DD/CCYY ISN
//!   HH:MM MM/DD/CCYY OSN DEST
//!   [*CONTROL]
//!   TXT
//!   ```
//!   (the control field may also follow the destination as `DEST.*CONTROL.TXT`).
//!
//! Control characters (CR, LF, DEL, ...) are ignored between tokens, as Nlets
//! receivers ignore them. The body is everything after `TXT`.

use super::tiny::Tiny;
use super::types::{Control, Dests, ErrorCode, HeaderForm, Mke, Ori, ParseError, MAX_CONTROL};
use nom::bytes::complete::{tag, take_while, take_while_m_n};
use nom::IResult;

/// A parsed legacy header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegacyHeader {
    /// Header form.
    pub form: HeaderForm,
    /// Message key.
    pub mke: Mke,
    /// Originating (sender) ORI.
    pub sender: Ori,
    /// Destinations (2-character member codes or 9-character ORIs).
    pub dests: Dests,
    /// Control field, when present.
    pub control: Option<Control>,
    /// Offset of the first body byte (just after `TXT`).
    pub body_offset: usize,
}

fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn is_token(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

/// Skips what may come before the message key: line breaks and DEL
/// (teletype artefacts that show nothing).
fn lead0(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while(|b| b == b'\r' || b == b'\n' || b == 0x7f)(i)
}

/// Skips spaces and line breaks (token separators in the output header).
/// Other control characters are refused anywhere in a header: a reader that
/// honours backspaces or cursor moves would read other routing.
fn sep0(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while(|b| b == b' ' || b == b'\r' || b == b'\n')(i)
}

fn token(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while_m_n(1, 16, is_token)(i)
}

fn digits(n: usize) -> impl Fn(&[u8]) -> IResult<&[u8], &[u8]> {
    move |i| take_while_m_n(n, n, |b: u8| b.is_ascii_digit())(i)
}

/// `HH:MM MM/DD/CCYY NNNNN`: a time, a date and a sequence number.
fn stamp(i: &[u8]) -> IResult<&[u8], ()> {
    let (i, _) = digits(2)(i)?;
    let (i, _) = tag(&b":"[..])(i)?;
    let (i, _) = digits(2)(i)?;
    let (i, _) = take_while_m_n(1, 8, |b| b == b' ')(i)?;
    let (i, _) = digits(2)(i)?;
    let (i, _) = tag(&b"/"[..])(i)?;
    let (i, _) = digits(2)(i)?;
    let (i, _) = tag(&b"/"[..])(i)?;
    let (i, _) = digits(4)(i)?;
    let (i, _) = take_while_m_n(1, 8, |b| b == b' ')(i)?;
    let (i, _) = take_while_m_n(1, 6, |b: u8| b.is_ascii_digit())(i)?;
    Ok((i, ()))
}

/// A parser that skips separator bytes.
type Skipper = for<'x> fn(&'x [u8]) -> IResult<&'x [u8], &'x [u8]>;

struct Cursor<'a> {
    all: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn at(&self) -> usize {
        self.all.len() - self.rest.len()
    }

    fn err(&self, what: &'static str) -> ParseError {
        ParseError::new(ErrorCode::LegacyHeader, self.at(), what)
    }

    fn run<O>(
        &mut self,
        mut p: impl FnMut(&'a [u8]) -> IResult<&'a [u8], O>,
        what: &'static str,
    ) -> Result<O, ParseError> {
        match p(self.rest) {
            Ok((rest, o)) => {
                self.rest = rest;
                Ok(o)
            }
            Err(_) => Err(self.err(what)),
        }
    }

    fn skip(&mut self, p: Skipper) {
        if let Ok((rest, _)) = p(self.rest) {
            self.rest = rest;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.rest = &self.rest[1..];
            true
        } else {
            false
        }
    }
}

fn ori(c: &Cursor<'_>, raw: &[u8], what: &'static str) -> Result<Ori, ParseError> {
    if raw.len() != 9 {
        return Err(ParseError::new(
            ErrorCode::LegacyHeader,
            c.at() - raw.len(),
            what,
        ));
    }
    Tiny::new(raw).ok_or(ParseError::new(
        ErrorCode::LegacyHeader,
        c.at() - raw.len(),
        what,
    ))
}

fn dest(c: &Cursor<'_>, raw: &[u8]) -> Result<Ori, ParseError> {
    if raw.len() != 2 && raw.len() != 9 {
        return Err(ParseError::new(
            ErrorCode::LegacyHeader,
            c.at() - raw.len(),
            "destination must be a 2-character code or a 9-character ORI",
        ));
    }
    Tiny::new(raw).ok_or(c.err("bad destination"))
}

fn control_field(c: &mut Cursor<'_>, stop: fn(u8) -> bool) -> Result<Control, ParseError> {
    let raw = c.run(take_while(move |b| !stop(b)), "control field")?;
    if raw.is_empty() {
        return Err(c.err("empty control field after '*'"));
    }
    if raw.len() > MAX_CONTROL {
        return Err(ParseError::new(
            ErrorCode::LegacyHeader,
            c.at() - raw.len(),
            "control field longer than 10 characters",
        ));
    }
    Tiny::new(raw).ok_or(ParseError::new(
        ErrorCode::LegacyHeader,
        c.at() - raw.len(),
        "control field has a non-printable character",
    ))
}

/// Parses a legacy header. `raw` is the whole message.
// Long: the header's tokens in the order Nlets gives them, both forms side by side; each a line or two.
pub fn parse_header(raw: &[u8]) -> Result<LegacyHeader, ParseError> {
    let mut c = Cursor {
        all: raw,
        rest: raw,
    };
    c.skip(lead0);
    let mke_raw = c.run(token, "expected a message key (A-Z, 0-9)")?;
    if mke_raw.len() > 4 {
        return Err(ParseError::new(
            ErrorCode::LegacyHeader,
            c.at() - mke_raw.len(),
            "message key longer than 4 characters",
        ));
    }
    let mke = Tiny::new(mke_raw).ok_or(c.err("bad message key"))?;
    c.run(tag(&b"."[..]), "expected '.' after the message key")?;
    let sender_raw = c.run(token, "expected the originating ORI")?;
    let sender = ori(
        &c,
        sender_raw,
        "originating ORI must be 9 characters A-Z 0-9",
    )?;
    let mut dests = Dests::default();
    let mut control = None;
    let form;
    if c.eat(b'.') {
        form = HeaderForm::Input;
        loop {
            let d = c.run(token, "expected a destination")?;
            let d = dest(&c, d)?;
            if !dests.push(d) {
                return Err(c.err("more than 5 destinations"));
            }
            if !c.eat(b',') {
                break;
            }
        }
        c.run(tag(&b"."[..]), "expected '.' after the destination(s)")?;
        if c.eat(b'*') {
            control = Some(control_field(&mut c, |b| b == b'.' || is_ctl(b))?);
            c.run(tag(&b"."[..]), "expected '.' after the control field")?;
        }
    } else {
        form = HeaderForm::Output;
        c.skip(sep0);
        c.run(
            stamp,
            "expected 'HH:MM MM/DD/CCYY NNNNN' (receive time, date, input number)",
        )?;
        c.skip(sep0);
        c.run(
            stamp,
            "expected 'HH:MM MM/DD/CCYY NNNNN DEST' (send time, date, output number)",
        )?;
        c.run(
            take_while_m_n(1, 8, |b| b == b' '),
            "expected a space before the destination",
        )?;
        let d = c.run(token, "expected the destination")?;
        dests.push(dest(&c, d)?);
        if c.eat(b'.') {
            if c.eat(b'*') {
                control = Some(control_field(&mut c, |b| b == b'.' || is_ctl(b))?);
                c.run(tag(&b"."[..]), "expected '.' after the control field")?;
            }
        } else {
            c.skip(sep0);
            if c.eat(b'*') {
                // A period ends a control field in every form, so a control
                // field can always be echoed in an input-form header.
                control = Some(control_field(&mut c, |b| b == b'.' || is_ctl(b))?);
            }
        }
        c.skip(sep0);
    }
    c.run(tag(&b"TXT"[..]), "expected 'TXT' ending the header")?;
    Ok(LegacyHeader {
        form,
        mke,
        sender,
        dests,
        control,
        body_offset: c.at(),
    })
}

/// Refuses a body that another reader could take for routing: an XML
/// document or header inside it, or a line that is itself a message header.
/// `base` is the body's offset in the message (for error offsets).
pub fn check_body(body: &[u8], base: usize) -> Result<(), ParseError> {
    let err =
        |at: usize, what: &'static str| ParseError::new(ErrorCode::LegacyHeader, base + at, what);
    // Case-insensitive, without copying the body: candidates by one byte
    // of the pattern that ordinary text seldom holds (the `G` of `MESSAGE`,
    // not the `N` that starts it), tried in order, so the first hit is the
    // first occurrence.
    for (pat, anchor) in [(&b"NLETSMESSAGEHEADER"[..], 11), (b"<?XML", 0)] {
        let a = pat[anchor];
        let hit = memchr::memchr2_iter(a, a.to_ascii_lowercase(), body).find_map(|p| {
            let i = p.checked_sub(anchor)?;
            body.get(i..i + pat.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(pat))
                .then_some(i)
        });
        if let Some(i) = hit {
            return Err(err(i, "XML routing inside a legacy message"));
        }
    }
    let mut at = 0;
    for line in body.split(|&b| is_line_break(b)) {
        if starts_like_header(line) {
            return Err(err(at, "a second message header inside the body"));
        }
        at += line.len() + 1;
    }
    Ok(())
}

/// Where a reader may start a new line: CR and LF, and also vertical tab,
/// form feed, NEL (`0x85`, alone or as UTF-8's `C2 85`) and the last byte of
/// UTF-8's LINE and PARAGRAPH SEPARATOR (`E2 80 A8`/`A9`), which Unicode
/// readers break lines at. Splitting at a bare `A8`/`A9` too only adds
/// places where a second header is looked for (fails closed).
fn is_line_break(b: u8) -> bool {
    matches!(b, b'\n' | b'\r' | 0x0B | 0x0C | 0x85 | 0xA8 | 0xA9)
}

/// True when a line opens like a message header, in either form:
/// `MKE.ORI` (1-4 and 9 characters A-Z 0-9) followed by a period, a blank
/// or the end of the line, after optional leading blanks.
fn starts_like_header(line: &[u8]) -> bool {
    let l = &line[line
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t' || is_ctl(b))
        .count()..];
    let mke = l.iter().take_while(|&&b| is_token(b)).count();
    if !(1..=4).contains(&mke) || l.get(mke) != Some(&b'.') {
        return false;
    }
    let rest = &l[mke + 1..];
    let ori = rest.iter().take_while(|&&b| is_token(b)).count();
    ori == 9
        && rest
            .get(9)
            .is_none_or(|&b| b == b'.' || b == b' ' || b == b'\t' || is_ctl(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> LegacyHeader {
        parse_header(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn input_forms() {
        let h = ok("DQ.AZNLETS20.CO.*A0TRM0042.TXT\r\nRSN/V.NAM/DOE,JANE.DOB/19800115.SEX/F");
        assert_eq!(h.form, HeaderForm::Input);
        assert_eq!(h.mke.as_str(), "DQ");
        assert_eq!(h.sender.as_str(), "AZNLETS20");
        assert_eq!(h.dests.as_slice().len(), 1);
        assert_eq!(h.dests.as_slice()[0].as_str(), "CO");
        assert_eq!(h.control.unwrap().as_str(), "A0TRM0042");
        let h = ok("KQ.AZNLETS20.AZ.TXT\nOLN/D11111111");
        assert_eq!(h.control, None);
        assert_eq!(
            &b"KQ.AZNLETS20.AZ.TXT\nOLN/D11111111"[h.body_offset..],
            b"\nOLN/D11111111"
        );
        let h = ok("DQ.AZNLETS20.CO,NM,UT.TXT\r\n\x7fNAM/X");
        assert_eq!(h.dests.len(), 3);
        let h = ok("YQ.AZNLETS20.AZ0000000.TXT");
        assert_eq!(h.dests.as_slice()[0].as_str(), "AZ0000000");
        let h = ok("\r\n\x7fDQ.AZNLETS20.CO.TXT");
        assert_eq!(h.mke.as_str(), "DQ");
        // Control characters inside a header: a reader honouring them could
        // see other routing (backspaces over an ORI), so they are refused.
        assert!(parse_header(b"DQ.\x07AZNLETS20.CO.TXT").is_err());
        assert!(parse_header(
            b"DR.COOLN0000.AZNLETS20\x08\x08\x08\x08\x08\x08\x08\x08\x08VTICE0900.TXT"
        )
        .is_err());
        assert!(check_body(b"\r\nDR.COOLN0000.VTICE0900.TXT\r\nX", 0).is_err());
        assert!(check_body(b"\r\n<n2:NLETSMessageHeader>", 0).is_err());
        assert!(check_body(b"\r\nNAM/DOE.SEX/F", 0).is_ok());
        assert!(check_body(b"\r\nX\r\nDQ.VTICE0900.COOLN0000.TXT \r\nNAM/X", 0).is_err());
        assert!(check_body(b"\r\n DQ.VTICE0900.CO.TXT", 0).is_err());
        assert!(check_body(b"\r\nDR.VTICE0900\r\n10:15 03/04/2025 22890\r\nTXT", 0).is_err());
        assert!(check_body(b"\r\nST.LOUIS MO.NAM/DOE", 0).is_ok());
    }

    use proptest::strategy::Strategy;

    /// `check_body` as it was: candidates by the patterns' first bytes.
    fn check_body_reference(body: &[u8], base: usize) -> Result<(), ParseError> {
        let err = |at: usize, what: &'static str| {
            ParseError::new(ErrorCode::LegacyHeader, base + at, what)
        };
        for pat in [&b"NLETSMESSAGEHEADER"[..], b"<?XML"] {
            let (up, low) = (pat[0], pat[0].to_ascii_lowercase());
            let hit = memchr::memchr2_iter(up, low, body).find(|&i| {
                body.get(i..i + pat.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(pat))
            });
            if let Some(i) = hit {
                return Err(err(i, "XML routing inside a legacy message"));
            }
        }
        let mut at = 0;
        for line in body.split(|&b| is_line_break(b)) {
            if starts_like_header(line) {
                return Err(err(at, "a second message header inside the body"));
            }
            at += line.len() + 1;
        }
        Ok(())
    }

    #[test]
    fn a_second_header_after_any_line_break_is_refused() {
        for brk in [
            &b"\r\n"[..],
            b"\n",
            b"\r",
            b"\x0b",
            b"\x0c",
            b"\x85",
            b"\xc2\x85",
            b"\xe2\x80\xa8",
            b"\xe2\x80\xa9",
        ] {
            let mut body = b"\r\nNAM/DOE".to_vec();
            body.extend_from_slice(brk);
            body.extend_from_slice(b"DR.COOLN0000.DCHSI0000.TXT\r\nPOB/EXAMPLE");
            assert!(check_body(&body, 0).is_err(), "after {brk:?}");
        }
        // A blank, a tab or a period is not a line break.
        for sep in [&b" "[..], b"\t", b"."] {
            let mut body = b"\r\nNAM/DOE".to_vec();
            body.extend_from_slice(sep);
            body.extend_from_slice(b"DR.COOLN0000.DCHSI0000.TXT");
            assert!(check_body(&body, 0).is_ok(), "after {sep:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        #[test]
        fn check_body_same_as_reference(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => proptest::sample::select(vec![
                        &b"NLETSMessageHeader"[..], b"nletsmessageheader", b"NLETSMESSAGE", b"HEADER",
                        b"MESSAGEHEADER", b"NLETS", b"G", b"g", b"N", b"<?xml", b"<?XML", b"<?", b"<",
                        b"xml", b"\r\n", b"\n", b"\x0c", b"\xc2\x85", b"\xe2\x80\xa8", b" ", b".", b"DQ.VTICE0900.CO.TXT",
                        b"DR.COOLN0000", b"NAM/DOE", b"HGT/507", b"SAMPLE TOWN, GT",
                    ]).prop_map(<[u8]>::to_vec),
                    1 => proptest::prelude::any::<u8>().prop_map(|b| vec![b]),
                ],
                0..30,
            ),
            base in 0usize..100,
        ) {
            let body = pieces.concat();
            proptest::prop_assert_eq!(check_body(&body, base), check_body_reference(&body, base));
        }
    }

    #[test]
    fn output_forms() {
        let h = ok("DR.COOLN0000\r\n10:15 03/04/2025 22890\r\n10:15 03/04/2025 08112 AZNLETS20\r\n*A0TRM0042\r\nTXT\r\nBODY");
        assert_eq!(h.form, HeaderForm::Output);
        assert_eq!(h.mke.as_str(), "DR");
        assert_eq!(h.sender.as_str(), "COOLN0000");
        assert_eq!(h.dests.as_slice()[0].as_str(), "AZNLETS20");
        assert_eq!(h.control.unwrap().as_str(), "A0TRM0042");
        let h = ok("ER.NL0000000\n08:00 01/01/2010 01239\n08:00 01/01/2011 01233 AZNLETS20\nTXT\n.22. INVALID");
        assert_eq!(h.control, None);
        assert_eq!(h.mke.as_str(), "ER");
        let h =
            ok("DQ.AZNLETS20\n10:15 03/04/2025 41873\n10:15 03/04/2025 07711 CO.*A0TRM0042.TXT\nX");
        assert_eq!(h.control.unwrap().as_str(), "A0TRM0042");
        assert_eq!(h.dests.as_slice()[0].as_str(), "CO");
    }

    #[test]
    fn errors_say_where() {
        let e = parse_header(b"DQ.AZNLETS2.CO.TXT").unwrap_err();
        assert_eq!(e.offset, 3);
        let e = parse_header(b"DQ.AZNLETS20.CO.*A0TRM0042XYZ.TXT").unwrap_err();
        assert!(e.what.contains("10"), "{e}");
        let e = parse_header(b"DQ.AZNLETS20.CO.XYZ").unwrap_err();
        assert!(e.what.contains("TXT"), "{e}");
        let e = parse_header(b"DQ.AZNLETS20.C.TXT").unwrap_err();
        assert_eq!(e.offset, 13);
        assert!(parse_header(b"").is_err());
        assert!(parse_header(b"DQ.AZNLETS20.CO,A,B,C,D,E.TXT").is_err());
        assert!(parse_header(b"DQ.AZNLETS20.CO,NM,UT,WY,ID,MT.TXT").is_err());
        assert!(parse_header(b"DQX12.AZNLETS20.CO.TXT").is_err());
        assert!(parse_header(b"DR.COOLN0000\n10:15 03/04/2025\nTXT").is_err());
    }
}
