#!/usr/bin/env python3
"""Regenerates the seam leak corpus (issue 24) under testdata/hostile/seams/.

    python3 testdata/hostile/make_seams.py      (from anywhere; stdlib only)

Cases aimed at the seams of the release-profile model: protected values
written inside released fields, unbounded repeats of a released field, layout
channels (bytes of the input's layout copied to the output), reference
spellings across NIEM 2 to 5 and XLink, responses to two restricted
destinations, and responses whose control field no query of the agency
carried.  Written from the issue text, apart from the redactor.

Writes seams/*.txt|xml and seams.json in the format of manifest.json (file,
class, direction, expect, canaries, allowed, note) plus:
  query          an inbound query (in seams/) to decide first, in the same
                 court-order ledger: the agency asked, with this control field
  same_output_as another case's file with the same values in another layout:
                 both must be forwarded byte-identical, or neither forwarded

Canary rule (as tests/leak_suite.rs): case-insensitive substring, and again
with every non-alphanumeric character removed on both sides, in anything
forwarded and in any decline reply.

Everything is synthetic: the person is invented, the status/restriction codes
(NONCITZQ, SB251QZ, LPRQX7, ...) are made up so that no real vocabulary of
licence codes holds them, places are invented words, photos are pseudo-random
bytes behind a JPEG header seeded by case name (deterministic).  SSNs are in
the 987-65-43xx range reserved for advertising and written 3-2-4 (with dashes
or blanks); passport numbers are two letters and seven digits.  No licence
number of the benign layout set (testdata/benign) has these shapes, so a field
vocabulary can tell them apart.  A bare 9-digit SSN cannot be told from a
9-digit licence number, so the corpus does not ask for that.
"""
import base64
import json
import os
import random
import shutil
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "seams")
CRLF = "\r\n"

STATE = "COOLN0000"
RED = "VADEADX00"      # federal_redact (fields photo, pob)
RED2 = "DCFBI0000"     # federal_redact
P287 = "FLSO00100"     # partners_287g (redact; fields photo, pob, ssn, id_documents; reason required)
DENY = "VTICE0900"     # immigration_enforcement (deny)
DENYPAT = "DCICE1234"  # immigration_pattern ??ICE????
CBP = "DCCBP0000"      # cbp (deny)

N2 = "http://www.nlets.org/niem/1.0"
NH2 = "http://www.nlets.org/niem/nlets-hdr/1.0"
N2C = "http://www.nlets.org/niem/nlets-core/1.0"
NC2 = "http://niem.gov/niem/niem-core/2.0"
NC5 = "http://release.niem.gov/niem/niem-core/5.0/"
S2 = "http://niem.gov/niem/structures/2.0"
S4 = "http://release.niem.gov/niem/structures/4.0/"
S5 = "http://release.niem.gov/niem/structures/5.0/"
XLINK = "http://www.w3.org/1999/xlink"

CLASSES = {
    "K": "K-protected-value-in-released-field",
    "L": "L-unbounded-repeats",
    "M": "M-layout-channel",
    "N": "N-reference-spelling",
    "O": "O-two-restricted-destinations",
    "P": "P-unqueried-control-field",
}

CASES = []
_n = {}


def add(cls, slug, data, expect="no_leak", canaries=(), note="", query=None,
        same_as=None, xml=False, allowed=()):
    """Adds a case; returns its file name (for same_output_as)."""
    k = _n.get(cls, 0) + 1
    _n[cls] = k
    name = f"{cls}{k:02d}_{slug}"
    ext = "xml" if xml else "txt"
    c = dict(name=name, file=f"seams/{name}.{ext}", cls=CLASSES[cls], data=data,
             expect=expect, canaries=list(canaries), note=note, xml=xml, allowed=list(allowed),
             same_as=same_as, query=None)
    if query is not None:
        qname, qdata, qxml = query
        c["query"] = (f"seams/{qname}.{'xml' if qxml else 'txt'}", qdata, qxml)
    CASES.append(c)
    return c["file"]


# ------------------------------------------------------------------ envelopes

def leg(mke, dest, ctrl, body, orig=STATE, eol=CRLF):
    c = f"*{ctrl}." if ctrl else ""
    return f"{mke}.{orig}.{dest}.{c}TXT{eol}{body}"


def leg_q(sender, ctrl, name, mke="DQ"):
    """The inbound query (Nlets output header form) that asked with `ctrl`."""
    body = "RSN/V.NAM/DOE,JANE Q.DOB/19800115.SEX/F.IMQ/Y"
    data = (f"{mke}.{sender}{CRLF}10:14 03/04/2025 41873{CRLF}10:14 03/04/2025 07711 CO{CRLF}"
            f"*{ctrl}{CRLF}TXT{CRLF}{body}")
    return (f"Q_{name}", data, False)


def x_q(sender, ctrl, name):
    data = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<n2:NLETS xmlns:n2="{N2}" xmlns:nh2="{NH2}" xmlns:nc="{NC2}" n2:version="4.00">\n'
            "  <n2:NLETSMessageHeader>\n"
            "    <nh2:MessageKeyCodeText>DQ</nh2:MessageKeyCodeText>\n"
            f"    <nh2:OriginatingORIID>{sender}</nh2:OriginatingORIID>\n"
            "    <nh2:DestinationORIID>CO</nh2:DestinationORIID>\n"
            f"    <nh2:DocumentControlFieldText><![CDATA[{ctrl}]]></nh2:DocumentControlFieldText>\n"
            "  </n2:NLETSMessageHeader>\n"
            "  <n2:NLETSInquiryData>\n    <n2:ReasonCode>V</n2:ReasonCode>\n    <n2:Person>\n"
            "      <nc:PersonBirthDate><nc:Date>1980-01-15</nc:Date></nc:PersonBirthDate>\n"
            "      <nc:PersonName><nc:PersonGivenName>JANE</nc:PersonGivenName>"
            "<nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName>\n"
            "    </n2:Person>\n  </n2:NLETSInquiryData>\n</n2:NLETS>\n")
    return (f"Q_{name}", data, True)


def hdr(mke="DR", orig=STATE, dests=(RED,), ctrl="", p="nh2", ind="    ", sep="\n",
        extra="", attrs=""):
    c = (f"{ind}<{p}:DocumentControlFieldText><![CDATA[{ctrl}]]></{p}:DocumentControlFieldText>{sep}"
         if ctrl else "")
    d = "".join(f"{ind}<{p}:DestinationORIID>{x}</{p}:DestinationORIID>{sep}" for x in dests)
    return (f"  <n2:NLETSMessageHeader{attrs}>{sep}"
            f"{ind}<{p}:MessageKeyCodeText>{mke}</{p}:MessageKeyCodeText>{sep}"
            f"{ind}<{p}:OriginatingORIID>{orig}</{p}:OriginatingORIID>{sep}"
            f"{d}{c}"
            f"{ind}<{p}:MessageSendDate>03/04/2025</{p}:MessageSendDate>{sep}"
            f"{ind}<{p}:MessageSendTime>10:15</{p}:MessageSendTime>{sep}"
            f"{extra}  </n2:NLETSMessageHeader>\n")


def xdoc(data, ctrl, header=None, root="n2", root_ns="", extra_ns="", epilog="",
         version='n2:version="4.00"', **kw):
    h = header if header is not None else hdr(ctrl=ctrl, **kw)
    rn = (f'xmlns:{root}="{N2}"' if root != "n2" else "") if root_ns == "" else root_ns
    rdecl = f" {rn}" if rn else ""
    v = version.replace("n2:", f"{root}:")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<{root}:NLETS{rdecl} xmlns:n2="{N2}" xmlns:nh2="{NH2}" xmlns:nc="{NC2}" '
            f'xmlns:n2c="{N2C}"{extra_ns} {v}>\n'
            + h + f"  <n2:NLETSResponseData>\n{data}  </n2:NLETSResponseData>\n</{root}:NLETS>\n"
            + epilog)


def person(given="JANE", sur="DOE", extra="", sur_attrs="", name_extra="", p_attrs="", ind="      "):
    return (f"    <n2:Person{p_attrs}>\n"
            f"{ind}<nc:PersonName><nc:PersonGivenName>{given}</nc:PersonGivenName>"
            f"<nc:PersonSurName{sur_attrs}>{sur}</nc:PersonSurName>{name_extra}</nc:PersonName>\n"
            f"{ind}<nc:PersonBirthDate><nc:Date>1980-01-15</nc:Date></nc:PersonBirthDate>\n"
            f"{ind}<nc:PersonSexCode>F</nc:PersonSexCode>\n"
            f"{extra}    </n2:Person>\n")


def driver(oln="000000001", status="VALID", ids=None, status_attrs=""):
    idl = ids if ids is not None else [oln]
    ident = "".join("      <n2c:DriverLicenseIdentification><nc:IdentificationID>"
                    f"{i}</nc:IdentificationID></n2c:DriverLicenseIdentification>\n" for i in idl)
    return ("    <n2c:Driver>\n" + ident
            + f"      <n2c:DriverLicenseStatusText{status_attrs}>{status}</n2c:DriverLicenseStatusText>\n"
            "      <n2c:DriverLicenseExpirationDate><nc:Date>2029-01-15</nc:Date>"
            "</n2c:DriverLicenseExpirationDate>\n    </n2c:Driver>\n")


def pob_el(city, attrs="", inner_attrs=""):
    return (f"      <nc:PersonBirthLocation{attrs}><nc:LocationCityName{inner_attrs}>{city}"
            "</nc:LocationCityName></nc:PersonBirthLocation>\n")


BODY = ("DOE, JANE Q  DOB/19800115 SEX/F OLN/000000001 STATUS/VALID" + CRLF
        + "CLASS/C EXP/20290115" + CRLF + "END OF RECORD")


def jpeg(tag, n=760):
    r = random.Random("origuard-seams:" + tag)
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            b"\xff\xdb\x00\x43\x00" + bytes(r.getrandbits(8) for _ in range(n)) + b"\xff\xd9")


def chunk(s, k):
    return [s[i:i + k] for i in range(0, len(s), k)]


def windows(chunks, count=3, w=14):
    """Canaries: windows from the middle of a few chunks (never across two)."""
    out = []
    for j in range(count):
        c = chunks[(j + 1) * len(chunks) // (count + 1)]
        out.append(c[2:2 + w])
    return out


def letters(data):
    """Bytes as letters A-P (one per nibble): fits the `name` class."""
    return "".join("ABCDEFGHIJKLMNOP"[b >> 4] + "ABCDEFGHIJKLMNOP"[b & 15] for b in data)


# ------------------------------------------------------------------ K: protected value inside a released field

def class_k():
    def lk(slug, ctrl, body, canaries, note, dest=RED):
        add("K", slug, leg("DR", dest, ctrl, body), canaries=canaries, note=note,
            query=leg_q(dest, ctrl, f"K_{slug}"))

    def xk(slug, ctrl, data, canaries, note, dest=RED):
        add("K", slug, xdoc(data, ctrl, dests=(dest,)), canaries=canaries, note=note,
            query=x_q(dest, ctrl, f"K_{slug}"), xml=True)

    lk("status_noncitizen", "SK01A", BODY.replace("STATUS/VALID", "STATUS/NONCITZQ"),
       ["NONCITZQ"], "a citizenship code written as the licence status (STATUS/)")
    lk("rstr_sb251", "SK02A", BODY.replace("CLASS/C", "CLASS/C RSTR/SB251QZ"),
       ["SB251QZ"], "an SB13-251 marker written as a restriction code (RSTR/)")
    lk("end_lpr", "SK03A", BODY.replace("CLASS/C", "CLASS/C END/LPRQX7"),
       ["LPRQX7"], "a lawful-permanent-resident code written as an endorsement (END/)")
    xk("status_text_visa", "SK04X", person() + driver(status="TMPVISAQZ"),
       ["TMPVISAQZ"], "an immigration-status code in n2c:DriverLicenseStatusText")
    xk("freetext_status", "SK05X",
       f"    <n2:ResponseText><![CDATA[{BODY.replace('STATUS/VALID', 'STATUS/UNDOCQZ')}]]></n2:ResponseText>\n",
       ["UNDOCQZ"], "a status code inside STATUS/ of n2:ResponseText free text")
    lk("oln_ssn", "SK06A", BODY.replace("OLN/000000001", "OLN/987-65-4320"),
       ["987-65-4320"], "an SSN (3-2-4 digits) as the licence number")
    lk("oln_ssn_blanks", "SK07A", BODY.replace("OLN/000000001", "OLN/987 65 4321"),
       ["987 65 4321"], "an SSN written with blanks as the licence number")
    add("K", "lic_passport",
        leg("RR", RED, "SK08A", "LIC/PQ7318842.LIS/CO.LIY/2026.LIT/PC.VIN/1ZZZZ00000Z000008" + CRLF
            + "NAM/DOE,JANE Q.DOB/19800115", orig="COLIC0000"),
        canaries=["PQ7318842"], note="a passport number (letter and 8 digits) as the plate (LIC/)",
        query=leg_q(RED, "SK08A", "K_lic_passport", mke="RQ"))
    add("K", "vin_passport",
        leg("RR", RED, "SK09A", "LIC/FAKE009.LIS/CO.LIY/2026.LIT/PC.VIN/PQ7318843OIQ00000" + CRLF
            + "NAM/DOE,JANE Q.DOB/19800115", orig="COLIC0000"),
        canaries=["PQ7318843"], note="a passport number inside the VIN (with O, I, Q, which no VIN holds)",
        query=leg_q(RED, "SK09A", "K_vin_passport", mke="RQ"))
    xk("identification_ssn", "SK10X", person() + driver(oln="987-65-4329"),
       ["987-65-4329"], "an SSN (3-2-4 digits) as nc:IdentificationID of the licence")
    xk("identification_passport", "SK11X", person() + driver(oln="PQ7318845"),
       ["PQ7318845"], "a passport number as nc:IdentificationID of the licence")
    # Benign names have at most 7 words in all (5 in a surname), hyphenated
    # parts counted (testdata/benign): these carry 9 (7 in the surname).
    lk("nam_hyphen_words", "SK12A",
       BODY.replace("DOE, JANE Q  ", "NAM/DOE,JANE-BORN-IN-XALQUIZTLAN-QZ-MX-NOW-LPR "),
       ["XALQUIZTLAN-QZ-MX-NOW-LPR"], "place of birth and status joined to the name with '-' (9 words)")
    lk("leading_hyphen_words", "SK13A",
       BODY.replace("DOE, JANE Q", "DOE-VISA-QZTLAN-TEMP-NONRES-LPR-CARD, JANE Q"),
       ["VISA-QZTLAN-TEMP-NONRES"], "a status joined with '-' into the leading name (9 words)")
    lk("nam_hyphen_words_short", "SK19A",
       BODY.replace("DOE, JANE Q  ", "NAM/DOE,JA-BORN-IN-XALQ-QZ-MX-LPR "),
       ["XALQ-QZ-MX-LPR"], "8 hyphen-joined words within today's 30-character limit")
    xk("surname_hyphen_words", "SK14X", person(sur="DOE-NACIDA-EN-QUEMTLAN-ESTADO-QZ-MX") + driver(),
       ["NACIDA-EN-QUEMTLAN"], "birthplace joined with '-' into nc:PersonSurName (7 words)")
    lk("status_split", "SK15A", BODY.replace("STATUS/VALID", "STATUS/XENOSTAQ STATUS/NONRESQZ"),
       ["XENOSTAQ", "NONRESQZ"], "a status code split over two repeats of STATUS/")
    lk("rstr_split", "SK16A", BODY.replace("CLASS/C", "CLASS/C RSTR/LPRHALFQ.RSTR/CARDHALFQ"),
       ["LPRHALFQ", "CARDHALFQ"], "a code split over two repeats of RSTR/ (period separated)")
    xk("surname_split", "SK17X",
       person(sur="QUEMTLANPO", name_extra="<nc:PersonSurName>BIRTHQZX</nc:PersonSurName>") + driver(),
       ["QUEMTLANPO", "BIRTHQZX"], "a birthplace split over two nc:PersonSurName in one name")
    xk("status_text_split", "SK18X",
       person() + driver(status="LAWFULQZ").replace(
           "</n2c:DriverLicenseStatusText>",
           "</n2c:DriverLicenseStatusText>\n      <n2c:DriverLicenseStatusText>PRSTATQZ</n2c:DriverLicenseStatusText>"),
       ["LAWFULQZ", "PRSTATQZ"], "a status split over two n2c:DriverLicenseStatusText")


# ------------------------------------------------------------------ L: unbounded repeats

def class_l():
    b32 = base64.b32encode(jpeg("L01")).decode().rstrip("=")
    ch = chunk(b32, 20)[:60]
    assert len(ch) == 60
    body = "DOE, JANE Q  DOB/19800115 SEX/F" + CRLF + CRLF.join(f"OLN/{c}" for c in ch)
    add("L", "oln_base32_photo_60", leg("DR", RED, "SL01A", body), expect="not_forwarded",
        canaries=windows(ch), note=f"a photo as base32 in {len(ch)} repeated OLN/ fields",
        query=leg_q(RED, "SL01A", "L_oln_base32_photo_60"))
    body = "DOE, JANE Q  DOB/19800115 SEX/F OLN/000000001 " + " ".join(f"OLN/{c}" for c in ch)
    add("L", "oln_base32_photo_one_line", leg("DR", RED, "SL02A", body), expect="not_forwarded",
        canaries=windows(ch), note="the same 60 OLN/ fields on one line",
        query=leg_q(RED, "SL02A", "L_oln_base32_photo_one_line"))
    b32 = base64.b32encode(jpeg("L03")).decode().rstrip("=")
    ch = chunk(b32, 20)[:60]
    assert len(ch) == 60
    add("L", "identification_base32_60",
        xdoc(person() + driver(ids=ch), "SL03X"), expect="not_forwarded",
        canaries=windows(ch), note="a photo as base32 in 60 nc:IdentificationID of one n2c:Driver",
        query=x_q(RED, "SL03X", "L_identification_base32_60"), xml=True)
    lt = letters(jpeg("L04", 600))
    ch = chunk(lt, 20)[:50]
    assert len(ch) == 50
    names = "".join(f"<nc:PersonSurName>{c}</nc:PersonSurName>" for c in ch[1:])
    add("L", "surnames_50",
        xdoc(person(sur=ch[0], name_extra=names) + driver(), "SL04X"), expect="not_forwarded",
        canaries=windows(ch), note="a photo as letters in 50 nc:PersonSurName of one name",
        query=x_q(RED, "SL04X", "L_surnames_50"), xml=True)
    lt = letters(jpeg("L05", 600))
    ch = chunk(lt, 20)[:50]
    assert len(ch) == 50
    add("L", "persons_50",
        xdoc("".join(person(sur=c) for c in ch) + driver(), "SL05X"), expect="not_forwarded",
        canaries=windows(ch), note="a photo as letters in the surnames of 50 n2:Person records",
        query=x_q(RED, "SL05X", "L_persons_50"), xml=True)
    lt = letters(jpeg("L06", 600))
    ch = chunk(lt, 20)[:50]
    assert len(ch) == 50
    body = CRLF.join(f"NAM/{c},JANE.DOB/19800115.SEX/F" for c in ch)
    add("L", "nam_records_50", leg("DNR", RED, "SL06A", body), expect="not_forwarded",
        canaries=windows(ch), note="a photo as letters in 50 NAM/ candidate records",
        query=leg_q(RED, "SL06A", "L_nam_records_50", mke="DNQ"))
    b32 = base64.b32encode(jpeg("L07")).decode().rstrip("=")
    ch = chunk(b32, 12)[:60]
    assert len(ch) == 60
    text = BODY + "\n" + "\n".join(f"RSTR/{c}" for c in ch)
    add("L", "freetext_rstr_60",
        xdoc(f"    <n2:ResponseText><![CDATA[{text}]]></n2:ResponseText>\n", "SL07X"),
        expect="not_forwarded", canaries=windows(ch, w=10),
        note="a photo as base32 in 60 RSTR/ fields of n2:ResponseText",
        query=x_q(RED, "SL07X", "L_freetext_rstr_60"), xml=True)


# ------------------------------------------------------------------ M: layout channels

def class_m():
    # XML: a plain base and variants with the same values in another layout.
    def xbase(ctrl, slug):
        data = person() + driver()
        return add("M", f"{slug}_base", xdoc(data, ctrl), note="plain layout (pair base)",
                   query=x_q(RED, ctrl, f"M_{slug}_base"), xml=True)

    def xvar(ctrl, slug, doc, base, canaries=(), note=""):
        add("M", slug, doc, canaries=canaries, note=note, same_as=base,
            query=x_q(RED, ctrl, f"M_{slug}"), xml=True)

    c = "SM01X"
    b = xbase(c, "root_prefix")
    xvar(c, "root_prefix", xdoc(person() + driver(), c, root="xalqrootq"), b, ["xalqrootq"],
         "root element under a prefix that spells text")
    c = "SM03X"
    b = xbase(c, "decl_prefix")
    xvar(c, "decl_prefix",
         xdoc(person() + driver(), c, extra_ns=f' xmlns:nacidaenqzt="{NC2}" xmlns:pobqzmx="{N2C}"'),
         b, ["nacidaenqzt", "pobqzmx"], "extra declarations of known namespaces under telling prefixes")
    c = "SM05X"
    b = xbase(c, "element_prefix")
    xvar(c, "element_prefix",
         xdoc(person().replace("<nc:PersonSurName>DOE</nc:PersonSurName>",
                               f'<bornqz7:PersonSurName xmlns:bornqz7="{NC2}">DOE</bornqz7:PersonSurName>')
              + driver(), c),
         b, ["bornqz7"], "a released element under its own prefix, declared on it")
    c = "SM07X"
    b = xbase(c, "value_whitespace")
    xvar(c, "value_whitespace",
         xdoc(person(given="\n  JANE \t ", sur=" DOE   ") + driver(status="  VALID\t"), c),
         b, note="white space around released values")
    c = "SM09X"
    b = xbase(c, "after_root")
    xvar(c, "after_root", xdoc(person() + driver(), c, epilog="\n \t\t \n  \t\n\n \n"),
         b, note="white space after the root element")
    c = "SM11X"
    b = xbase(c, "between_elements")
    xvar(c, "between_elements",
         xdoc(person(ind="\t  \t").replace("    <n2:Person>", " \t <n2:Person>") + driver()
              .replace("      <n2c:DriverLicenseStatusText>", "\t\t \t<n2c:DriverLicenseStatusText>"), c),
         b, note="indentation between kept elements carrying a bit pattern")
    c = "SM13X"
    b = xbase(c, "header_whitespace")
    xvar(c, "header_whitespace",
         xdoc(person() + driver(), c, ind=" \t \t", sep="\n\n"),
         b, note="white space inside the header")
    c = "SM15X"
    b = xbase(c, "header_prefix")
    xvar(c, "header_prefix",
         xdoc(person() + driver(), c, p="hdrxalqz", attrs=f' xmlns:hdrxalqz="{NH2}"'),
         b, ["hdrxalqz"], "header children under a telling prefix declared on the header")
    c = "SM17X"
    b = xbase(c, "cdata_value")
    xvar(c, "cdata_value",
         xdoc(person(sur="<![CDATA[DOE]]>", given="&#74;ANE") + driver(), c),
         b, note="a value as CDATA, another with a character reference")
    c = "SM19X"
    b = xbase(c, "attribute_quotes")
    xvar(c, "attribute_quotes",
         xdoc(person() + driver(), c, version="n2:version='4.00'  "),
         b, note="root attribute in single quotes with trailing blanks in the tag")
    c = "SM21X"
    add("M", "header_repeated_numbers",
        xdoc(person() + driver(), c, extra=(
            "    <nh2:ReceiveMessageNumeric>7319028465</nh2:ReceiveMessageNumeric>\n"
            "    <nh2:ReceiveMessageNumeric>5550192837</nh2:ReceiveMessageNumeric>\n"
            "    <nh2:SendMessageNumeric>6048213957</nh2:SendMessageNumeric>\n"
            "    <nh2:MessageReceiveDate>12/34/5678</nh2:MessageReceiveDate>\n"
            "    <nh2:MessageReceiveDate>98/76/5432</nh2:MessageReceiveDate>\n")),
        canaries=["7319028465", "5550192837", "6048213957", "12/34/5678", "98/76/5432"],
        note="repeated non-routing header elements carrying digits",
        query=x_q(RED, c, "M_header_repeated_numbers"), xml=True)
    c = "SM22X"
    add("M", "xml_originating_text",
        xdoc(person() + driver(), c, orig="QZNACIDA1"), canaries=["QZNACIDA1"],
        note="an originating ORI that is not the state's, spelling text",
        query=x_q(RED, c, "M_xml_originating_text"), xml=True)
    c = "SM23X"
    add("M", "xml_second_destination", xdoc(person() + driver(), c, dests=(RED, "QZPOBMX02")),
        expect="not_forwarded", canaries=["QZPOBMX02"],
        note="an unlisted second destination ORI spelling text beside the restricted one",
        query=x_q(RED, c, "M_xml_second_destination"), xml=True)

    # Legacy: a plain base and variants.
    def lbase(ctrl, slug, body=BODY, eol=CRLF):
        return add("M", f"{slug}_base", leg("DR", RED, ctrl, body, eol=eol),
                   note="plain layout (pair base)", query=leg_q(RED, ctrl, f"M_{slug}_base"))

    def lvar(ctrl, slug, data, base, canaries=(), note="", expect="no_leak"):
        add("M", slug, data, canaries=canaries, note=note, same_as=base, expect=expect,
            query=leg_q(RED, ctrl, f"M_{slug}"))

    c = "SM24A"
    b = lbase(c, "trailing_blanks")
    lvar(c, "trailing_blanks",
         leg("DR", RED, c, BODY.replace(CRLF, " \t  " + CRLF, 1).replace("EXP/20290115", "EXP/20290115   ")),
         b, note="trailing blanks at line ends")
    c = "SM26A"
    b = lbase(c, "blank_lines")
    lvar(c, "blank_lines", leg("DR", RED, c, BODY.replace(CRLF, CRLF + "   " + CRLF + CRLF + " " + CRLF)),
         b, note="blank lines (with blanks) between lines")
    c = "SM28A"
    b = lbase(c, "item_gaps")
    lvar(c, "item_gaps",
         leg("DR", RED, c, BODY.replace(" SEX/F", "      SEX/F").replace(" STATUS/", "    STATUS/")
             .replace("CLASS/C EXP", "CLASS/C\t \tEXP")),
         b, note="gaps of varying width between kept items")
    c = "SM30A"
    b = lbase(c, "indentation")
    lvar(c, "indentation", leg("DR", RED, c, BODY.replace(CRLF + "CLASS/", CRLF + "  \t  CLASS/")),
         b, note="indentation before a kept line")
    c = "SM32A"
    b = lbase(c, "line_endings")
    lvar(c, "line_endings", leg("DR", RED, c, BODY.replace(CRLF, "\n", 1)),
         b, note="LF and CR LF line ends mixed (one bit per line)")
    c = "SM34A"
    b = lbase(c, "header_del")
    lvar(c, "header_del", leg("DR", RED, c, "\x7f" + BODY),
         b, note="the optional DEL after TXT CR LF")
    c = "SM36A"
    ncic = "NAM/DOE,JANE Q.DOB/19800115.SEX/F.OLN/000000001.STATUS/VALID"
    b = lbase(c, "separators", body=ncic)
    lvar(c, "separators", leg("DR", RED, c, ncic.replace(".DOB", " DOB").replace(".OLN", "  OLN")),
         b, note="period and blank separators mixed between the same fields")
    c = "SM38A"
    add("M", "legacy_originating_text", leg("DR", RED, c, BODY, orig="XLQBIRTH9"),
        canaries=["XLQBIRTH9"], note="an originating ORI that is not the state's, spelling text",
        query=leg_q(RED, c, "M_legacy_originating_text"))
    c = "SM39A"
    add("M", "legacy_second_destination", leg("DR", f"{RED},XLQPOB001", c, BODY),
        expect="not_forwarded", canaries=["XLQPOB001"],
        note="an unlisted second destination ORI spelling text beside the restricted one",
        query=leg_q(RED, c, "M_legacy_second_destination"))


# ------------------------------------------------------------------ N: reference spellings

def class_n():
    def xn(slug, ctrl, data, canaries, note, extra_ns=""):
        add("N", slug, xdoc(data, ctrl, extra_ns=extra_ns), canaries=canaries, note=note,
            query=x_q(RED, ctrl, f"N_{slug}"), xml=True)

    s5 = f' xmlns:structures="{S5}"'
    xl = f' xmlns:xlink="{XLINK}"'
    xn("niem5_uri_id_on_kept", "SN01X",
       person(sur="QUEMTLANURI", sur_attrs=' structures:uri="#S1"',
              extra=pob_el("", attrs=' structures:uri="#S1"').replace("<nc:LocationCityName></nc:LocationCityName>", ""))
       + driver(),
       ["QUEMTLANURI"], "NIEM 5: the kept surname and a withheld birth location are one object by structures:uri",
       extra_ns=s5)
    xn("niem5_ref_withheld_to_kept", "SN02X",
       person(sur="XALQREFCITY", sur_attrs=' structures:id="S2"',
              extra='      <nc:PersonBirthLocation><nc:LocationCityName structures:ref="S2"/></nc:PersonBirthLocation>\n')
       + driver(),
       ["XALQREFCITY"], "NIEM 5: a withheld birth city refers to the kept surname with structures:ref",
       extra_ns=s5)
    xn("xmlid_xlink_withheld_to_kept", "SN03X",
       person(sur="XOQUIPANXL", sur_attrs=' xml:id="S3"',
              extra='      <nc:PersonBirthLocation xlink:href="#S3"/>\n')
       + driver(),
       ["XOQUIPANXL"], "xml:id on the kept surname, xlink:href to it from a withheld birth location",
       extra_ns=xl)
    xn("xlink_kept_to_withheld", "SN04X",
       person(sur="DOE", name_extra='<nc:PersonMiddleName xlink:href="#B4"/>',
              extra=pob_el("TEPEXQUIHREF", inner_attrs=' xml:id="B4"'))
       + driver(),
       ["TEPEXQUIHREF"], "a kept element points with xlink:href into withheld content (must not be inlined)",
       extra_ns=xl)
    xn("niem5_ref_kept_to_withheld", "SN05X",
       person(sur="DOE", name_extra='<nc:PersonMiddleName structures:ref="B5"/>',
              extra=pob_el("QZTLANREFFIVE", inner_attrs=' structures:id="B5"'))
       + driver(),
       ["QZTLANREFFIVE"], "NIEM 5: a kept element refers with structures:ref into withheld content",
       extra_ns=s5)
    xn("niem5_uri_kept_to_withheld", "SN06X",
       person(sur="DOE", name_extra='<nc:PersonMiddleName structures:uri="#B6"/>',
              extra=pob_el("XALQURISIX", inner_attrs=' structures:uri="#B6"'))
       + driver(),
       ["XALQURISIX"], "NIEM 5: a kept element and withheld content share a structures:uri",
       extra_ns=s5)
    xn("xmlid_status_citizenship", "SN07X",
       person(extra='      <nc:PersonCitizenship xlink:href="#C7"/>\n')
       + driver(status="LAWFULQZREF", status_attrs=' xml:id="C7"'),
       ["LAWFULQZREF"], "xml:id on the kept status; a withheld citizenship element points at it",
       extra_ns=xl)
    xn("niem4_ref_withheld_to_kept", "SN08X",
       person(sur="QUENTOREFQ", sur_attrs=' structures:id="S8"',
              extra='      <nc:PersonBirthLocation structures:ref="S8"/>\n')
       + driver(),
       ["QUENTOREFQ"], "NIEM 4: a withheld birth location refers to the kept surname",
       extra_ns=f' xmlns:structures="{S4}"')
    xn("xlink_full_uri", "SN09X",
       person(sur="ZALTEHREFQ", sur_attrs=' xml:id="S9"',
              extra='      <nc:PersonBirthLocation xlink:href="urn:example:msg#S9"/>\n')
       + driver(),
       ["ZALTEHREFQ"], "xlink:href with a URI before the fragment, into the kept surname",
       extra_ns=xl)


# ------------------------------------------------------------------ O: two restricted destinations

def class_o():
    ssn_body = BODY + CRLF + "SSN/987-65-4321" + CRLF + "IDD/PASSPORT PQ7318846"
    add("O", "redact_then_287g", leg("DR", f"{RED},{P287}", "SO01A", ssn_body),
        canaries=["987-65-4321", "PQ7318846"],
        note="federal_redact first, 287(g) second: the 287(g) list's ssn and id_documents apply too",
        query=leg_q(RED, "SO01A", "O_redact_then_287g"))
    add("O", "287g_then_redact", leg("DR", f"{P287},{RED}", "SO02A", ssn_body),
        canaries=["987-65-4321", "PQ7318846"], note="the same, 287(g) first",
        query=leg_q(P287, "SO02A", "O_287g_then_redact"))
    add("O", "xml_redact_then_287g",
        xdoc(person(extra="      <nc:PersonSSNIdentification><nc:IdentificationID>987654322"
                    "</nc:IdentificationID></nc:PersonSSNIdentification>\n") + driver(),
             "SO03X", dests=(RED, P287)),
        canaries=["987654322"], note="NIEM: two DestinationORIID, the 287(g) list's ssn applies",
        query=x_q(RED, "SO03X", "O_xml_redact_then_287g"), xml=True)
    # A first-line unlabelled value the profile's `leading` rule releases, but
    # which the 287(g) list's id_documents / ssn catalogue fields name.
    for k, (first, second, lead, canary) in enumerate((
            (RED, P287, "ID DOCUMENTS PASSPORTQZ", "PASSPORTQZ"),
            (P287, RED, "ID DOCUMENTS VISAQZDOC", "VISAQZDOC"),
            (RED, P287, "SOCIAL SECURITY XQZSSNVAL", "XQZSSNVAL"))):
        ctrl = f"SO1{k}A"
        body = BODY.replace("DOE, JANE Q", lead)
        add("O", ("leading_id_documents_287g_second", "leading_id_documents_287g_first", "leading_social_security_287g_second")[k], leg("DR", f"{first},{second}", ctrl, body),
            canaries=[canary],
            note=f"'{lead}' leads the first line: the 287(g) list's catalogue names it "
                 f"({'287(g) second' if second == P287 else '287(g) first'})",
            query=leg_q(first, ctrl, f"O_leading_label_{k}"))
    pob = BODY + CRLF + "POB/QZTLANDOSDEST"
    add("O", "redact_then_deny", leg("DR", f"{RED},{DENY}", "SO04A", pob), expect="not_forwarded",
        canaries=["QZTLANDOSDEST"], note="a deny-listed second destination beside a redact-listed one",
        query=leg_q(RED, "SO04A", "O_redact_then_deny"))
    add("O", "deny_then_redact", leg("DR", f"{DENY},{RED}", "SO05A", pob), expect="not_forwarded",
        canaries=["QZTLANDOSDEST"], note="the deny-listed destination first",
        query=leg_q(RED, "SO05A", "O_deny_then_redact"))
    add("O", "xml_redact_then_deny_pattern",
        xdoc(person(extra=pob_el("XALQDOSPAT")) + driver(), "SO06X", dests=(RED, DENYPAT)),
        expect="not_forwarded", canaries=["XALQDOSPAT"],
        note="NIEM: second destination matches the ??ICE???? deny pattern",
        query=x_q(RED, "SO06X", "O_xml_redact_then_deny_pattern"), xml=True)
    add("O", "redact_then_cbp", leg("DR", f"{RED2},{CBP}", "SO07A", pob), expect="not_forwarded",
        canaries=["QZTLANDOSDEST"], note="second destination on the cbp deny list",
        query=leg_q(RED2, "SO07A", "O_redact_then_cbp"))


# ------------------------------------------------------------------ P: control field no query carried

def class_p():
    add("P", "no_query", leg("DR", RED, "NACIDAQZ1", BODY), expect="not_forwarded",
        canaries=["NACIDAQZ1"], note="no query carried this control field (which spells text)")
    add("P", "other_agency_query", leg("DR", RED, "BORNQZTL2", BODY), expect="not_forwarded",
        canaries=["BORNQZTL2"], note="only another agency's query carried this control field",
        query=leg_q(RED2, "BORNQZTL2", "P_other_agency_query"))
    add("P", "other_control_query", leg("DR", RED, "XALQPOBQ3", BODY), expect="not_forwarded",
        canaries=["XALQPOBQ3"], note="the agency asked, but with another control field",
        query=leg_q(RED, "SP03OTHER", "P_other_control_query"))
    add("P", "xml_no_query", xdoc(person() + driver(), "QZMEXPOB4"), expect="not_forwarded",
        canaries=["QZMEXPOB4"], note="NIEM: no query carried this control field", xml=True)
    add("P", "xml_other_agency_query", xdoc(person() + driver(), "QZPOBCTL5"), expect="not_forwarded",
        canaries=["QZPOBCTL5"], note="NIEM: only another agency's query carried this control field",
        query=x_q(P287, "QZPOBCTL5", "P_xml_other_agency_query"), xml=True)
    add("P", "deny_listed_no_query", leg("DR", DENY, "QZDENYPB7", BODY), expect="not_forwarded",
        canaries=["QZDENYPB7"],
        note="to a deny-listed agency that sent no query: the decline must not echo the control field")
    add("P", "xml_deny_listed_other_agency", xdoc(person() + driver(), "QZDENYPB8", dests=(DENY,)),
        expect="not_forwarded", canaries=["QZDENYPB8"],
        note="NIEM, to a deny-listed agency; only another agency's query carried the control field",
        query=x_q(RED, "QZDENYPB8", "P_xml_deny_listed_other_agency"), xml=True)
    add("P", "no_control_no_query", leg("DR", RED, "", BODY + CRLF + "POB/QZNOCTLPOB"),
        expect="no_leak", canaries=["QZNOCTLPOB"],
        note="no control field and no query: whatever happens, the birthplace stays")


# ------------------------------------------------------------------ main

def squeezed(s):
    return "".join(ch for ch in s.upper() if ch.isalnum())


def check():
    files = {c["file"] for c in CASES}
    for c in CASES:
        d = c["data"]
        for k in c["canaries"]:
            assert k.upper() in d.upper() or squeezed(k) in squeezed(d), (c["name"], k)
        if c["xml"]:
            ET.fromstring(d.encode())
        if c["query"] and c["query"][2]:
            ET.fromstring(c["query"][1].encode())
        if c["same_as"]:
            assert c["same_as"] in files and c["same_as"] != c["file"], c["name"]
    for cls in CLASSES.values():
        assert sum(1 for c in CASES if c["cls"] == cls) >= 5, cls


def main():
    class_k()
    class_l()
    class_m()
    class_n()
    class_o()
    class_p()
    check()
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    manifest = []
    for c in CASES:
        with open(os.path.join(HERE, c["file"]), "wb") as f:
            f.write(c["data"].encode())
        e = {"file": c["file"], "class": c["cls"], "direction": "outbound", "expect": c["expect"],
             "canaries": c["canaries"], "note": c["note"]}
        if c["allowed"]:
            e["allowed"] = c["allowed"]
        if c["query"]:
            qf, qd, _ = c["query"]
            with open(os.path.join(HERE, qf), "wb") as f:
                f.write(qd.encode())
            e["query"] = qf
        if c["same_as"]:
            e["same_output_as"] = c["same_as"]
        manifest.append(e)
    with open(os.path.join(HERE, "seams.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    counts = {}
    for c in CASES:
        counts[c["cls"]] = counts.get(c["cls"], 0) + 1
    print(f"wrote {len(manifest)} seam cases: {counts}")


if __name__ == "__main__":
    main()
