#!/usr/bin/env python3
"""Regenerates the benign layout set under testdata/benign/ (issue 24).

    python3 testdata/benign/make.py        (from anywhere; stdlib only)

Ordinary driver and vehicle responses (DR, KR, RR, DNR), written the way
several state DMVs lay them out, each addressed to a redact-listed agency of
deploy/policy/colorado.toml and each answering a query that agency sent
(a matching DQ/KQ/RQ/DNQ with the same control field, in queries/).  A lawful
agency needs the name, date of birth, licence number, status and expiry of
every one of them; the photo and the place of birth it must not get.

Writes responses/*.txt|xml, queries/*.txt|xml and manifest.json, and checks
itself (every keep value and every absent value is in its own response, XML
parses, control fields are unique and at most 10 letters and digits).
Deterministic: photos are pseudo-random bytes behind a JPEG header, seeded by
the case name.

Everything is synthetic: names, dates, licence numbers, plates and VINs are
invented (licence numbers are obviously fake), places of birth are made-up
town names.  No real person's data.

Manifest entry:
  file     response, relative to this folder
  key      DR | KR | RR | DNR
  style    short description of the layout
  dest     the redact-listed ORI the response goes to
  control  the control field (the query carried the same)
  query    the inbound query this response answers (relative to this folder)
  keep     {"name": [...], "dob", "oln", "status", "expiry", and for RR
            "plate", "vin"}: values the agency must receive (compared
            case-insensitively with runs of blanks squeezed; dates also in
            their other usual spellings, see tests/benign_layouts.rs)
  absent   photo fragments and place-of-birth values that must not arrive
"""
import base64
import json
import os
import random
import shutil
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
CRLF = "\r\n"
STATE_DL = "COOLN0000"    # the state's driver-licence bureau ORI
STATE_VEH = "COLIC0000"   # the state's vehicle registration ORI
# ORIs of the `federal_redact` list (lists/federal_redact.txt: two exact
# entries and the VAHSI* pattern).
DESTS = ["VADEADX00", "DCFBI0000", "VAHSI0100", "VAHSI2200"]

NS_N2 = "http://www.nlets.org/niem/1.0"
NS_NH2 = "http://www.nlets.org/niem/nlets-hdr/1.0"
NS_N2C = "http://www.nlets.org/niem/nlets-core/1.0"
NC = {
    2: "http://niem.gov/niem/niem-core/2.0",
    3: "http://release.niem.gov/niem/niem-core/3.0/",
    4: "http://release.niem.gov/niem/niem-core/4.0/",
    5: "http://release.niem.gov/niem/niem-core/5.0/",
}
STRUCT = {
    2: "http://niem.gov/niem/structures/2.0",
    3: "http://release.niem.gov/niem/structures/3.0/",
    4: "http://release.niem.gov/niem/structures/4.0/",
    5: "http://release.niem.gov/niem/structures/5.0/",
}
NS_XLINK = "http://www.w3.org/1999/xlink"

# Invented people.  (last, first middle, sex, dob yyyymmdd, oln, status, exp,
# place of birth).  The long names are the point of several cases.
LONG44 = ("ZAMORANO-ITURBIDE DE LOS SANTOS", "ANA MARISOL")
LONG50 = ("QUETZALCOATL-ARRIAGA DE LA FUENTE", "MARIA GUADALUPE")
PEOPLE = [
    ("DOE", "JANE Q", "F", "19800115", "000000001", "VALID", "20290115", "SAN ISIDRO TLAQUEXPAN"),
    ("SAMPLE", "JOHN R", "M", "19721103", "D123-456-789", "VALID", "20270930", "VILLA QUENTOMAR"),
    ("EXAMPLE", "PAT", "X", "19990228", "99-000-0123", "SUSPENDED", "20280228", "PUERTO ZALTEQUIO"),
    ("TESTWORTH", "ALEX JORDAN", "F", "19850714", "Z00000042", "NOT VALID", "20260714", "OKRANVELD"),
    LONG50 + ("F", "19910405", "X000-000-0017", "VALID", "20300405", "ZACAPOXTLA DEL VALLE"),
    LONG44 + ("F", "19880822", "000-000-044", "VALID", "20290822", "TEPEXQUILCO"),
    ("PLACEHOLDER-NGUYEN", "LINH", "F", "19950101", "W000000095", "EXPIRED", "20250101", "HOA QUENTHANH"),
    ("O'FAKESON", "PATRICK J", "M", "19761231", "F000000076", "REVOKED", "20270101", "BALLYQUORRIN"),
    ("VAN DER VOORBEELD", "PIETER", "M", "19821010", "000000082", "VALID", "20301010", "OOSTQUERWIJK"),
    ("TLACUACHE-OROZCO", "JUAN PABLO", "M", "19930317", "D999-000-317", "VALID", "20280317", "SANTA XOQUIPAN"),
    ("MCSPECIMEN", "ROBERTA", "F", "19700601", "000000070", "CANCELLED", "20260601", "GLENQUARRY"),
    ("DUMMY-RIVERA", "CARMEN ROSA", "F", "19870909", "00-000-0987", "VALID", "20310909", "CIUDAD QUEMALTEPEC"),
]


def person(i):
    last, first, sex, dob, oln, status, exp, pob = PEOPLE[i % len(PEOPLE)]
    return dict(last=last, first=first, sex=sex, dob=dob, oln=oln, status=status,
                exp=exp, pob=pob)


def mdy(d):            # 19800115 -> 01/15/1980
    return f"{d[4:6]}/{d[6:8]}/{d[0:4]}"


def iso(d):            # 19800115 -> 1980-01-15
    return f"{d[0:4]}-{d[4:6]}-{d[6:8]}"


def jpeg_b64(tag, n=600, wrap=76):
    r = random.Random("origuard-benign:" + tag)
    data = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            b"\xff\xdb\x00\x43\x00" + bytes(r.getrandbits(8) for _ in range(n)) + b"\xff\xd9")
    s = base64.b64encode(data).decode()
    assert s.startswith("/9j/")
    lines = [s[i:i + wrap] for i in range(0, len(s), wrap)]
    # fragments from the middle of two lines (never across a line break)
    frags = [lines[len(lines) // 3][20:44], lines[2 * len(lines) // 3][10:34]]
    return "\n".join(lines), frags


CASES = []     # dicts, written by main()


def add(name, key, style, dest, ctrl, response, query, keep, absent, xml=False):
    CASES.append(dict(name=name, key=key, style=style, dest=dest, ctrl=ctrl,
                      response=response, query=query, keep=keep, absent=absent, xml=xml))


# ------------------------------------------------------------------ envelopes

def leg_resp(mke, dest, ctrl, body, orig=STATE_DL, eol=CRLF):
    return f"{mke}.{orig}.{dest}.*{ctrl}.TXT{eol}{body}"


def leg_query(mke, sender, ctrl, body):
    """An inbound query as Nlets delivers it to the state (output header)."""
    return (f"{mke}.{sender}{CRLF}10:14 03/04/2025 41873{CRLF}"
            f"10:14 03/04/2025 07711 CO{CRLF}*{ctrl}{CRLF}TXT{CRLF}{body}")


def xhdr(mke, orig, dest, ctrl, full=True):
    extra = ""
    if full:
        extra = ("<nh2:MessageReceiveDate>03/04/2025</nh2:MessageReceiveDate>"
                 "<nh2:MessageReceiveTime>10:15</nh2:MessageReceiveTime>"
                 "<nh2:MessageSendDate>03/04/2025</nh2:MessageSendDate>"
                 "<nh2:MessageSendTime>10:15</nh2:MessageSendTime>")
    return ("  <n2:NLETSMessageHeader>\n"
            f"    <nh2:MessageKeyCodeText>{mke}</nh2:MessageKeyCodeText>\n"
            f"    <nh2:OriginatingORIID>{orig}</nh2:OriginatingORIID>\n"
            f"    <nh2:DestinationORIID>{dest}</nh2:DestinationORIID>\n"
            f"    <nh2:DocumentControlFieldText><![CDATA[{ctrl}]]></nh2:DocumentControlFieldText>\n"
            f"    {extra}\n  </n2:NLETSMessageHeader>\n")


def xdoc(mke, orig, dest, ctrl, data, nc=2, extra_ns="", data_el="n2:NLETSResponseData",
         data_attrs="", full=True):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<n2:NLETS xmlns:n2="{NS_N2}" xmlns:nh2="{NS_NH2}" xmlns:nc="{NC[nc]}" '
            f'xmlns:n2c="{NS_N2C}"{extra_ns} n2:version="4.00">\n'
            + xhdr(mke, orig, dest, ctrl, full)
            + f"  <{data_el}{data_attrs}>\n{data}  </{data_el}>\n</n2:NLETS>\n")


QKEY = {"DR": "DQ", "KR": "KQ", "RR": "RQ", "DNR": "DNQ"}


def query_for(key, dest, ctrl, p, xml, plate=None):
    q = QKEY[key]
    if not xml:
        if key == "RR":
            body = f"LIC/{plate}.LIS/CO.LIT/PC"
        elif key == "DNR":
            body = f"NAM/{p['last']},{p['first'].split()[0]}"
        elif key == "KR":
            body = f"OLN/{p['oln'].replace('-', '')}.PUR/C.ATN/DESK"
        else:
            body = f"RSN/V.NAM/{p['last']},{p['first']}.DOB/{p['dob']}.SEX/{p['sex']}.IMQ/Y"
        return leg_query(q, dest, ctrl, body)
    if key == "RR":
        inner = ("    <n2:ReasonCode>V</n2:ReasonCode>\n"
                 f"    <nc:ConveyanceRegistrationPlateIdentification><nc:IdentificationID>{plate}"
                 "</nc:IdentificationID></nc:ConveyanceRegistrationPlateIdentification>\n")
    else:
        inner = ("    <n2:ReasonCode>V</n2:ReasonCode>\n    <n2:Person>\n"
                 f"      <nc:PersonBirthDate><nc:Date>{iso(p['dob'])}</nc:Date></nc:PersonBirthDate>\n"
                 f"      <nc:PersonName><nc:PersonGivenName>{p['first'].split()[0]}</nc:PersonGivenName>"
                 f"<nc:PersonSurName>{p['last']}</nc:PersonSurName></nc:PersonName>\n"
                 "    </n2:Person>\n")
    return xdoc(q, dest, "CO", ctrl, inner, data_el="n2:NLETSInquiryData", full=False)


def keep_dl(p, dob=None, exp=None, names=None):
    return {"name": names or [p["last"], p["first"]], "dob": dob or p["dob"], "oln": p["oln"],
            "status": p["status"], "expiry": exp or p["exp"]}


# ------------------------------------------------------------------ legacy bodies

def body_ncic(p, eol=CRLF, case=str):
    return (f"NAM/{case(p['last'])},{case(p['first'])}.DOB/{p['dob']}.SEX/{p['sex']}.RAC/W.HGT/507."
            f"WGT/165.EYE/BRO.HAI/BLK{eol}"
            f"OLN/{p['oln']}.OLS/CO.CLASS/C.STATUS/{case(p['status'])}.EXP/{p['exp']}.ISS/20210301{eol}"
            f"ADDR/100 FICTION AVE SPECIMEN CITY CO 80000{eol}"
            f"POB/{p['pob']}")


def body_columns(p, eol=CRLF, heading=None, case=str, pob_label="POB/"):
    h = f"{heading}{eol}" if heading else ""
    return (f"{h}{case(p['last'])}, {case(p['first'])}   DOB/{p['dob']}  SEX/{p['sex']}  RAC/W  "
            f"HGT/505  WGT/130  EYE/BRO  HAI/BRO{eol}"
            f"OLN/{p['oln']}  OLS/CO  CLASS/R  STATUS/{case(p['status'])}  EXP/{p['exp']}{eol}"
            f"ADDR/200 EXAMPLE RD PLACEHOLDER CO 80001{eol}"
            f"{pob_label}{p['pob']}{eol}"
            "END OF RECORD")


def body_colon(p, eol=CRLF, case=str, dates=mdy, heading=None):
    h = f"{heading}{eol}" if heading else ""
    return (f"{h}NAME: {case(p['last'])}, {case(p['first'])}{eol}"
            f"DOB: {dates(p['dob'])}   SEX: {p['sex']}   HGT: 510   WGT: 180{eol}"
            f"OLN: {p['oln']}   CLASS: C{eol}"
            f"STATUS: {case(p['status'])}   EXP: {dates(p['exp'])}{eol}"
            f"ADDRESS: 300 SYNTHETIC BLVD, NOWHERE CO 80002{eol}"
            f"PLACE OF BIRTH: {p['pob']}{eol}"
            "END OF RECORD")


def titled(s):
    return " ".join(w[:1] + w[1:].lower() for w in s.split(" "))


def legacy_cases():
    n = 0

    def nxt():
        nonlocal n
        n += 1
        return n

    def emit(slug, key, style, p, body, keep, absent, orig=STATE_DL, eol=CRLF, plate=None):
        i = nxt()
        dest = DESTS[i % len(DESTS)]
        ctrl = f"BL{i:03d}T{(i * 7) % 10}"
        add(f"L{i:02d}_{slug}", key, style, dest, ctrl,
            leg_resp(key, dest, ctrl, body, orig, eol),
            query_for(key, dest, ctrl, p, False, plate), keep, absent)

    # NCIC slash layout, periods between fields
    for i in (0, 1, 2):
        p = person(i)
        emit("ncic_slash", "DR", "legacy NAM/ DOB/ slash fields, period separated", p,
             body_ncic(p), keep_dl(p), [p["pob"]])
    p = person(3)
    emit("ncic_slash_lf", "DR", "legacy slash fields, LF line ends", p, body_ncic(p, "\n"),
         keep_dl(p), [p["pob"]], eol="\n")
    # Column layout with the name leading the first line
    for i in (4, 5, 6):
        p = person(i)
        emit("columns_leading_name", "DR", "legacy leading name then two-blank columns", p,
             body_columns(p), keep_dl(p), [p["pob"]])
    # A heading line before the leading name
    for i, hd in ((7, "COLORADO DRIVER LICENSE RECORD"), (8, "COLORADO DRIVER LICENSE RECORD")):
        p = person(i)
        emit("heading_then_name", "DR", "legacy heading line, then the leading name", p,
             body_columns(p, heading=hd), keep_dl(p), [p["pob"]])
    # NAME:/DOB: colon layouts
    for i in (9, 10, 0):
        p = person(i)
        emit("colon_labels", "DR", "legacy NAME:/DOB: colon layout", p, body_colon(p),
             keep_dl(p, dob=mdy(p["dob"]), exp=mdy(p["exp"])), [p["pob"]])
    p = person(11)
    emit("colon_labels_iso", "DR", "legacy colon layout, ISO dates, LF", p,
         body_colon(p, "\n", dates=iso), keep_dl(p, dob=iso(p["dob"]), exp=iso(p["exp"])),
         [p["pob"]], eol="\n")
    # Mixed-case values
    p = person(1)
    emit("mixed_case_slash", "DR", "legacy slash fields, mixed-case values", p,
         body_ncic(p, case=titled),
         keep_dl(p, names=[titled(p["last"]), titled(p["first"])]) | {"status": titled(p["status"])},
         [p["pob"]])
    p = person(2)
    emit("mixed_case_columns", "DR", "legacy columns, mixed-case name and status", p,
         body_columns(p, case=titled),
         keep_dl(p, names=[titled(p["last"]), titled(p["first"])]) | {"status": titled(p["status"])},
         [p["pob"]])
    p = person(9)
    emit("mixed_case_colon", "DR", "legacy colon layout, mixed-case values", p,
         body_colon(p, case=titled),
         keep_dl(p, dob=mdy(p["dob"]), exp=mdy(p["exp"]),
                 names=[titled(p["last"]), titled(p["first"])]) | {"status": titled(p["status"])},
         [p["pob"]])
    # Long names (44 and 50 characters) in NAM/
    for i in (4, 5):
        p = person(i)
        emit("long_name_nam", "DR", f"legacy NAM/ with a {len(p['last']) + 2 + len(p['first'])}-character name",
             p, body_ncic(p), keep_dl(p), [p["pob"]])
    # STATUS/NOT VALID and dashed licence numbers
    p = person(3)
    emit("status_not_valid", "DR", "legacy STATUS/NOT VALID (two words)", p, body_columns(p),
         keep_dl(p), [p["pob"]])
    p = person(1)
    emit("dashed_oln", "DR", "legacy dashed licence number D123-456-789", p, body_columns(p),
         keep_dl(p), [p["pob"]])
    # Several candidate records, each with its own name
    for grp, style in (((0, 6, 9), "legacy DNR, three candidates with leading names"),
                       ((5, 10), "legacy DNR, two candidates in NAM/ fields")):
        ps = [person(i) for i in grp]
        if len(grp) == 3:
            body = ("NAME ONLY INQUIRY - 3 POSSIBLE MATCHES" + CRLF + CRLF
                    + (CRLF + CRLF).join(
                        f"{q['last']}, {q['first']}   DOB/{q['dob']}  SEX/{q['sex']}{CRLF}"
                        f"OLN/{q['oln']}  STATUS/{q['status']}  EXP/{q['exp']}{CRLF}POB/{q['pob']}"
                        for q in ps))
        else:
            body = (CRLF + CRLF).join(
                f"NAM/{q['last']},{q['first']}.DOB/{q['dob']}.SEX/{q['sex']}{CRLF}"
                f"OLN/{q['oln']}.STATUS/{q['status']}.EXP/{q['exp']}{CRLF}POB/{q['pob']}"
                for q in ps)
        keep = keep_dl(ps[0], names=[x for q in ps for x in (q["last"], q["first"])])
        emit("dnr_candidates", "DNR", style, ps[0], body, keep, [q["pob"] for q in ps])
    # DR with a second candidate (same name prefix, different DOB)
    ps = [person(7), person(8)]
    body = (body_columns(ps[0]) + CRLF + "POSSIBLE ADDITIONAL RECORD" + CRLF
            + body_columns(ps[1]))
    emit("dr_second_candidate", "DR", "legacy DR with a second candidate record", ps[0], body,
         keep_dl(ps[0], names=[ps[0]["last"], ps[0]["first"], ps[1]["last"], ps[1]["first"]]),
         [ps[0]["pob"], ps[1]["pob"]])
    # KR driver history
    for i, colon in ((2, False), (11, False), (6, True)):
        p = person(i)
        head = ("COLORADO DRIVER HISTORY" + CRLF + body_columns(p)) if not colon else body_colon(p)
        body = (head + CRLF + "CONVICTIONS:" + CRLF
                + "20190304 SPEEDING 10-19 OVER  PTS/4" + CRLF
                + "20210722 FAILURE TO YIELD  PTS/3" + CRLF + "END OF HISTORY")
        keep = keep_dl(p) if not colon else keep_dl(p, dob=mdy(p["dob"]), exp=mdy(p["exp"]))
        emit("kr_history", "KR", "legacy KR driver history" + (" (colon layout)" if colon else " with heading"),
             p, body, keep, [p["pob"]])
    # RR vehicle registration: plate, VIN, owner
    plates = ["FAKE001", "ZZZ0002", "TST9003", "QQQ1004"]
    vins = ["1ZZZZ00000Z000001", "2FAKE00000X000002", "3TEST00000Y000003", "4SMPL00000W000004"]
    for k in range(4):
        p = person(k + 3)
        plate, vin = plates[k], vins[k]
        if k % 2 == 0:
            body = (f"COLORADO VEHICLE REGISTRATION{CRLF}"
                    f"LIC/{plate}.LIS/CO.LIY/2026.LIT/PC.VIN/{vin}.VYR/2019.VMA/TOYT.VMO/4D{CRLF}"
                    f"EXP/{p['exp']}.STATUS/VALID{CRLF}"
                    f"NAM/{p['last']},{p['first']}.DOB/{p['dob']}.OLN/{p['oln']}{CRLF}"
                    f"ADDR/400 SPECIMEN LN FAKETOWN CO 80003{CRLF}POB/{p['pob']}")
        else:
            body = (f"PLATE: {plate}   STATE: CO   YEAR: 2026   TYPE: PC{CRLF}"
                    f"VIN: {vin}   YEAR: 2019   MAKE: FORD   MODEL: F150{CRLF}"
                    f"EXP: {mdy(p['exp'])}   STATUS: VALID{CRLF}"
                    f"OWNER: {p['last']}, {p['first']}   DOB: {mdy(p['dob'])}{CRLF}"
                    f"OWNER OLN: {p['oln']}{CRLF}"
                    f"OWNER PLACE OF BIRTH: {p['pob']}")
        keep = {"name": [p["last"], p["first"]], "plate": plate, "vin": vin,
                "status": "VALID", "expiry": p["exp"] if k % 2 == 0 else mdy(p["exp"])}
        emit("rr_plate_owner", "RR", "legacy RR plate, VIN and owner" + (" (colon layout)" if k % 2 else ""),
             p, body, keep, [p["pob"]], orig=STATE_VEH, plate=plate)


# ------------------------------------------------------------------ NIEM bodies

def x_person(p, v, full=False, given=None, attrs="", pob=True, case=str):
    if full:
        nm = f"<nc:PersonFullName>{case(p['last'])}, {case(p['first'])}</nc:PersonFullName>"
    else:
        parts = (given or p["first"]).split(" ", 1)
        mid = f"<nc:PersonMiddleName>{case(parts[1])}</nc:PersonMiddleName>" if len(parts) > 1 else ""
        nm = (f"<nc:PersonGivenName>{case(parts[0])}</nc:PersonGivenName>{mid}"
              f"<nc:PersonSurName>{case(p['last'])}</nc:PersonSurName>")
    bl = ""
    if pob:
        bl = ("      <nc:PersonBirthLocation><nc:LocationAddress><nc:AddressFullText>"
              f"{p['pob']}</nc:AddressFullText></nc:LocationAddress></nc:PersonBirthLocation>\n")
    return (f"    <n2:Person{attrs}>\n"
            f"      <nc:PersonName>{nm}</nc:PersonName>\n"
            f"      <nc:PersonBirthDate><nc:Date>{iso(p['dob'])}</nc:Date></nc:PersonBirthDate>\n"
            f"      <nc:PersonSexCode>{p['sex']}</nc:PersonSexCode>\n"
            f"{bl}    </n2:Person>\n")


def x_driver(p, attrs="", case=str):
    return (f"    <n2c:Driver{attrs}>\n"
            "      <n2c:DriverLicenseIdentification><nc:IdentificationID>"
            f"{p['oln']}</nc:IdentificationID></n2c:DriverLicenseIdentification>\n"
            "      <n2c:DriverLicenseClassCode>C</n2c:DriverLicenseClassCode>\n"
            f"      <n2c:DriverLicenseStatusText>{case(p['status'])}</n2c:DriverLicenseStatusText>\n"
            "      <n2c:DriverLicenseExpirationDate><nc:Date>"
            f"{iso(p['exp'])}</nc:Date></n2c:DriverLicenseExpirationDate>\n"
            "    </n2c:Driver>\n")


def x_photo(b64, attrs="", el="nc:PersonDigitalImage"):
    return (f"    <{el}{attrs}>\n      <nc:BinaryBase64Object>{b64}</nc:BinaryBase64Object>\n"
            "      <nc:BinaryFormatID>JPEG</nc:BinaryFormatID>\n"
            f"    </{el}>\n")


def x_rtext(text):
    return f"    <n2:ResponseText><![CDATA[{text}]]></n2:ResponseText>\n"


def xml_cases():
    n = 0

    def emit(slug, key, style, p, data, keep, absent, nc=2, extra_ns="", data_attrs="",
             orig=STATE_DL, plate=None):
        nonlocal n
        n += 1
        dest = DESTS[(n + 1) % len(DESTS)]
        ctrl = f"BX{n:03d}Q{(n * 3) % 10}"
        add(f"X{n:02d}_{slug}", key, style, dest, ctrl,
            xdoc(key, orig, dest, ctrl, data, nc, extra_ns, data_attrs=data_attrs),
            query_for(key, dest, ctrl, p, True, plate), keep, absent, xml=True)

    def dl_keep(p, names=None):
        # structured names are separate elements: keep each word
        names = names or [p["last"], p["first"]]
        words = [names[0]] + [w for x in names[1:] for w in x.split()]
        if len(names) > 2:     # several people: surname, then given words, each
            words = [w for k in range(0, len(names), 2)
                     for w in [names[k]] + names[k + 1].split()]
        return keep_dl(p, dob=iso(p["dob"]), exp=iso(p["exp"]), names=words)

    # NIEM core 2.0, structured, photo and birthplace; 4 variants of person
    for i in (0, 1, 9):
        p = person(i)
        b64, frags = jpeg_b64(f"x2_{i}")
        emit("niem2_structured", "DR", "NIEM 2.0 n2:Person + n2c:Driver, photo, birthplace", p,
             x_person(p, 2) + x_driver(p) + x_photo(b64), dl_keep(p), frags + [p["pob"]])
    # Free text plus structure, as the Nlets sample DR
    for i, bodyf, style in ((2, body_columns, "NIEM 2.0 ResponseText (columns) + Person, photo"),
                            (10, body_colon, "NIEM 2.0 ResponseText (NAME:/DOB: colon) + Person, photo")):
        p = person(i)
        b64, frags = jpeg_b64(f"xrt_{i}")
        keep = dl_keep(p) | {"expiry": p["exp"] if bodyf is body_columns else mdy(p["exp"])}
        emit("niem2_freetext", "DR", style, p,
             x_rtext(bodyf(p, "\n")) + x_person(p, 2, pob=False) + x_photo(b64), keep, frags + [p["pob"]])
    # nc:PersonFullName
    for i in (3, 4):
        p = person(i)
        b64, frags = jpeg_b64(f"xfull_{i}")
        emit("niem2_fullname", "DR", "NIEM 2.0 nc:PersonFullName, photo, birthplace", p,
             x_person(p, 2, full=True) + x_driver(p) + x_photo(b64), dl_keep(p), frags + [p["pob"]])
    # NIEM core 3.0 on the root; 3.0 re-declared on the body (Amber-alert style); 4.0; 5.0
    for v, i in ((3, 5), (3, 11), (4, 6), (5, 7)):
        p = person(i)
        b64, frags = jpeg_b64(f"xv{v}_{i}")
        emit(f"niem{v}_root", "DR", f"NIEM core {v}.0 bound on the root, photo, birthplace", p,
             x_person(p, v) + x_driver(p) + x_photo(b64), dl_keep(p), frags + [p["pob"]], nc=v)
    p = person(8)
    b64, frags = jpeg_b64("xv3local")
    emit("niem3_local", "DR", "NIEM core 3.0 re-declared on NLETSResponseData", p,
         x_person(p, 3) + x_driver(p) + x_photo(b64), dl_keep(p), frags + [p["pob"]],
         data_attrs=f' xmlns:nc="{NC[3]}"')
    # s:id on the person, an association with s:ref (2.0, 3.0, 4.0), NIEM 5 structures
    for v, i in ((2, 0), (3, 2), (4, 9), (5, 10)):
        p = person(i)
        sp = "s" if v == 2 else "structures"
        b64, frags = jpeg_b64(f"xsid{v}_{i}")
        assoc = ("    <n2:PersonDriverAssociation>\n"
                 f"      <nc:PersonReference {sp}:ref=\"P1\"/>\n"
                 f"      <n2c:DriverReference {sp}:ref=\"D1\"/>\n"
                 "    </n2:PersonDriverAssociation>\n"
                 "    <nc:PersonImageAssociation>\n"
                 f"      <nc:PersonReference {sp}:ref=\"P1\"/>\n"
                 f"      <nc:ImageReference {sp}:ref=\"I1\"/>\n"
                 "    </nc:PersonImageAssociation>\n")
        emit(f"niem{v}_sid_sref", "DR", f"NIEM {v}.0 {sp}:id on person/driver/photo, associations by {sp}:ref", p,
             x_person(p, v, attrs=f' {sp}:id="P1"') + x_driver(p, attrs=f' {sp}:id="D1"')
             + x_photo(b64, attrs=f' {sp}:id="I1"') + assoc,
             dl_keep(p), frags + [p["pob"]], nc=v, extra_ns=f' xmlns:{sp}="{STRUCT[v]}"')
    p = person(11)
    b64, frags = jpeg_b64("xs5uri")
    emit("niem5_structures_uri", "DR", "NIEM 5.0 structures:uri on the person, the photo refers to it", p,
         x_person(p, 5, attrs=' structures:uri="#P1"') + x_driver(p)
         + x_photo(b64, attrs=' structures:uri="#I1"')
         + "    <nc:PersonImageAssociation><nc:Person structures:uri=\"#P1\"/>"
           "<nc:Image structures:uri=\"#I1\"/></nc:PersonImageAssociation>\n",
         dl_keep(p), frags + [p["pob"]], nc=5, extra_ns=f' xmlns:structures="{STRUCT[5]}"')
    # xml:id and xlink:href
    p = person(1)
    b64, frags = jpeg_b64("xxlink")
    emit("xmlid_xlink", "DR", "xml:id on the person and photo, an association by xlink:href", p,
         x_person(p, 2, attrs=' xml:id="P1"') + x_driver(p)
         + x_photo(b64, attrs=' xml:id="I1"')
         + "    <nc:PersonImageAssociation><nc:PersonReference xlink:href=\"#P1\"/>"
           "<nc:ImageReference xlink:href=\"#I1\"/></nc:PersonImageAssociation>\n",
         dl_keep(p), frags + [p["pob"]],
         extra_ns=f' xmlns:xlink="{NS_XLINK}"')
    # Mixed case in structured values
    p = person(3)
    b64, frags = jpeg_b64("xmixed")
    emit("niem2_mixed_case", "DR", "NIEM 2.0 mixed-case name and status (Doe, Valid)", p,
         x_person(p, 2, case=titled) + x_driver(p, case=titled) + x_photo(b64),
         dl_keep(p, names=[titled(p["last"]), titled(p["first"])]) | {"status": titled(p["status"])},
         frags + [p["pob"]])
    # Long names in structured elements
    for i in (4, 5):
        p = person(i)
        b64, frags = jpeg_b64(f"xlong_{i}")
        emit("niem2_long_name", "DR", f"NIEM 2.0 {len(p['last'])}-character surname", p,
             x_person(p, 2) + x_driver(p) + x_photo(b64), dl_keep(p), frags + [p["pob"]])
    # Several candidates (DNR), each an n2:Person with its own driver
    ps = [person(6), person(8)]
    b64, frags = jpeg_b64("xdnr")
    emit("niem2_dnr_candidates", "DNR", "NIEM 2.0 DNR, two n2:Person candidates", ps[0],
         x_person(ps[0], 2) + x_driver(ps[0]) + x_person(ps[1], 2) + x_driver(ps[1]) + x_photo(b64),
         dl_keep(ps[0], names=[ps[0]["last"], ps[0]["first"], ps[1]["last"], ps[1]["first"]]),
         frags + [ps[0]["pob"], ps[1]["pob"]])
    # KR with nc:Image (history in free text)
    for i in (2, 7):
        p = person(i)
        b64, frags = jpeg_b64(f"xkr_{i}")
        emit("niem2_kr_image", "KR", "NIEM 2.0 KR history free text + Person, nc:Image", p,
             x_rtext(body_columns(p, "\n", heading="COLORADO DRIVER HISTORY")
                     + "\n20200115 SPEEDING 1-4 OVER  PTS/0")
             + x_person(p, 2) + x_driver(p) + x_photo(b64, el="nc:Image"),
             dl_keep(p), frags + [p["pob"]])
    # Free text only, colon layout in mixed case, with the photo beside it
    p = person(0)
    b64, frags = jpeg_b64("xftmixed")
    emit("niem2_freetext_mixed", "DR", "NIEM 2.0 ResponseText only, colon layout, mixed case, photo", p,
         x_rtext(body_colon(p, "\n", case=titled)) + x_photo(b64),
         keep_dl(p, dob=mdy(p["dob"]), exp=mdy(p["exp"]),
                 names=[titled(p["last"]), titled(p["first"])]) | {"status": titled(p["status"])},
         frags + [p["pob"]])
    # RR in NIEM: free text vehicle + owner person with birthplace
    for k, i in enumerate((9, 11)):
        p = person(i)
        plate, vin = f"NMX{k}00{k}", f"5NJEM00000V00000{k}"
        body = (f"LIC/{plate}.LIS/CO.LIY/2026.LIT/PC.VIN/{vin}.VYR/2020.VMA/HOND\n"
                f"EXP/{p['exp']}.STATUS/VALID\nNAM/{p['last']},{p['first']}.DOB/{p['dob']}\n"
                f"POB/{p['pob']}")
        emit("niem2_rr_owner", "RR", "NIEM 2.0 RR free text + owner n2:Person", p,
             x_rtext(body) + x_person(p, 2),
             {"name": [p["last"], p["first"]], "plate": plate, "vin": vin, "status": "VALID",
              "expiry": p["exp"]}, [p["pob"]], orig=STATE_VEH, plate=plate)


# ------------------------------------------------------------------ main

def squeeze(s):
    return " ".join(s.upper().split())


def check():
    ctrls = set()
    for c in CASES:
        assert c["ctrl"] not in ctrls and len(c["ctrl"]) <= 10 and c["ctrl"].isalnum(), c["name"]
        ctrls.add(c["ctrl"])
        r = c["response"]
        sq = squeeze(r)
        for k, v in c["keep"].items():
            for x in (v if isinstance(v, list) else [v]):
                assert squeeze(x) in sq, (c["name"], k, x)
        for a in c["absent"]:
            assert a in r, (c["name"], a)
            # an absent value must not also be a kept value
            for k, v in c["keep"].items():
                for x in (v if isinstance(v, list) else [v]):
                    assert a.upper() not in x.upper(), (c["name"], a, x)
        if c["xml"]:
            ET.fromstring(r.encode())
            ET.fromstring(c["query"].encode())
        assert c["dest"] in DESTS
        if c["key"] != "RR":
            full = f"{c['keep']['name'][0]}, {c['keep']['name'][1]}"
            assert len(full) <= 60
    assert len(CASES) >= 48, len(CASES)


def main():
    legacy_cases()
    xml_cases()
    check()
    for d in ("responses", "queries"):
        shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
        os.makedirs(os.path.join(HERE, d))
    manifest = []
    for c in CASES:
        ext = "xml" if c["xml"] else "txt"
        rf = f"responses/{c['name']}.{ext}"
        qf = f"queries/{c['name']}_{QKEY[c['key']].lower()}.{ext}"
        with open(os.path.join(HERE, rf), "wb") as f:
            f.write(c["response"].encode())
        with open(os.path.join(HERE, qf), "wb") as f:
            f.write(c["query"].encode())
        manifest.append({"file": rf, "key": c["key"], "style": c["style"], "dest": c["dest"],
                         "control": c["ctrl"], "query": qf, "keep": c["keep"],
                         "absent": c["absent"]})
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {len(manifest)} cases "
          f"({sum(1 for c in CASES if not c['xml'])} legacy, {sum(1 for c in CASES if c['xml'])} NIEM)")


if __name__ == "__main__":
    main()
