#!/usr/bin/env python3
"""Regenerates the issue-24 hostile review corpus under testdata/hostile/review24/.

    python3 testdata/hostile/make_review24.py      (stdlib only)

Written by the hostile side of the issue-24 review, apart from the projection:
a compromised state system (the only party that writes a response) trying to
get protected data to a restricted agency through the re-emitting release
projection.  Same format as seams.json (file, class, direction, expect,
canaries, allowed, note, query, same_output_as; query may also be a list of
queries, each decided first) plus:
  policy   "court": decided under the example policy with one court order
           (VTICE0900, subject DOE, JANE Q born 1980-01-15, releases the
           photo, profile court-order-photo); otherwise the example policy
  finding  the finding (in /work/notes/issue24-review.md) a case shows; such
           a case FAILS at the review's commit.  Cases without it pass there
           and are kept as regressions (tests/leak_suite.rs
           review24_regressions runs them; review24_cases runs all).
Everything is synthetic: the person is invented, SSNs are in the 987-65-43xx
advertising range, passport-like numbers and status codes are made up.
"""
import base64
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "review24")
CRLF = "\r\n"
STATE = "COOLN0000"
RED = "VADEADX00"     # federal_redact
DENY = "VTICE0900"    # immigration_enforcement (deny); the court order's ORI
N2 = "http://www.nlets.org/niem/1.0"
NH2 = "http://www.nlets.org/niem/nlets-hdr/1.0"
N2C = "http://www.nlets.org/niem/nlets-core/1.0"
NC2 = "http://niem.gov/niem/niem-core/2.0"
NC3 = "http://release.niem.gov/niem/niem-core/3.0/"
NC4 = "http://release.niem.gov/niem/niem-core/4.0/"
NC5 = "http://release.niem.gov/niem/niem-core/5.0/"
S2 = "http://niem.gov/niem/structures/2.0"
S5 = "http://release.niem.gov/niem/structures/5.0/"
XLINK = "http://www.w3.org/1999/xlink"

CASES = []


def add(name, cls, data, expect="no_leak", canaries=(), note="", query=None, same_as=None,
        allowed=(), policy=None, finding=None):
    ext = "xml" if data.lstrip().startswith("<") else "txt"
    c = {"file": f"review24/{name}.{ext}", "class": cls, "direction": "outbound",
         "expect": expect, "canaries": list(canaries), "allowed": list(allowed), "note": note}
    if query:
        c["query"] = query
    if same_as:
        c["same_output_as"] = same_as
    if policy:
        c["policy"] = policy
    if finding:
        c["finding"] = finding
    CASES.append((c, data))
    return c["file"]


def leg_query(name, sender, ctrl):
    data = (f"DQ.{sender}{CRLF}10:14 03/04/2025 41873{CRLF}10:14 03/04/2025 07711 CO{CRLF}"
            f"*{ctrl}{CRLF}TXT{CRLF}RSN/V.NAM/DOE,JANE Q.DOB/19800115.SEX/F")
    f = f"review24/Q_{name}.txt"
    QUERIES.append((f, data))
    return f


def order_query(name, ctrl):
    f = f"review24/Q_{name}.txt"
    QUERIES.append((f, f"DQ.{DENY}.CO.*{ctrl}.TXT\nNAM/DOE, JANE Q.DOB/19800115"))
    return f


QUERIES = []


def xdoc(body, ctrl, dest=RED, orig=STATE, extra_ns=""):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<n2:NLETS xmlns:n2="{N2}" xmlns:nh2="{NH2}" xmlns:nc="{NC2}" xmlns:n2c="{N2C}"'
            f'{extra_ns} n2:version="4.00">\n'
            "  <n2:NLETSMessageHeader>\n"
            "    <nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText>\n"
            f"    <nh2:OriginatingORIID>{orig}</nh2:OriginatingORIID>\n"
            f"    <nh2:DestinationORIID>{dest}</nh2:DestinationORIID>\n"
            f"    <nh2:DocumentControlFieldText>{ctrl}</nh2:DocumentControlFieldText>\n"
            "  </n2:NLETSMessageHeader>\n"
            f"  <n2:NLETSResponseData>\n{body}  </n2:NLETSResponseData>\n</n2:NLETS>\n")


def person(attrs="", name=None, extra=""):
    name = name if name is not None else (
        "<nc:PersonGivenName>JANE</nc:PersonGivenName><nc:PersonSurName>DOE</nc:PersonSurName>")
    return (f"    <n2:Person{attrs}>\n      <nc:PersonName>{name}</nc:PersonName>\n"
            "      <nc:PersonBirthDate><nc:Date>1980-01-15</nc:Date></nc:PersonBirthDate>\n"
            f"      <nc:PersonSexCode>F</nc:PersonSexCode>\n{extra}    </n2:Person>\n")


def driver(attrs="", ident="<nc:IdentificationID>000000001</nc:IdentificationID>"):
    return (f"    <n2c:Driver{attrs}>\n"
            f"      <n2c:DriverLicenseIdentification>{ident}</n2c:DriverLicenseIdentification>\n"
            "      <n2c:DriverLicenseStatusText>VALID</n2c:DriverLicenseStatusText>\n"
            "    </n2c:Driver>\n")


def jpeg(tag, n=600):
    r = random.Random("origuard-review24:" + tag)
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + bytes(r.getrandbits(8) for _ in range(n)) + b"\xff\xd9")


def leg(dest, ctrl, body, orig=STATE, mke="DR"):
    return f"{mke}.{orig}.{dest}.*{ctrl}.TXT{CRLF}{body}"


BODY = ("DOE, JANE Q  DOB/19800115 SEX/F OLN/000000001 STATUS/VALID" + CRLF
        + "CLASS/C EXP/20290115" + CRLF + "END OF RECORD")

# ---------------------------------------------------------------- R: references
R = "R-identity-attribute-channel"
ssn_ns = "urn:x-dmv:ssn:987-65-4321:status:NONCITZQ"
add("R01_id_namespace_uri_ssn", R,
    xdoc(person(attrs=f' xmlns:q="{ssn_ns}" q:id="P1"') + driver(), "RV01"),
    canaries=["987-65-4321", "NONCITZQ"], query=leg_query("R01", RED, "RV01"),
    allowed=["<nc:PersonSurName>DOE</nc:PersonSurName>"],
    note="an identity attribute (local name id) in a namespace whose URI carries an SSN and a "
         "status code: the URI is declared again on the output root (xmlns:ns=...) and neither "
         "check looks at namespace declarations",
    finding="F1")
add("R02_ref_namespace_uri_pob", R,
    xdoc(person(attrs=' s:id="P1"') + driver(attrs=' s:id="D1"')
         + "    <n2:PersonDriverAssociation>\n"
         f'      <nc:PersonReference xmlns:z="urn:x-lugar-nacimiento:GUADALAJARAQZ:JALISCO" z:ref="P1"/>\n'
         '      <n2c:DriverReference s:ref="D1"/>\n    </n2:PersonDriverAssociation>\n',
         "RV02", extra_ns=f' xmlns:s="{S2}"'),
    canaries=["GUADALAJARAQZ"], query=leg_query("R02", RED, "RV02"),
    note="a reference attribute (local name ref) in a namespace whose URI spells a place of "
         "birth, on a released association", finding="F1")
# An unbounded reference list: bits of a photo as R1/R2 in one structures:uri.
photo = jpeg("R03", 900)
bits = "".join(f"{b:08b}" for b in photo)
uri_vals = " ".join("PA" if x == "0" else "PB" for x in bits)
add("R03_uri_list_photo_bits", R,
    xdoc(person(attrs=f' s5:uri="{uri_vals}"') + driver(), "RV03",
         extra_ns=f' xmlns:s5="{S5}"'),
    expect="not_forwarded", query=leg_query("R03", RED, "RV03"),
    note=f"a 900-byte photo as {len(bits)} identifiers in one NIEM 5 structures:uri on a kept "
         "person (renamed R1/R2 in order: one bit each); no limit on how many identifiers or "
         "references an attribute holds", finding="F2")
ref_vals = " ".join("P1" if x == "0" else "D1" for x in bits[:4000])
add("R04_ref_list_bits", R,
    xdoc(person(attrs=' s:id="P1"') + driver(attrs=' s:id="D1"')
         + "    <n2:PersonDriverAssociation>\n"
         f'      <nc:PersonReference s:ref="{ref_vals}"/>\n'
         '      <n2c:DriverReference s:ref="D1"/>\n    </n2:PersonDriverAssociation>\n',
         "RV04", extra_ns=f' xmlns:s="{S2}"'),
    expect="not_forwarded", query=leg_query("R04", RED, "RV04"),
    note="4000 references (P1 or D1: one bit each) in one s:ref of a released association",
    finding="F2")
a = add("R05_attr_order_a", R,
        xdoc(person(attrs=' s:id="P1" xml:id="P2"') + driver(), "RV05",
             extra_ns=f' xmlns:s="{S2}"'),
        query=leg_query("R05", RED, "RV05"), expect="forwarded",
        note="two identity attributes, s:id then xml:id (pair with R06)")
add("R06_attr_order_b", R,
    xdoc(person(attrs=' xml:id="P2" s:id="P1"') + driver(), "RV05",
         extra_ns=f' xmlns:s="{S2}"'),
    query=leg_query("R06", RED, "RV05"), same_as=a,
    note="the same identity attributes in the other order: the output keeps the input's "
         "attribute order (one bit per pair of attributes)", finding="F3")
a = add("R07_href_fragment_a", R,
        xdoc(person(attrs=' s:id="P1"') + driver(attrs=' s:id="D1"')
             + "    <n2:PersonDriverAssociation>\n"
             '      <nc:PersonReference xlink:href="#P1"/>\n'
             '      <n2c:DriverReference s:ref="D1"/>\n    </n2:PersonDriverAssociation>\n',
             "RV07", extra_ns=f' xmlns:s="{S2}" xmlns:xlink="{XLINK}"'),
        query=leg_query("R07", RED, "RV07"), expect="forwarded",
        note='xlink:href="#P1" (pair with R08)')
add("R08_href_fragment_b", R,
    xdoc(person(attrs=' s:id="P1"') + driver(attrs=' s:id="D1"')
         + "    <n2:PersonDriverAssociation>\n"
         '      <nc:PersonReference xlink:href="response.xml#P1"/>\n'
         '      <n2c:DriverReference s:ref="D1"/>\n    </n2:PersonDriverAssociation>\n',
         "RV07", extra_ns=f' xmlns:s="{S2}" xmlns:xlink="{XLINK}"'),
    query=leg_query("R08", RED, "RV07"), same_as=a,
    note='xlink:href="response.xml#P1" names the same element: written "R1" where R07 gives '
         '"#R1" (the spelling of a reference is one bit per attribute)', finding="F3")

# -------------------------------------------------- S: NIEM core version per element
S = "S-niem-version-channel"
a = add("S01_all_nc2", S, xdoc(person() + driver(), "SV01"),
        query=leg_query("S01", RED, "SV01"), allowed=["DOE", "000000001"], expect="forwarded",
        note="every element in NIEM core 2.0 (pair with S02)")
add("S02_surname_in_nc3", S,
    xdoc(person(name='<nc:PersonGivenName>JANE</nc:PersonGivenName>'
                f'<nc3:PersonSurName xmlns:nc3="{NC3}">DOE</nc3:PersonSurName>'
                ).replace("<nc:PersonName>", f'<nc3:PersonName xmlns:nc3="{NC3}">', 1)
         .replace("</nc:PersonName>", "</nc3:PersonName>", 1)
         .replace('<nc:PersonGivenName>JANE</nc:PersonGivenName>',
                  '<nc3:PersonGivenName>JANE</nc3:PersonGivenName>')
         + driver(), "SV01"),
    query=leg_query("S02", RED, "SV01"), same_as=a,
    note="the same values with the name in NIEM core 3.0: the output declares a second core "
         "namespace (nc2) and writes the name in it; which of four core versions each "
         "element uses is chosen by the input (2 bits per element)", finding="F4")
four_ids = "".join(f'<c{i}:IdentificationID xmlns:c{i}="{u}">{v}</c{i}:IdentificationID>'
                   for i, (u, v) in enumerate([(NC2, "000000001"), (NC3, "987654321"),
                                               (NC4, "555443333"), (NC5, "112223333")]))
add("S03_four_licence_numbers", S,
    xdoc(person() + driver(ident=four_ids), "SV03"),
    canaries=["987654321", "555443333", "112223333"], query=leg_query("S03", RED, "SV03"),
    note="four IdentificationID in one licence, one per NIEM core version: each is a "
         "different profile node with repeat 1, so the repeat limit is four times the "
         "profile's (a 9-digit SSN or passport in each extra one)", finding="F4")
names4 = "".join(f'<c{i}:PersonName xmlns:c{i}="{u}"><c{i}:PersonFullName>{v}</c{i}:PersonFullName>'
                 f'</c{i}:PersonName>'
                 for i, (u, v) in enumerate([(NC2, "DOE, JANE Q"), (NC3, "NACIDA EN JALISCOQZ"),
                                             (NC4, "SIN PAPELES QZ"), (NC5, "VISA VENCIDA QZ")]))
add("S04_four_names_one_person", S,
    xdoc("    <n2:Person>\n      " + names4 + "\n    </n2:Person>\n" + driver(), "SV04"),
    canaries=["JALISCOQZ", "SIN PAPELES QZ", "VISA VENCIDA QZ"],
    query=leg_query("S04", RED, "SV04"),
    note="four PersonName (one per NIEM core version) in one person: three carry birthplace "
         "and status words as names", finding="F4")

# ---------------------------------------------------------------- T: routing
T = "T-routing-channel"
add("T01_originator_member_code", T, leg(RED, "TV01", BODY, orig="COPX12345"),
    canaries=["COPX12345"], query=leg_query("T01", RED, "TV01"),
    note="[redact] origins = [\"CO\"] admits every CO ORI: the originator carries 7 free "
         "characters (a passport number PX12345 here) to the restricted agency", finding="F6")
add("T02_second_dest_pattern", T, leg(f"{RED},VAHSIQZ77", "TV02", BODY),
    canaries=["VAHSIQZ77"],
    query=[leg_query("T02", RED, "TV02"), leg_query("T02b", "VAHSIQZ77", "TV02")],
    note="a second destination matching the list pattern VAHSI* is 'listed': 4 free "
         "characters per extra destination, up to 4 extra", finding="F6")
# Court-order response from a foreign originator: origin rule skipped.
CO_BODY = ("DOE, JANE Q  DOB/19800115 SEX/F OLN/000000001 STATUS/VALID" + CRLF + "END OF RECORD")
add("T03_order_response_foreign_origin", T, leg(DENY, "TV03", CO_BODY, orig="MXQZ12345"),
    canaries=["MXQZ12345"], query=order_query("T03", "TV03"), policy="court",
    note="a response under a court order is released by release_order, which never applies "
         "the routing rules (restricted::refusal): any originator reaches the agency",
    finding="F7")

# ---------------------------------------------------- U: court order, another person
U = "U-court-order-other-person"
img = base64.b64encode(jpeg("U01")).decode()
u_name = ("<nc:PersonFullName>DOE, JANE Q</nc:PersonFullName>"
          "<nc:PersonGivenName>RICHARDQZ</nc:PersonGivenName>"
          "<nc:PersonSurName>ROEQZ</nc:PersonSurName>")
add("U01_fullname_hides_parts", U,
    xdoc(person(name=u_name) + "    <nc:PersonDigitalImage><nc:BinaryBase64Object>" + img
         + "</nc:BinaryBase64Object></nc:PersonDigitalImage>\n", "UV01", dest=DENY),
    canaries=["RICHARDQZ", "ROEQZ"], query=order_query("U01", "UV01"), policy="court",
    note="a response under an order for DOE, JANE Q: one PersonName holds PersonFullName "
         "DOE, JANE Q and the parts of another person (ROEQZ, RICHARDQZ); persons::xml_name "
         "reads only PersonFullName when it is there, the profile releases all four, so "
         "another person's name leaves with the photo", finding="F5")
add("U02_two_names_regression", U,
    xdoc(person(name="<nc:PersonFullName>DOE, JANE Q</nc:PersonFullName>")
         + person(name="<nc:PersonFullName>ROEQZ, RICHARDQZ</nc:PersonFullName>")
         + "    <nc:PersonDigitalImage><nc:BinaryBase64Object>" + img
         + "</nc:BinaryBase64Object></nc:PersonDigitalImage>\n", "UV02", dest=DENY),
    canaries=["RICHARDQZ", "ROEQZ", img[40:60]], query=order_query("U02", "UV02"),
    policy="court",
    note="regression: two persons under one order (the second another person) are refused")

# ---------------------------------------------------------------- V: vocabulary
V = "V-vocabulary-gap"
add("V01_state_code_any_letters", V,
    leg(RED, "VV01", "DOE, JANE Q  DOB/19800115 SEX/F OLN/000000001 OLS/QZ STATUS/VALID"
        + CRLF + "LIC/ABC123 LIS/GT LIT/SV" + CRLF + "END OF RECORD"),
    canaries=["OLS/QZ", "LIS/GT", "LIT/SV"], query=leg_query("V01", RED, "VV01"),
    note="OLS, LIS and LIT take any two letters ([A-Z]{2}), not a list of state codes: GT, SV "
         "(Guatemala, El Salvador) or any other pair gets through; the spec says "
         "vocabularies close state codes", finding="F8")

# ---------------------------------------------------------------- X: legacy layout
X = "X-legacy-value-spelling"
a = add("X01_comma_space", X, leg(RED, "XV01", BODY), query=leg_query("X01", RED, "XV01"),
        expect="forwarded", allowed=["DOE, JANE Q  DOB/19800115"],
        note="DOE, JANE Q (pair with X02)")
add("X02_comma_nospace", X, leg(RED, "XV01", BODY.replace("DOE, JANE Q", "DOE ,JANE Q")),
    query=leg_query("X02", RED, "XV01"), same_as=a,
    note="the same name with the blank before the comma: canonical form squeezes runs of "
         "blanks but keeps where a single blank stands around punctuation (a bit per "
         "punctuation mark in every name)", finding="F9")
add("X03_not_fixed_regression", X,
    leg(RED, "XV03", "NAM/DOE, JANE Q  DOB/19800115" + CRLF + "LIC/ABC123  SEX/F"),
    expect="forwarded", allowed=["LIC/ABC123  SEX/F"], query=leg_query("X03", RED, "XV03"),
    note="regression of finding F10: a record that a later-row field starts (LIC/) holding "
         "an earlier-row field (SEX/) is written with its starting field first, so that it "
         "starts the same record when read again (a fixed point, forwarded)")

# ---------------------------------------------------------------- W: header values
W = "W-header-value-shape"
add("W01_ssn_as_send_date", W,
    xdoc(person() + driver(), "WV01").replace(
        "  </n2:NLETSMessageHeader>",
        "    <nh2:MessageSendDate>987654321</nh2:MessageSendDate>\n  </n2:NLETSMessageHeader>"),
    canaries=["987654321"], query=leg_query("W01", RED, "WV01"),
    note="a 9-digit SSN as nh2:MessageSendDate: the spec says dates are NN/NN/NNNN, the "
         "projection takes any 0-9 and / up to 10 characters", finding="F11")

# ---------------------------------------------------------------- write
if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    for c, data in CASES:
        with open(os.path.join(HERE, c["file"]), "w", newline="") as fh:
            fh.write(data)
    for f, data in QUERIES:
        with open(os.path.join(HERE, f), "w", newline="") as fh:
            fh.write(data)
    with open(os.path.join(HERE, "review24.json"), "w") as fh:
        json.dump([c for c, _ in CASES], fh, indent=1)
        fh.write("\n")
    print(f"{len(CASES)} cases, {len(QUERIES)} queries")
