#!/usr/bin/env python3
"""Regenerates the synthetic message fixtures under testdata/messages.

Every name, date, licence number and ORI here is invented (the ORIs follow
Nlets' published *example* and generic-ORI patterns; VTICE0900 is the public
example ICE LESC ORI used as a deny-list example). Photos are a JPEG's
structure around pseudo-random scan data, base64-encoded: noise, not an image
of anyone.
Run from the repository root: python3 testdata/make_fixtures.py
"""
import base64, os, random

OUT = "testdata/messages"
CRLF = "\r\n"

NS = ('xmlns:n2="http://www.nlets.org/niem/1.0" '
      'xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" '
      'xmlns:nc="http://niem.gov/niem/niem-core/2.0"')


def photo_b64(seed, size):
    """A JPEG's structure (JFIF without a thumbnail, tables, one 480x600
    grey frame, one scan, EOI) around `size` pseudo-random bytes of scan data
    (each 0xFF stuffed with 0x00, as in a real scan): what origuard's image
    walk accepts (src/redact/image.rs); the picture is noise."""
    rnd = random.Random(seed)
    seg = lambda m, body: bytes([0xFF, m]) + (len(body) + 2).to_bytes(2, "big") + body
    huff = lambda cls: seg(0xC4, bytes([cls, 1]) + bytes(15) + b"\x00")
    scan = bytes(rnd.getrandbits(8) for _ in range(size)).replace(b"\xff", b"\xff\x00")
    raw = (b"\xff\xd8" + seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
           + seg(0xDB, b"\x00" + bytes([1] * 64))
           + seg(0xC0, bytes([8, 0x02, 0x58, 0x01, 0xE0, 1, 1, 0x11, 0]))
           + huff(0x00) + huff(0x10)
           + seg(0xDA, bytes([1, 1, 0, 0, 0x3F, 0]))
           + scan + b"\xff\xd9")
    s = base64.b64encode(raw).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def header(mke, orig, dest, ctrl=None, extra=""):
    c = f"\n    <nh2:DocumentControlFieldText><![CDATA[{ctrl}]]></nh2:DocumentControlFieldText>" if ctrl else ""
    return (f"  <n2:NLETSMessageHeader>\n    <nh2:MessageKeyCodeText>{mke}</nh2:MessageKeyCodeText>\n"
            f"    <nh2:OriginatingORIID>{orig}</nh2:OriginatingORIID>\n"
            f"    <nh2:DestinationORIID>{dest}</nh2:DestinationORIID>{c}{extra}\n  </n2:NLETSMessageHeader>\n")


OUTPUT_TIMES = ("\n    <nh2:MessageReceiveDate>03/04/2025</nh2:MessageReceiveDate>"
                "\n    <nh2:MessageReceiveTime>10:15</nh2:MessageReceiveTime>"
                "\n    <nh2:MessageSendDate>03/04/2025</nh2:MessageSendDate>"
                "\n    <nh2:MessageSendTime>10:15</nh2:MessageSendTime>"
                "\n    <nh2:ReceiveMessageNumeric>08112</nh2:ReceiveMessageNumeric>"
                "\n    <nh2:SendMessageNumeric>22890</nh2:SendMessageNumeric>")


def image(tag, seed, size, prefix="nc"):
    return (f"    <{prefix}:{tag}>\n      <{prefix}:BinaryBase64Object>{photo_b64(seed, size)}</{prefix}:BinaryBase64Object>\n"
            f"      <{prefix}:BinaryCaptureDate><{prefix}:Date>2021-06-01</{prefix}:Date></{prefix}:BinaryCaptureDate>\n"
            f"      <{prefix}:BinaryDescriptionText>DRIVER LICENSE PHOTO</{prefix}:BinaryDescriptionText>\n"
            f"      <{prefix}:BinaryFormatID>JPEG</{prefix}:BinaryFormatID>\n"
            f"      <{prefix}:BinarySizeValue>{size // 1024}</{prefix}:BinarySizeValue>\n"
            f"    </{prefix}:{tag}>\n")


def write(name, text, mode="w"):
    path = os.path.join(OUT, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    with open(path, "wb") as f:
        f.write(data)


def legacy():
    write("legacy/dq_input.txt", "DQ.AZNLETS20.CO.*A0TRM0042.TXT" + CRLF + "RSN/V.NAM/DOE,JANE Q.DOB/19800115.SEX/F.IMQ/Y")
    write("legacy/dq_input_multi.txt", "DQ.AZNLETS20.CO,NM,UT.TXT" + CRLF + "\x7fOLN/000000000")
    write("legacy/dq_output.txt", CRLF.join(["DQ.AZNLETS20", "10:15 03/04/2025 41873", "10:15 03/04/2025 07711 CO",
                                             "*A0TRM0042", "TXT", "RSN/V.NAM/DOE,JANE Q.DOB/19800115.SEX/F.IMQ/Y"]))
    write("legacy/dq_output_inline_control.txt", CRLF.join(["DQ.AZNLETS20", "10:15 03/04/2025 41873",
                                                            "10:15 03/04/2025 07711 CO.*A0TRM0042.TXT",
                                                            "RSN/V.NAM/DOE,JANE Q.DOB/19800115.SEX/F"]))
    write("legacy/dq_from_ice.txt", CRLF.join(["DQ.VTICE0900", "11:02 03/04/2025 51002", "11:02 03/04/2025 07712 CO",
                                               "*ICE0000001", "TXT", "RSN/I.NAM/ROE,RICHARD.DOB/19751203.SEX/M.IMQ/Y"]).replace("*ICE0000001", "*ICE0000001"[:11]))
    write("legacy/dr_input.txt", "DR.COOLN0000.AZNLETS20.*A0TRM0042.TXT" + CRLF + CRLF.join([
        "DOE, JANE Q   DOB/19800115  SEX/F  RAC/W  HGT/505  WGT/130  EYE/BRO  HAI/BRO",
        "OLN/000000000  OLS/CO  CLASS/R  STATUS/VALID  EXP/20290115",
        "ADDR/123 EXAMPLE ST DENVER CO 80202",
        "POB/MX"]))
    write("legacy/dr_output.txt", CRLF.join(["DR.COOLN0000", "10:15 03/04/2025 22890", "10:15 03/04/2025 08112 AZNLETS20",
                                             "*A0TRM0042", "TXT", "NAM/DOE,JANE Q.DOB/19800115.SEX/F.POB/MX.OLN/000000000",
                                             "PLACE OF BIRTH: EXAMPLE CITY, MX", "STATUS/VALID"]))
    write("legacy/dr_no_pob.txt", "DR.COOLN0000.AZNLETS20.*A0TRM0042.TXT" + CRLF + "NAM/DOE,JANE Q.DOB/19800115.SEX/F.STATUS/VALID")
    write("legacy/dr_pob_controls.txt", "DR.COOLN0000.VTICE0900.*ICE0000001.TXT" + CRLF + "NAM/ROE,RICHARD.p\x07O\r\nb /MX.SEX/M")
    write("legacy/kq_input.txt", "KQ.AZNLETS20.AZ.TXT\nNAM/DOE,JOHN.DOB/19500101.SEX/M.PUR/C.ATN/DESK SGT")
    write("legacy/kq_oln.txt", "KQ.AZNLETS20.AZ.TXT\nOLN/D11111111")
    write("legacy/kr_input.txt", "KR.COOLN0000.AZNLETS20.TXT\nNAM/DOE,JOHN.DOB/19500101.HISTORY/NONE.POB/CO")
    write("legacy/rq_input.txt", "RQ.AZNLETS20.AZ.TXT\nLIC/123456.LIT/PC")
    write("legacy/rr_input.txt", "RR.COLIC0000.AZNLETS20.TXT\nLIC/123456.LIT/PC.VMA/EXAMPLE.VYR/2019")
    write("legacy/rnq_input.txt", "RNQ.AZNLETS20.CO.TXT\nNAM/DOE,JANE")
    write("legacy/rpq_input.txt", "RPQ.AZNLETS20.CO.TXT\nLIC/12*456")
    write("legacy/dnq_input.txt", "DNQ.AZNLETS20.CO.TXT\nNAM/DOE,JANE")
    write("legacy/dqg_input.txt", "DQG.AZNLETS20.CO.TXT\nNAM/DOE,JANE.DOB/19800115")
    write("legacy/yq_input.txt", "YQ.AZNLETS20.AZ0000000.TXT\nTXT/SYNTHETIC REQUEST")
    write("legacy/iaq_input.txt", "IAQ.COSP00000.AX.TXT\nNAM/DOE,JANE.DOB/19800115.SEX/F.POB/MX.PUR/C")
    write("legacy/am_output.txt", "\n".join(["AM.NLNLEHELP", "10:01 08/22/2011 35048", "10:01 08/22/2011 08374 AZNLETS20",
                                            "TXT", "NEW HELP MESSAGE"]))
    write("legacy/am_input.txt", "AM.AZNLETS20.NLNLEUPDT.TXT\nSYNTHETIC ADMIN TEXT")
    write("legacy/er_output.txt", "\n".join(["ER.NL0000000", "08:00 01/01/2010 01239", "08:00 01/01/2011 01233 AZNLETS20",
                                            "TXT", ".22. INVALID MESSAGE FORMAT - REFER TO RQ MKE OPTIONS BELOW",
                                            "ORIGINAL MESSAGE RQ.AZNLETS20.AZ.TXT LIC/123456.LIT/PC"]))
    write("legacy/sm_output.txt", "\n".join(["SM.NL0000000", "02:00 01/01/2025 00001", "02:00 01/01/2025 00002 COOLN0000",
                                            "TXT", ".02. USER OUT OF SERVICE FOR MSG TYPE, NLETS WILL FORWARD"]))
    write("legacy/unknown_key.txt", "ZQ.AZNLETS20.CO.TXT\nSYNTHETIC")


def xml():
    q_body = ("  <n2:NLETSInquiryData>\n    <n2:ReasonCode>V</n2:ReasonCode>\n    <n2:Person>\n"
              "      <nc:PersonBirthDate><nc:Date>1980-01-15</nc:Date></nc:PersonBirthDate>\n"
              "      <nc:PersonName><nc:PersonGivenName>JANE</nc:PersonGivenName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName>\n"
              "    </n2:Person>\n    <n2:ImageRequestIndicator>true</n2:ImageRequestIndicator>\n  </n2:NLETSInquiryData>\n")
    write("xml/dq.xml", f'<?xml version="1.0" encoding="UTF-8"?>\n<n2:NLETS {NS} n2:version="4.00">\n' + header("DQ", "AZNLETS20", "CO", "A0TRM0042") + q_body + "</n2:NLETS>\n")
    write("xml/dq_from_ice.xml", f'<n2:NLETS {NS} n2:version="4.00">\n' + header("DQ", "VTICE0900", "CO", "ICE0000001", OUTPUT_TIMES) + q_body + "</n2:NLETS>\n")
    write("xml/kq.xml", f'<n2:NLETS {NS} xmlns:n2c="http://www.nlets.org/niem/nlets-core/1.0">\n' + header("KQ", "AZNLETS20", "CO") +
          "  <n2:NLETSInquiryData><n2c:Driver><nc:PersonName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName></n2c:Driver></n2:NLETSInquiryData>\n</n2:NLETS>\n")
    write("xml/cpq.xml", f'<n2:NLETS {NS}>\n' + header("CPQ", "AZNLETS20", "CO", "CP00000001") + "  <n2:NLETSInquiryData><n2:ReasonCode>N</n2:ReasonCode></n2:NLETSInquiryData>\n</n2:NLETS>\n")

    def dr(mke, dest, ctrl, seed, size, extra_img=""):
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<n2:NLETS {NS} n2:version="4.00">\n' + header(mke, "COOLN0000", dest, ctrl, OUTPUT_TIMES) +
                "  <n2:NLETSResponseData>\n"
                "    <n2:ResponseText><![CDATA[DOE, JANE Q  DOB/19800115 SEX/F OLN/000000000 STATUS/VALID\nPOB/MX\nEND OF RECORD]]></n2:ResponseText>\n"
                "    <n2:Person>\n      <nc:PersonBirthLocation>\n        <nc:LocationAddress><nc:AddressFullText>EXAMPLE CITY, MEXICO</nc:AddressFullText></nc:LocationAddress>\n"
                "      </nc:PersonBirthLocation>\n      <nc:PersonName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName>\n    </n2:Person>\n"
                + image("PersonDigitalImage", seed, size) + extra_img + "  </n2:NLETSResponseData>\n</n2:NLETS>\n")

    write("xml/dr_photo.xml", dr("DR", "AZNLETS20", "A0TRM0042", 1, 30000))
    write("xml/dr_photo_to_ice.xml", dr("DR", "VTICE0900", "ICE0000001", 2, 42000))
    write("xml/kr_photo.xml", dr("KR", "AZNLETS20", None, 3, 20000, image("Image", 4, 15000)))
    write("xml/cpr_photo.xml", dr("CPR", "AZNLETS20", "CP00000001", 5, 45000))
    write("xml/dr_freetext.xml", f'<n2:NLETS {NS}>\n' + header("DR", "COOLN0000", "AZNLETS20", "A0TRM0042") +
          "  <n2:NLETSResponseData>\n    <n2:ResponseText><![CDATA[NAM/DOE,JANE Q.DOB/19800115.SEX/F.POB/MX.OLN/000000000\n"
          "PLACE OF BIRTH: EXAMPLE CITY, MX\nSTATUS/VALID]]></n2:ResponseText>\n  </n2:NLETSResponseData>\n</n2:NLETS>\n")
    write("xml/dr_not_on_file.xml", f'<n2:NLETS {NS}>\n' + header("DR", "COOLN0000", "AZNLETS20", "A0TRM0042") +
          "  <n2:NLETSResponseData><n2:ResponseText><![CDATA[NOT ON FILE]]></n2:ResponseText></n2:NLETSResponseData>\n</n2:NLETS>\n")
    # Default namespace and other prefixes bound to NIEM core.
    write("xml/dr_default_ns.xml",
          '<NLETS xmlns="http://www.nlets.org/niem/1.0" xmlns:h="http://www.nlets.org/niem/nlets-hdr/1.0">\n'
          '  <NLETSMessageHeader><h:MessageKeyCodeText>DR</h:MessageKeyCodeText><h:OriginatingORIID>COOLN0000</h:OriginatingORIID>'
          '<h:DestinationORIID>AZNLETS20</h:DestinationORIID><h:DocumentControlFieldText>A0TRM0042</h:DocumentControlFieldText></NLETSMessageHeader>\n'
          '  <NLETSResponseData>\n'
          '    <PersonBirthLocation xmlns="http://niem.gov/niem/niem-core/2.0"><LocationAddress><AddressFullText>EXAMPLE</AddressFullText></LocationAddress></PersonBirthLocation>\n'
          '    <x:PersonDigitalImage xmlns:x="http://niem.gov/niem/niem-core/2.0"><x:BinaryBase64Object>' + photo_b64(6, 2000) + '</x:BinaryBase64Object></x:PersonDigitalImage>\n'
          '    <nc:BinaryBase64Object xmlns:nc="http://release.niem.gov/niem/niem-core/4.0/">' + photo_b64(7, 1000) + '</nc:BinaryBase64Object>\n'
          '    <nc:PersonName xmlns:nc="urn:example:not-niem">NOT A NIEM ELEMENT</nc:PersonName>\n'
          '  </NLETSResponseData>\n</NLETS>\n')
    write("xml/am.xml", f'<n2:NLETS {NS}>\n' + header("AM", "AZNLETS20", "CO") +
          "  <n2:NLETSMailData><n2:MessageText><![CDATA[SYNTHETIC ADMINISTRATIVE MESSAGE]]></n2:MessageText></n2:NLETSMailData>\n</n2:NLETS>\n")
    write("xml/sm.xml", f'<n2:NLETS {NS}>\n' + header("SM", "NL0000000", "CO", "TSTMESSAGE") +
          "  <n2:NLETSMailData><n2:StatusMessageText><![CDATA[NLETS IN SERVICE]]></n2:StatusMessageText></n2:NLETSMailData>\n</n2:NLETS>\n")
    write("xml/iaq.xml", f'<n2:NLETS {NS}>\n' + header("IAQ", "COSP00000", "AX") +
          "  <n2:NLETSInquiryData><n2:Person><nc:PersonBirthLocation><nc:LocationAddress><nc:AddressFullText>MX</nc:AddressFullText></nc:LocationAddress></nc:PersonBirthLocation></n2:Person></n2:NLETSInquiryData>\n</n2:NLETS>\n")
    # Lexical hiding: comments, split CDATA and character references in free text.
    write("xml/dr_hidden_pob.xml", f'<n2:NLETS {NS}>\n' + header("DR", "COOLN0000", "VTICE0900", "ICE0000001") +
          "  <n2:NLETSResponseData>\n"
          "    <n2:ResponseText>NAM/ROE.&#80;OB/MX.SEX/M</n2:ResponseText>\n"
          "    <n2:ResponseText><![CDATA[NAM/ROE.P]]><![CDATA[OB/MX.SEX/M]]></n2:ResponseText>\n"
          "    <n2:ResponseText>NAM/ROE.PO<!-- split -->B/MX.SEX/M</n2:ResponseText>\n"
          "    <n2:ResponseText>NAM/ROE &amp; CO.&#x50;LACE OF BIRTH: X &lt;Y&gt;\nSEX/M</n2:ResponseText>\n"
          "  </n2:NLETSResponseData>\n</n2:NLETS>\n")


def hostile():
    h = f'<n2:NLETS {NS}>' + header("DR", "COOLN0000", "VTICE0900", "ICE0000001")
    write("hostile/billion_laughs.xml", '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n' + h + "<n2:NLETSResponseData>&lol2;</n2:NLETSResponseData></n2:NLETS>")
    write("hostile/xxe.xml", '<?xml version="1.0"?>\n<!DOCTYPE n2:NLETS [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n' + h + "<n2:NLETSResponseData>&x;</n2:NLETSResponseData></n2:NLETS>")
    write("hostile/unknown_entity.xml", h + "<n2:NLETSResponseData>&foo;</n2:NLETSResponseData></n2:NLETS>")
    write("hostile/deep.xml", h + "<n2:NLETSResponseData>" + "<a>" * 200 + "x" + "</a>" * 200 + "</n2:NLETSResponseData></n2:NLETS>")
    write("hostile/many_attributes.xml", h + "<n2:NLETSResponseData " + " ".join(f'a{i}="1"' for i in range(100)) + "/></n2:NLETS>")
    write("hostile/undeclared_prefix.xml", h + "<n2:NLETSResponseData><zz:PersonBirthLocation>MX</zz:PersonBirthLocation></n2:NLETSResponseData></n2:NLETS>")
    write("hostile/trailing.xml", h + "<n2:NLETSResponseData/></n2:NLETS>DR.COOLN0000.VTICE0900.TXT POB/MX")
    write("hostile/two_roots.xml", h + "<n2:NLETSResponseData/></n2:NLETS>" + h + "</n2:NLETS>")
    write("hostile/dup_header.xml", h.replace("</n2:NLETSMessageHeader>\n", "</n2:NLETSMessageHeader>\n" + header("DR", "COOLN0000", "AZNLETS20").strip()) + "</n2:NLETS>")
    write("hostile/dup_ori.xml", h.replace("<nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID>", "<nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:OriginatingORIID>AZNLETS20</nh2:OriginatingORIID>") + "</n2:NLETS>")
    write("hostile/utf16.xml", ('<?xml version="1.0" encoding="UTF-16"?>' + h + "</n2:NLETS>").encode("utf-16"))
    write("hostile/declared_latin1.xml", '<?xml version="1.0" encoding="ISO-8859-1"?>' + h + "</n2:NLETS>")
    write("hostile/overlong_utf8.xml", h.encode() + b"<n2:NLETSResponseData>POB\xc0\xafMX</n2:NLETSResponseData></n2:NLETS>")
    write("hostile/nul.xml", h.encode() + b"<n2:NLETSResponseData>A\x00B</n2:NLETSResponseData></n2:NLETS>")
    write("hostile/lookalike_case.xml", h + '<n2:NLETSResponseData><nc:personbirthlocation>MX</nc:personbirthlocation></n2:NLETSResponseData></n2:NLETS>')
    write("hostile/foreign_ns_lookalike.xml", h + '<n2:NLETSResponseData><nc:PersonBirthLocation xmlns:nc="urn:example:not-niem">MX</nc:PersonBirthLocation></n2:NLETSResponseData></n2:NLETS>')
    write("hostile/pob_in_attribute.xml", h + '<n2:NLETSResponseData note="POB/MX"/></n2:NLETS>')
    write("hostile/photo_in_freetext.xml", h + "<n2:NLETSResponseData><n2:ResponseText>IMAGE /9j/4AAQSkZJRgABAQ</n2:ResponseText></n2:NLETSResponseData></n2:NLETS>")
    write("hostile/xml11.xml", '<?xml version="1.0"?>' + h.replace("<n2:NLETS ", '<n2:NLETS xmlns:p="" ') + "</n2:NLETS>")
    write("hostile/not_nlets_root.xml", '<Envelope xmlns="urn:x"><Body/></Envelope>')
    write("hostile/unclosed.xml", h + "<n2:NLETSResponseData>")
    write("hostile/legacy_bad_ori.txt", "DQ.AZNLETS2.CO.TXT\nNAM/DOE")
    write("hostile/legacy_long_control.txt", "DQ.AZNLETS20.CO.*A0TRM0042XYZ.TXT\nNAM/DOE")
    write("hostile/legacy_no_txt.txt", "DQ.AZNLETS20.CO.NAM/DOE")
    write("hostile/binary_garbage.bin", bytes(random.Random(9).getrandbits(8) for _ in range(512)))


if __name__ == "__main__":
    legacy()
    xml()
    hostile()


def frame(msgs):
    import struct
    return b"".join(struct.pack(">I", len(m)) + m for m in msgs)


def captures():
    """Synthetic captures (len4 framing) built from the fixtures above."""
    os.makedirs("testdata/captures", exist_ok=True)
    r = lambda n: open(os.path.join(OUT, n), "rb").read()
    inbound = [
        r("legacy/dq_input.txt"),                       # AZ test ORI: pass
        r("legacy/dq_output.txt"),                      # pass
        r("legacy/dq_from_ice.txt"),                    # VTICE0900: deny + reply
        r("xml/dq.xml"),                                # pass
        r("xml/dq_from_ice.xml"),                       # deny + reply (xml)
        r("legacy/kq_input.txt"),                       # pass
        r("legacy/rq_input.txt"),                       # pass
        b"DQ.TXICE2000.CO.*T0000001.TXT\r\nNAM/DOE,JANE.DOB/19800115",   # list file: deny
        b"KQ.CAICE7777.CO.TXT\r\nOLN/000000000",        # pattern ??ICE????: deny
        b"DQ.VADEADX00.CO.TXT\r\nNAM/DOE,JANE",         # redact list: query passes
        b"DQ.AXADMHELP.CO.TXT\r\nNAM/DOE,JANE",         # member code AX: deny
        b"AM.VTICE0900.CO.TXT\r\nSYNTHETIC ADMIN",      # not governed: pass
        r("xml/cpq.xml").replace(b">AZNLETS20<", b">VTICE0900<"),  # CPQ deny + reply
        r("legacy/sm_output.txt"),                      # Nlets: allow
        r("legacy/er_output.txt"),                      # pass
        r("hostile/billion_laughs.xml"),                # DTD before the header: unknown_ori:xml_dtd drop
        r("hostile/binary_garbage.bin"),                # unknown ORI: drop
        r("legacy/unknown_key.txt"),                    # pass
    ]
    outbound = [
        r("xml/dr_photo.xml"),                          # to AZNLETS20: pass
        r("xml/dr_photo_to_ice.xml"),                   # to VTICE0900: deny + reply
        r("xml/dr_photo.xml").replace(b">AZNLETS20<", b">VADEADX00<"),   # redact photo + pob
        r("xml/dr_freetext.xml").replace(b">AZNLETS20<", b">VADEADX00<"),  # redact pob in CDATA
        r("xml/kr_photo.xml").replace(b">AZNLETS20<", b">DCFBI0000<"),   # redact
        r("xml/cpr_photo.xml").replace(b">AZNLETS20<", b">VAHSI0001<"),  # pattern redact
        r("legacy/dr_output.txt"),                      # legacy to AZ: pass
        r("legacy/dr_input.txt").replace(b"AZNLETS20", b"VAHSI1234"),    # legacy redact pob
        r("legacy/dr_input.txt").replace(b"AZNLETS20", b"TXICE2000"),    # legacy deny + reply
        r("hostile/lookalike_case.xml").replace(b"VTICE0900", b"VADEADX00"),  # redact refused: drop
        r("xml/dr_not_on_file.xml"),                    # pass
        b"DQ.CODENVER0.AZ,NM.TXT\r\nNAM/DOE,JANE",      # CO agency's query out: pass
        b"DQ.CODENVER0.AX.TXT\r\nNAM/DOE,JANE",         # query to ICE LESC: deny, no reply
        r("xml/dr_hidden_pob.xml").replace(b">VTICE0900<", b">VADEADX00<"),  # hidden POB: redact
    ]
    with open("testdata/captures/inbound.len4", "wb") as f:
        f.write(frame(inbound))
    with open("testdata/captures/outbound.len4", "wb") as f:
        f.write(frame(outbound))


if __name__ == "__main__":
    captures()
