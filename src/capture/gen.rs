//! Synthetic Nlets traffic, deterministic for a seed: legacy and XML
//! queries and responses, photo responses with 20–60 KB of base64, and
//! counterparty ORIs drawn from the example policy's lists and from
//! plausible unlisted agencies. Every name, number and image is invented.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Agencies in the example policy's lists (see `deploy/policy`).
pub const LISTED: &[&str] = &[
    "VTICE0900",
    "CAICE1000",
    "TXICE2000",
    "AXADMHELP",
    "NMICE3000",
    "VADEADX00",
    "DCFBI0000",
    "VAHSI0001",
];
/// Plausible agencies in no list (synthetic ORIs).
pub const UNLISTED: &[&str] = &[
    "AZNLETS20",
    "MNSP00000",
    "NYSP00000",
    "CAPD00100",
    "ORSP00000",
    "WAPD00200",
    "UTHP00000",
    "NMSP00000",
];
/// Colorado agencies that send queries out (synthetic).
pub const STATE_AGENCIES: &[&str] = &["CODENVER0", "COCSP0000", "COBOULD00"];
/// The state's DMV responder ORI.
pub const STATE_DMV: &str = "COOLN0000";

const SURNAMES: &[&str] = &["DOE", "ROE", "POE", "LOE", "MOE", "NOE"];
const GIVEN: &[&str] = &["JANE", "JOHN", "ALEX", "SAM", "KIM", "LEE"];
const PLACES: &[&str] = &[
    "EXAMPLE CITY, MX",
    "SAMPLE TOWN, GT",
    "TEST VILLE, CO",
    "PLACEHOLDER, SV",
];

/// Proportions of the generated traffic, in percent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// XML messages (the rest legacy text).
    pub xml: u8,
    /// Responses carrying a photo (XML responses only).
    pub photo: u8,
    /// Counterparties drawn from the policy's lists (the rest unlisted).
    pub listed: u8,
    /// The shape of outbound traffic (`--mix mixed`, `--mix small`).
    pub shape: Shape,
}

/// Fixed shapes of outbound traffic for the load comparison
/// (`benches/compare.sh`); `xml` and `photo` apply to [`Shape::Photo`] only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Responses per `xml` and `photo` (many 20–60 KB photos; ~17 KB mean
    /// with the defaults).
    Photo,
    /// ~4 KB mean: 40 % legacy DR, 30 % legacy DQ, 20 % NIEM DR without a
    /// photo, 10 % NIEM DR with a 20–60 KB photo.
    Mixed,
    /// Legacy text only (~300 B): 60 % DR, 40 % DQ.
    Small,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            xml: 70,
            photo: 40,
            listed: 30,
            shape: Shape::Photo,
        }
    }
}

/// Why a `--mix` is not read: which part, and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    /// A part that is neither a shape nor `key=percent`.
    #[error("{0:?}: expected key=percent")]
    NotKeyValue(String),
    /// A percent that is not a whole number from 0 to 100.
    #[error("{0:?}: percent 0-100")]
    Percent(String),
    /// A key that is not `xml`, `photo` or `listed`.
    #[error("unknown mix key {0:?} (xml, photo, listed; or a shape: photo, mixed, small)")]
    Key(String),
}

impl std::str::FromStr for Mix {
    type Err = MixError;
    /// `xml=70,photo=40,listed=30` (any subset), or a shape name first:
    /// `mixed`, `small`, `photo` (e.g. `mixed,listed=10`).
    fn from_str(s: &str) -> Result<Mix, MixError> {
        let mut m = Mix::default();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            m.shape = match part {
                "photo" => Shape::Photo,
                "mixed" => Shape::Mixed,
                "small" => Shape::Small,
                _ => m.shape,
            };
            if matches!(part, "photo" | "mixed" | "small") {
                continue;
            }
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| MixError::NotKeyValue(part.into()))?;
            let v: u8 = v
                .parse()
                .ok()
                .filter(|v| *v <= 100)
                .ok_or_else(|| MixError::Percent(part.into()))?;
            match k {
                "xml" => m.xml = v,
                "photo" => m.photo = v,
                "listed" => m.listed = v,
                o => return Err(MixError::Key(o.into())),
            }
        }
        Ok(m)
    }
}

/// A deterministic generator.
pub struct Generator {
    rng: StdRng,
    mix: Mix,
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Generator {
    /// A generator for `seed` and `mix`.
    pub fn new(seed: u64, mix: Mix) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            mix,
        }
    }

    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.rng.random_range(0..v.len())]
    }

    fn pct(&mut self, p: u8) -> bool {
        self.rng.random_range(0..100) < p
    }

    /// A counterparty agency per the mix.
    pub fn agency(&mut self) -> &'static str {
        if self.pct(self.mix.listed) {
            self.pick(LISTED)
        } else {
            self.pick(UNLISTED)
        }
    }

    /// A 10-character control field.
    pub fn control(&mut self) -> String {
        (0..10)
            .map(|_| B64[self.rng.random_range(0..36)] as char)
            .map(|c| c.to_ascii_uppercase())
            .collect()
    }

    fn name(&mut self) -> (String, String, String) {
        let dob = format!(
            "{}{:02}{:02}",
            self.rng.random_range(1950..2005),
            self.rng.random_range(1..13),
            self.rng.random_range(1..29)
        );
        (
            self.pick(SURNAMES).to_string(),
            self.pick(GIVEN).to_string(),
            dob,
        )
    }

    fn photo(&mut self) -> String {
        let n = self.rng.random_range(20_000..60_000) / 4 * 4;
        let mut s = String::with_capacity(n + n / 76 + 8);
        s.push_str("/9j/4AAQ");
        for i in 8..n {
            if i % 76 == 0 {
                s.push('\n');
            }
            s.push(B64[self.rng.random_range(0..64)] as char);
        }
        s
    }

    /// An inbound query from `from` to the state (output header form, as
    /// Nlets delivers it, or XML).
    pub fn query(&mut self, from: &str, control: &str) -> Bytes {
        let (sur, given, dob) = self.name();
        let mke = ["DQ", "DQ", "DQ", "KQ", "RQ", "CPQ"][self.rng.random_range(0..6)];
        let xml = self.pct(self.mix.xml) || mke == "CPQ";
        let n = self.rng.random_range(10000..99999);
        if xml {
            Bytes::from(format!(
                r#"<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0" n2:version="4.00"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>{mke}</nh2:MessageKeyCodeText><nh2:OriginatingORIID>{from}</nh2:OriginatingORIID><nh2:DestinationORIID>CO</nh2:DestinationORIID><nh2:DocumentControlFieldText><![CDATA[{control}]]></nh2:DocumentControlFieldText><nh2:ReceiveMessageNumeric>{n}</nh2:ReceiveMessageNumeric></n2:NLETSMessageHeader><n2:NLETSInquiryData><n2:ReasonCode>V</n2:ReasonCode><n2:Person><nc:PersonBirthDate><nc:Date>{}-{}-{}</nc:Date></nc:PersonBirthDate><nc:PersonName><nc:PersonGivenName>{given}</nc:PersonGivenName><nc:PersonSurName>{sur}</nc:PersonSurName></nc:PersonName></n2:Person><n2:ImageRequestIndicator>true</n2:ImageRequestIndicator></n2:NLETSInquiryData></n2:NLETS>"#,
                &dob[..4],
                &dob[4..6],
                &dob[6..]
            ))
        } else {
            Bytes::from(format!(
                "{mke}.{from}\r\n10:15 03/04/2025 {n}\r\n10:15 03/04/2025 {n} CO\r\n*{control}\r\nTXT\r\nRSN/V.NAM/{sur},{given}.DOB/{dob}.SEX/F.IMQ/Y"
            ))
        }
    }

    /// The state's response to a query key from `to`, echoing `control`:
    /// XML (with photo per the mix) when `xml`, legacy otherwise. Always
    /// carries a place of birth.
    pub fn response(
        &mut self,
        query_mke: &str,
        to: &str,
        control: Option<&str>,
        xml: bool,
    ) -> Bytes {
        let mke = crate::message::keys::response_key(query_mke).unwrap_or("DR");
        let (sur, given, dob) = self.name();
        let place = self.pick(PLACES);
        let oln: u64 = self.rng.random_range(100_000_000..999_999_999);
        if xml {
            let ctl = control
                .map(|c| format!("<nh2:DocumentControlFieldText><![CDATA[{c}]]></nh2:DocumentControlFieldText>"))
                .unwrap_or_default();
            let photo = if self.pct(self.mix.photo) || mke == "CPR" {
                format!(
                    "<nc:PersonDigitalImage><nc:BinaryBase64Object>{}</nc:BinaryBase64Object><nc:BinaryFormatID>JPEG</nc:BinaryFormatID></nc:PersonDigitalImage>",
                    self.photo()
                )
            } else {
                String::new()
            };
            Bytes::from(format!(
                r#"<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0" n2:version="4.00"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>{mke}</nh2:MessageKeyCodeText><nh2:OriginatingORIID>{STATE_DMV}</nh2:OriginatingORIID><nh2:DestinationORIID>{to}</nh2:DestinationORIID>{ctl}</n2:NLETSMessageHeader><n2:NLETSResponseData><n2:ResponseText><![CDATA[{sur}, {given}  DOB/{dob} SEX/F OLN/{oln} STATUS/VALID
POB/{place}
END OF RECORD]]></n2:ResponseText><n2:Person><nc:PersonBirthLocation><nc:LocationAddress><nc:AddressFullText>{place}</nc:AddressFullText></nc:LocationAddress></nc:PersonBirthLocation></n2:Person>{photo}</n2:NLETSResponseData></n2:NLETS>"#
            ))
        } else {
            let ctl = control.map(|c| format!(".*{c}")).unwrap_or_default();
            Bytes::from(format!(
                "{mke}.{STATE_DMV}.{to}{ctl}.TXT\r\nNAM/{sur},{given}.DOB/{dob}.SEX/F.OLN/{oln}.POB/{}.STATUS/VALID",
                &place[place.len() - 2..]
            ))
        }
    }

    /// One message of the chosen direction: inbound = a query from an
    /// agency; outbound = a response to an agency (or, 10 %, a state
    /// agency's own query to another state).
    pub fn message(&mut self, inbound: bool) -> Bytes {
        let who = self.agency();
        let ctl = self.control();
        if !inbound && self.mix.shape != Shape::Photo {
            return self.shaped(who, &ctl);
        }
        if inbound {
            self.query(who, &ctl)
        } else if self.pct(10) {
            let from = self.pick(STATE_AGENCIES);
            let to = &self.agency()[..2];
            Bytes::from(format!("DQ.{from}.{to}.TXT\r\nNAM/DOE,JANE.DOB/19800115"))
        } else {
            let xml = self.pct(self.mix.xml);
            let mke = ["DQ", "DQ", "KQ", "CPQ"][self.rng.random_range(0..4)];
            self.response(mke, who, Some(&ctl), xml || mke == "CPQ")
        }
    }
}

/// Where a message's counterpart goes in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// The counterpart (the query) comes before the message (a response).
    Before,
    /// The counterpart (the response) comes after the message (a query).
    After,
}

impl Generator {
    /// An outbound message of the [`Shape::Mixed`] or [`Shape::Small`] shape.
    fn shaped(&mut self, who: &str, ctl: &str) -> Bytes {
        let r = self.rng.random_range(0..100u8);
        let (legacy_dr, legacy_dq) = match self.mix.shape {
            Shape::Small => (60, 100),
            _ => (40, 70),
        };
        if r < legacy_dr {
            return self.long_legacy_response(who, ctl);
        }
        if r < legacy_dq {
            let from = self.pick(STATE_AGENCIES);
            let (sur, given, dob) = self.name();
            let to = &self.agency()[..2];
            return Bytes::from(format!(
                "DQ.{from}.{to}.*{ctl}.TXT\r\nNAM/{sur},{given}.DOB/{dob}.SEX/F.RSN/V.PUR/C.IMQ/N.\r\nOPR/OFFICER EXAMPLE BADGE 0000.MIS/TRAFFIC STOP SYNTHETIC TEST"
            ));
        }
        let saved = self.mix.photo;
        self.mix.photo = if r < 90 { 0 } else { 100 };
        let m = self.response("DQ", who, Some(ctl), true);
        self.mix.photo = saved;
        m
    }

    /// A legacy driver response with the fields a real one carries (~300 B).
    fn long_legacy_response(&mut self, to: &str, ctl: &str) -> Bytes {
        let (sur, given, dob) = self.name();
        let place = self.pick(PLACES);
        let oln: u64 = self.rng.random_range(100_000_000..999_999_999);
        let street: u32 = self.rng.random_range(100..9999);
        let exp = self.rng.random_range(2026..2032);
        Bytes::from(format!(
            "DR.{STATE_DMV}.{to}.*{ctl}.TXT\r\nNAM/{sur},{given}.DOB/{dob}.SEX/F.RAC/U.HGT/507.WGT/140.EYE/BRO.HAI/BLK.\r\nOLN/{oln}.OLS/CO.OLY/{exp}.CLS/R.STATUS/VALID.RST/NONE.END/NONE.\r\nADR/{street} EXAMPLE ST.CTY/SAMPLE TOWN.ST/CO.ZIP/80000.POB/{}.\r\nISS/20240115.EXP/{exp}0115.PTS/00.SUS/NONE.\r\nMIS/RECORD PROVIDED FOR CRIMINAL JUSTICE PURPOSES ONLY. VERIFY STATUS WITH ISSUING AGENCY.",
            &place[place.len() - 2..]
        ))
    }

    /// The other half of `primary`'s exchange, for two-way captures: the
    /// response a query gets (to its originator, echoing its control field),
    /// or the query a response answers (from its destination, with the same
    /// control field). `None` when `primary` is neither or does not parse.
    pub fn counterpart(&mut self, primary: &[u8]) -> Option<(Bytes, Turn)> {
        use crate::message::{parse_header, Class, Format, Limits};
        let cat = crate::message::fields::Catalogue::builtin();
        let h = parse_header(primary, &cat, &Limits::default()).ok()?;
        let control = h.control.map(|c| c.as_str().to_string());
        match h.class {
            Class::Query => {
                let xml = h.format == Format::Xml;
                let r = self.response(
                    h.mke.as_str(),
                    h.originating.as_str(),
                    control.as_deref(),
                    xml,
                );
                Some((r, Turn::After))
            }
            Class::Response => {
                let to = h.dests.first()?;
                let ctl = control.unwrap_or_else(|| self.control());
                Some((self.query(to.as_str(), &ctl), Turn::Before))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fields::Catalogue;
    use crate::message::{parse, Limits};

    #[test]
    fn deterministic_and_parseable() {
        let mut a = Generator::new(7, Mix::default());
        let mut b = Generator::new(7, Mix::default());
        let cat = Catalogue::builtin();
        let (mut photos, mut xml) = (0, 0);
        for i in 0..300 {
            let m = a.message(i % 2 == 0);
            assert_eq!(m, b.message(i % 2 == 0));
            let p =
                parse(m.clone(), &cat, &Limits::default()).unwrap_or_else(|e| panic!("{e}: {m:?}"));
            if p.has_photo() {
                photos += 1;
                assert!((20_000..70_000).contains(&m.len()));
            }
            if p.format == crate::message::Format::Xml {
                xml += 1;
            }
        }
        assert!(photos > 20 && xml > 100, "{photos} {xml}");
        assert_ne!(
            Generator::new(8, Mix::default()).message(false),
            Generator::new(7, Mix::default()).message(false)
        );
        assert_eq!("xml=10,photo=0".parse::<Mix>().unwrap().xml, 10);
        assert!("bogus=1".parse::<Mix>().is_err());
    }

    #[test]
    fn counterparts_answer_their_message() {
        use crate::message::{parse_header, Class};
        let cat = Catalogue::builtin();
        let mut g = Generator::new(3, Mix::default());
        let mut c = Generator::new(4, Mix::default());
        let (mut before, mut after) = (0, 0);
        for i in 0..200 {
            let m = g.message(i % 2 == 0);
            let Some((other, turn)) = c.counterpart(&m) else {
                continue;
            };
            let h = parse_header(&m, &cat, &Limits::default()).unwrap();
            let o = parse_header(&other, &cat, &Limits::default()).unwrap();
            assert_eq!(o.control, h.control, "{m:?}");
            match turn {
                Turn::After => {
                    after += 1;
                    assert_eq!(o.class, Class::Response);
                    assert_eq!(o.dests.first(), Some(h.originating));
                }
                Turn::Before => {
                    before += 1;
                    assert_eq!(o.class, Class::Query);
                    assert_eq!(Some(o.originating), h.dests.first());
                }
            }
        }
        assert!(before > 50 && after > 50, "{before} {after}");
    }
}
