#!/usr/bin/env python3
"""Generate edigate X12 grammar TOML files from the project's X12 structure tables.

Usage:  python3 scripts/gen_grammars.py [path/to/X12-TABLES.md] [--out grammars/x12]

Input:  docs/X12-TABLES.md (section 1 structures, 2 segment dictionary, 2.3 composites,
        3 code lists) plus the envelope tables of REFERENCE.md section 1 (ISA/IEA/GS/GE/TA1),
        which are transcribed into ENVELOPE below.
Output: grammars/x12/{004010,005010}/{elements,segments,<set>}.toml

This is a one-shot generator: the generated TOML is committed and becomes the source of
truth that analysts edit by hand.  Re-running the script overwrites those edits, so only do
that deliberately (and diff the result).

The script validates what it writes (see check_version) and exits non-zero on any error.
"""

import argparse
import collections
import json
import os
import re
import sys
import tomllib

VERSIONS = ("004010", "005010")
SETS = {
    "004010": ["850", "855", "856", "810", "997"],
    "005010": ["850", "855", "856", "810", "997", "999"],
}
TYPES = {"AN", "ID", "DT", "TM", "R", "B"} | {f"N{i}" for i in range(10)}

HEADER = (
    "# generated once by scripts/gen_grammars.py from the project's X12 structure tables;"
    " edit this file directly\n"
    "# (sources: docs X12-TABLES.md; envelope segments ISA/IEA/GS/GE/TA1 from REFERENCE.md\n"
    "# section 1). This file is the source of truth: do not regenerate over it.\n"
)

# Legend of X12-TABLES.md section 0: these elements are ID with external code lists even
# where a source typed them AN.
EXTERNAL_CODE_ID = {"26", "100", "116", "156", "721", "819", "1715"}

# Names the tables lost punctuation in.
NAME_FIXES = {
    "Version  Release  Industry Identifier Code": "Version / Release / Industry Identifier Code",
}

# 005010 repeatable element positions.  X12-TABLES.md marks CTX01 "(repeatable composite)"
# without a count; 10 is the count in azoner/pyx12 999.5010.xml (a source the tables name).
REPEATS_5010 = {("CTX", 1): 10}

errors = []
warnings = []


def err(msg):
    errors.append(msg)


def warn(msg):
    warnings.append(msg)


# ---------------------------------------------------------------------------
# Envelope / control segments, transcribed from REFERENCE.md section 1.
# (pos elem req type min max name)
# ---------------------------------------------------------------------------
ENVELOPE_ELEMENTS = {
    # I-numbers
    "I01": ("Authorization Information Qualifier", "ID", 2, 2),
    "I02": ("Authorization Information", "AN", 10, 10),
    "I03": ("Security Information Qualifier", "ID", 2, 2),
    "I04": ("Security Information", "AN", 10, 10),
    "I05": ("Interchange ID Qualifier", "ID", 2, 2),
    "I06": ("Interchange Sender ID", "AN", 15, 15),
    "I07": ("Interchange Receiver ID", "AN", 15, 15),
    "I08": ("Interchange Date", "DT", 6, 6),
    "I09": ("Interchange Time", "TM", 4, 4),
    "I10": ("Interchange Control Standards Identifier", "ID", 1, 1),
    "I11": ("Interchange Control Version Number", "ID", 5, 5),
    "I12": ("Interchange Control Number", "N0", 9, 9),
    "I13": ("Acknowledgment Requested", "ID", 1, 1),
    "I14": ("Interchange Usage Indicator", "ID", 1, 1),
    # a delimiter character, not a code: typed AN 1/1
    "I15": ("Component Element Separator", "AN", 1, 1),
    "I16": ("Number of Included Functional Groups", "N0", 1, 5),
    "I17": ("Interchange Acknowledgment Code", "ID", 1, 1),
    "I18": ("Interchange Note Code", "ID", 3, 3),
    "I65": ("Repetition Separator", "AN", 1, 1),
    # numbered elements that only the envelope uses
    "142": ("Application Sender's Code", "AN", 2, 15),
    "124": ("Application Receiver's Code", "AN", 2, 15),
    "455": ("Responsible Agency Code", "ID", 1, 2),
    "480": ("Version / Release / Industry Identifier Code", "AN", 1, 12),
    "97": ("Number of Transaction Sets Included", "N0", 1, 6),
    "28": ("Group Control Number", "N0", 1, 9),
    "479": ("Functional Identifier Code", "ID", 2, 2),
    "373": ("Date", "DT", 8, 8),
    "337": ("Time", "TM", 4, 8),
}


def envelope_segments(version):
    isa11 = "I10" if version == "004010" else "I65"
    isa = ["I01", "I02", "I03", "I04", "I05", "I06", "I05", "I07", "I08", "I09", isa11,
           "I11", "I12", "I13", "I14", "I15"]
    segs = collections.OrderedDict()
    segs["ISA"] = ("Interchange Control Header", [], [(e, "M") for e in isa])
    segs["IEA"] = ("Interchange Control Trailer", [], [("I16", "M"), ("I12", "M")])
    segs["GS"] = ("Functional Group Header", [], [(e, "M") for e in
                  ["479", "142", "124", "373", "337", "28", "455", "480"]])
    segs["GE"] = ("Functional Group Trailer", [], [("97", "M"), ("28", "M")])
    segs["TA1"] = ("Interchange Acknowledgment", [], [(e, "M") for e in
                   ["I12", "I08", "I09", "I17", "I18"]])
    out = collections.OrderedDict()
    for sid, (name, notes, els) in segs.items():
        positions = []
        for e, req in els:
            nm, typ, mn, mx = ENVELOPE_ELEMENTS[e]
            positions.append(dict(el=e, req=req, type=typ, min=mn, max=mx, name=nm))
        out[sid] = dict(name=name, notes=list(notes), positions=positions, source="REFERENCE.md 1")
    return out


# TA105 (I18) note codes, REFERENCE.md 1.5
TA105 = {
    "000": "No error", "001": "The Interchange Control Number in the Header and Trailer Do Not Match",
    "002": "This Standard as Noted in the Control Standards Identifier is Not Supported",
    "003": "This Version of the Controls is Not Supported",
    "004": "The Segment Terminator is Invalid", "005": "Invalid Interchange ID Qualifier for Sender",
    "006": "Invalid Interchange Sender ID", "007": "Invalid Interchange ID Qualifier for Receiver",
    "008": "Invalid Interchange Receiver ID", "009": "Unknown Interchange Receiver ID",
    "010": "Invalid Authorization Information Qualifier Value",
    "011": "Invalid Authorization Information Value",
    "012": "Invalid Security Information Qualifier Value", "013": "Invalid Security Information Value",
    "014": "Invalid Interchange Date Value", "015": "Invalid Interchange Time Value",
    "016": "Invalid Interchange Standards Identifier Value",
    "017": "Invalid Interchange Version ID Value", "018": "Invalid Interchange Control Number Value",
    "019": "Invalid Acknowledgment Requested Value", "020": "Invalid Test Indicator Value",
    "021": "Invalid Number of Included Groups Value", "022": "Invalid Control Structure",
    "023": "Improper (Premature) End-of-File (Transmission)",
    "024": "Invalid Interchange Content (e.g., Invalid GS Segment)",
    "025": "Duplicate Interchange Control Number", "026": "Invalid Data Element Separator",
    "027": "Invalid Component Element Separator", "028": "Invalid Delivery Date in Deferred Delivery Request",
    "029": "Invalid Delivery Time in Deferred Delivery Request",
    "030": "Invalid Delivery Time Code in Deferred Delivery Request",
    "031": "Invalid Grade of Service Code",
}


def envelope_codes(version):
    """Code lists for envelope elements (REFERENCE.md 1.2, 1.5). -> {el: (codes, complete, names)}"""
    v5 = version == "005010"
    return {
        "I01": (["00"], False, {"00": "No Authorization Information Present"}),
        "I03": (["00", "01"], False, {"00": "No Security Information Present", "01": "Password"}),
        "I05": (["01", "08", "12", "14", "ZZ"], False,
                {"01": "Duns (Dun & Bradstreet)", "08": "UCC EDI Communications ID (Comm ID)",
                 "12": "Phone (Telephone Companies)", "14": "Duns Plus Suffix", "ZZ": "Mutually Defined"}),
        "I10": (["U"], False, {"U": "U.S. EDI Community of ASC X12, TDCC, and UCS"}),
        "I11": (["00501"] if v5 else ["00401"], False, {}),
        # REFERENCE gives 1 = request a TA1; 0 (no TA1 requested) is the only other value
        # (also the pair pyx12's control maps allow).
        "I13": (["0", "1"], True, {"0": "No Interchange Acknowledgment Requested",
                                   "1": "Interchange Acknowledgment Requested (TA1)"}),
        "I14": ((["I", "P", "T"] if v5 else ["P", "T"]), True,
                dict({"P": "Production Data", "T": "Test Data"},
                     **({"I": "Information"} if v5 else {}))),
        "I17": (["A", "E", "R"], True, {"A": "The Transmitted Interchange Control Structure Header and Trailer Have Been Received and Have No Errors",
                                         "E": "The Transmitted Interchange Control Structure Header and Trailer Have Been Received and Are Accepted But Errors Are Noted",
                                         "R": "The Transmitted Interchange Control Structure Header and Trailer are Rejected Because of Errors"}),
        # 000-031 is the 004010 list; 005010 kept open (REFERENCE does not confirm it).
        "I18": (sorted(TA105), not v5, dict(TA105)),
        "455": (["X"], False, {"X": "Accredited Standards Committee X12"}),
    }


# 997/999 code lists (REFERENCE.md 2.2 + X12-TABLES.md section 3); -> {el: {version: (codes, complete, names)}}
def ack_codes():
    n720 = {"1": "Unrecognized segment ID", "2": "Unexpected segment", "3": "Mandatory segment missing",
            "4": "Loop Occurs Over Maximum Times", "5": "Segment Exceeds Maximum Use",
            "6": "Segment Not in Defined Transaction Set", "7": "Segment Not in Proper Sequence",
            "8": "Segment Has Data Element Errors"}
    n723 = {"1": "Mandatory data element missing", "2": "Conditional required data element missing",
            "3": "Too many data elements", "4": "Data element too short", "5": "Data element too long",
            "6": "Invalid character in data element", "7": "Invalid code value", "8": "Invalid Date",
            "9": "Invalid Time", "10": "Exclusion Condition Violated"}
    n723_5 = dict(n723, **{"12": "Too Many Repetitions", "13": "Too Many Components"})
    n718 = {"1": "Transaction Set Not Supported", "2": "Transaction Set Trailer Missing",
            "3": "Transaction Set Control Number in Header and Trailer Do Not Match",
            "4": "Number of Included Segments Does Not Match Actual Count",
            "5": "One or More Segments in Error", "6": "Missing or Invalid Transaction Set Identifier",
            "7": "Missing or Invalid Transaction Set Control Number"}
    codes718 = [str(c) for c in range(1, 18)]  # 8-17: security codes (REFERENCE.md gives no names)
    n718_5 = dict(n718, **{"18": "Transaction Set Not in Functional Group",
                           "19": "Invalid Transaction Set Implementation Convention Reference",
                           "23": "Transaction Set Control Number Not Unique within the Functional Group"})
    codes718_5 = codes718 + ["18", "19", "23", "24", "25", "26", "27"]  # 24-27: security pairing
    n618 = dict(n718_5, **{"I5": "Implementation One or More Segments in Error",
                           "I6": "Implementation Convention Not Supported"})
    keys = lambda d: sorted(d, key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c))
    return {
        # AK304: REFERENCE 2.2 lists 1-8 for the 997 (the I-codes are 999-only, element 620).
        "720": {"004010": (keys(n720), True, n720), "005010": (keys(n720), True, n720)},
        # AK403: 1-10; 005010 adds 12 and 13 (REFERENCE 2.2/3.6; consistent with the
        # complete 18-value 621 list of the tables, whose non-I codes are 1-10,12,13).
        "723": {"004010": (keys(n723), True, n723), "005010": (keys(n723_5), True, n723_5)},
        # AK502-506: no count anywhere -> open lists.
        "718": {"004010": (codes718, False, n718), "005010": (codes718_5, False, n718_5)},
        "618": {"005010": (codes718_5 + ["I5", "I6"], False, n618)},
    }


# ---------------------------------------------------------------------------
# Parsing X12-TABLES.md
# ---------------------------------------------------------------------------
def code_blocks(lines, start, end):
    """Yield lists of lines inside ``` fences between line indexes start..end."""
    block = None
    for ln in lines[start:end]:
        if ln.startswith("```"):
            if block is None:
                block = []
            else:
                yield block
                block = None
        elif block is not None:
            block.append(ln.rstrip("\n"))


def find_line(lines, pattern, start=0):
    rx = re.compile(pattern)
    for i in range(start, len(lines)):
        if rx.match(lines[i]):
            return i
    raise SystemExit(f"cannot find heading matching {pattern!r}")


SET_HDR = re.compile(r"^### (\d{3}) (.+?) \((\d{6}), functional group ([A-Z]{2})\)\s*$")
TABLE_RX = re.compile(r"^Table (\d) - (Header|Detail|Summary)")
LOOP_RX = re.compile(r"^(\s*)([A-Z][A-Z0-9]{1,2}) loop \(([MO]), (\d+|>1)\)\s*$")
SEG_RX = re.compile(r"^(\s*)([A-Z][A-Z0-9]{1,2})\s+([MO])\s+(\d+|>1)\s+(.+?)\s*$")


def parse_max(s):
    return ">1" if s == ">1" else int(s)


def parse_structures(lines):
    sets = {}
    s1 = find_line(lines, r"^# 1\. ")
    s2 = find_line(lines, r"^# 2\. ")
    i = s1
    while i < s2:
        m = SET_HDR.match(lines[i])
        if not m:
            i += 1
            continue
        sid, name, version, fg = m.groups()
        j = i + 1
        while not lines[j].startswith("```"):
            j += 1
        k = j + 1
        root = dict(kind="root", children=[])
        stack = [root]
        area = None
        while not lines[k].startswith("```"):
            ln = lines[k].rstrip("\n")
            k += 1
            if not ln.strip():
                continue
            tm = TABLE_RX.match(ln)
            if tm:
                area = tm.group(2).lower()
                continue
            lm = LOOP_RX.match(ln)
            sm = SEG_RX.match(ln) if not lm else None
            if not (lm or sm):
                err(f"{sid}/{version}: cannot parse structure line {ln!r}")
                continue
            indent = len((lm or sm).group(1))
            if indent % 2 or indent < 2:
                err(f"{sid}/{version}: odd indentation in {ln!r}")
            level = indent // 2 - 1
            if level > len(stack) - 1:
                err(f"{sid}/{version}: indentation jumps in {ln!r}")
                level = len(stack) - 1
            del stack[level + 1:]
            parent = stack[-1]
            if lm:
                node = dict(kind="loop", id=lm.group(2), req=lm.group(3), max=parse_max(lm.group(4)),
                            children=[], area=area)
                parent["children"].append(node)
                stack.append(node)
            else:
                node = dict(kind="segment", id=sm.group(2), req=sm.group(3), max=parse_max(sm.group(4)),
                            name=sm.group(5), area=area)
                parent["children"].append(node)
            area = None
        sets[(version, sid)] = dict(id=sid, name=name, version=version, fg=fg, root=root)
        i = k + 1
    return sets


SEG_HDR = re.compile(r"^([A-Z][A-Z0-9]{1,3}) - (.+?)(?:\s{2,}notes: ([A-Z0-9 ]+?))?(?:\s{2,}\(005010 only\))?\s*$")
EL_RX = re.compile(r"^\s+([A-Z][A-Z0-9]{1,4}?)(\d{2})\s+(C\d{3}|I\d{2}|\d+)\s+([MOX])\s+(COMP|[A-Z0-9]+)\s*"
                   r"(?:(\d+|\?)/(\d+|\?))?\s+(.*?)\s*$")
DEF_ITEM_RX = re.compile(r"^\+?([A-Z][A-Z0-9]{1,4}?)(\d{2}) (C\d{3}|\d+) ([MOX]) (COMP|[A-Z0-9]+)\s*"
                         r"(?:(\d+)/(\d+))?\s*(.*?)\s*$")


def clean_name(n):
    n = n.replace("(repeatable composite)", "").strip()
    return NAME_FIXES.get(n, n)


def mk_pos(el, req, typ, mn, mx, name):
    p = dict(el=el, req=req, name=clean_name(name))
    if typ == "COMP":
        p["composite"] = True
    else:
        p["type"] = typ
        p["min"] = None if mn in (None, "?") else int(mn)
        p["max"] = None if mx in (None, "?") else int(mx)
    return p


def parse_dictionary(lines):
    """Returns {'004010': {seg: def}, '005010': {...}}, same for composites."""
    s2 = find_line(lines, r"^# 2\. ")
    s21 = find_line(lines, r"^## 2\.1 ", s2)
    s22 = find_line(lines, r"^## 2\.2 ", s21)
    s23 = find_line(lines, r"^## 2\.3 ", s22)
    s3 = find_line(lines, r"^# 3\. ", s23)
    segs = {v: collections.OrderedDict() for v in VERSIONS}
    comps = {v: collections.OrderedDict() for v in VERSIONS}
    for (a, b, target, only5) in ((s21, s22, segs, False), (s22, s23, segs, True), (s23, s3, comps, None)):
        for block in code_blocks(lines, a, b):
            entries = []
            cur = None
            for ln in block:
                if not ln.strip():
                    continue
                hm = SEG_HDR.match(ln)
                if hm and not ln.startswith(" "):
                    cur = dict(id=hm.group(1), name=hm.group(2).strip(),
                               notes=(hm.group(3) or "").split(), positions=[], diff=None,
                               only5010="(005010 only)" in ln)
                    entries.append(cur)
                    continue
                if cur is None:
                    err(f"dictionary: line outside a segment: {ln!r}")
                    continue
                if ln.strip().startswith("5010:"):
                    cur["diff"] = ln.strip()[len("5010:"):].strip()
                    continue
                em = EL_RX.match(ln)
                if not em:
                    err(f"dictionary {cur['id']}: cannot parse {ln!r}")
                    continue
                pfx, pos, el, req, typ, mn, mx, name = em.groups()
                if pfx != cur["id"] or int(pos) != len(cur["positions"]) + 1:
                    err(f"dictionary {cur['id']}: unexpected position {pfx}{pos}")
                cur["positions"].append(mk_pos(el, req, typ, mn, mx, name))
            for e in entries:
                is5only = only5 or e["only5010"]
                base = dict(name=e["name"], notes=list(e["notes"]),
                            positions=[dict(p) for p in e["positions"]], source="X12-TABLES.md")
                if not is5only:
                    target["004010"][e["id"]] = base
                d5 = dict(name=e["name"], notes=list(e["notes"]),
                          positions=[dict(p) for p in e["positions"]], source="X12-TABLES.md")
                if e["diff"] and not is5only:
                    apply_diff(e["id"], d5, e["diff"])
                elif e["diff"] and is5only:
                    warn(f"{e['id']}: 5010 diff line on a 005010-only entry ignored")
                target["005010"][e["id"]] = d5
    return segs, comps


CHANGE_RX = re.compile(r"(req|len|type|el) (\S+?)->(\S+?)(?: \(([^)]*)\))?(?:,|$)")


def apply_diff(sid, d, diff):
    if diff == "same":
        return
    for item in [x.strip() for x in diff.split(";")]:
        if not item:
            continue
        if item.startswith("name -> "):
            d["name"] = item[len("name -> "):].strip()
            continue
        if item.startswith("notes "):
            for tok in item[len("notes "):].split():
                op, note = tok[0], tok[1:]
                if op == "+":
                    if note in d["notes"]:
                        warn(f"{sid} 5010: note {note} already present")
                    else:
                        d["notes"].append(note)
                elif op == "-":
                    if note in d["notes"]:
                        d["notes"].remove(note)
                    else:
                        err(f"{sid} 5010: cannot remove missing note {note}")
                else:
                    err(f"{sid} 5010: bad notes token {tok}")
            continue
        dm = DEF_ITEM_RX.match(item)
        if dm:
            pfx, pos, el, req, typ, mn, mx, name = dm.groups()
            pos = int(pos)
            if pfx != sid:
                err(f"{sid} 5010: element prefix {pfx} does not match")
            p = mk_pos(el, req, typ, mn, mx, name)
            if pos == len(d["positions"]) + 1:
                d["positions"].append(p)
            elif pos <= len(d["positions"]) and not item.startswith("+"):
                d["positions"][pos - 1] = p
            else:
                err(f"{sid} 5010: cannot place {item!r}")
            continue
        cm = re.match(r"^([A-Z][A-Z0-9]{1,4}?)(\d{2}): (.*)$", item)
        if cm:
            pos = int(cm.group(2))
            if pos > len(d["positions"]):
                err(f"{sid} 5010: {item!r} refers to a missing position")
                continue
            p = d["positions"][pos - 1]
            rest = cm.group(3)
            found = CHANGE_RX.findall(rest)
            if not found:
                err(f"{sid} 5010: cannot parse change {item!r}")
            for kind, old, new, extra in found:
                if kind == "req":
                    if p["req"] != old:
                        err(f"{sid}{pos:02d} 5010: req was {p['req']} not {old}")
                    p["req"] = new
                elif kind == "len":
                    if new == "None/None":
                        p.pop("min", None)
                        p.pop("max", None)
                    else:
                        omin, omax = old.split("/")
                        if (p.get("min"), p.get("max")) != (int(omin), int(omax)):
                            err(f"{sid}{pos:02d} 5010: len was {p.get('min')}/{p.get('max')} not {old}")
                        nmin, nmax = new.split("/")
                        p["min"], p["max"] = int(nmin), int(nmax)
                elif kind == "type":
                    if new == "COMP":
                        p["composite"] = True
                        p.pop("type", None)
                    else:
                        p["type"] = new
                        p.pop("composite", None)
                elif kind == "el":
                    if p["el"] != old:
                        err(f"{sid}{pos:02d} 5010: element was {p['el']} not {old}")
                    p["el"] = new
                    if extra:
                        p["name"] = extra
            continue
        err(f"{sid} 5010: cannot parse diff item {item!r}")


CODE_HDR = re.compile(r"^(\d+) - (.+?)(?:\s+\((\d+) values in 004010 list\))?\s*$")
CODE_ITEM = re.compile(r"^([A-Z0-9]{1,5})=(.+)$")


def parse_codes(lines):
    s3 = find_line(lines, r"^# 3\. ")
    lists = collections.OrderedDict()
    for block in code_blocks(lines, s3, len(lines)):
        cur = None
        for ln in block:
            if not ln.strip():
                continue
            if not ln.startswith(" "):
                m = CODE_HDR.match(ln)
                if not m:
                    err(f"codes: cannot parse header {ln!r}")
                    cur = None
                    continue
                cur = dict(el=m.group(1), title=m.group(2), count=int(m.group(3)) if m.group(3) else None,
                           names=collections.OrderedDict(), values=None)
                lists[cur["el"]] = cur
                continue
            s = ln.strip()
            if s.startswith("values:"):
                cur["values"] = s[len("values:"):].split()
                continue
            for item in [x.strip() for x in s.split("; ")]:
                im = CODE_ITEM.match(item)
                if not im:
                    err(f"codes {cur['el']}: cannot parse item {item!r}")
                    continue
                code, desc = im.groups()
                if code in cur["names"]:
                    warn(f"codes {cur['el']}: duplicate description for {code}")
                cur["names"][code] = desc.strip()
    return lists


# ---------------------------------------------------------------------------
# Building the per-version model
# ---------------------------------------------------------------------------
def normalise_types(defs):
    for d in defs.values():
        for p in d["positions"]:
            if not p.get("composite") and p["el"] in EXTERNAL_CODE_ID and p["type"] != "ID":
                p["type"] = "ID"


def build_elements(version, segs, comps, other_segs, other_comps):
    """Element dictionary: most common (type, min, max) and name over all positions."""
    usage = collections.defaultdict(list)
    for defs in (segs, comps):
        for sid, d in defs.items():
            for p in d["positions"]:
                if not p.get("composite"):
                    usage[p["el"]].append(p)
    elements = {}
    for el, ps in usage.items():
        known = [p for p in ps if p.get("min") is not None]
        if not known:
            # no length in this version (C002/704 in 004010 is "?/?"): borrow the other version's
            alt = [p for defs in (other_segs, other_comps) for d in defs.values()
                   for p in d["positions"] if p["el"] == el and p.get("min") is not None]
            if not alt:
                err(f"{version}: element {el} has no length anywhere")
                continue
            warn(f"{version}: element {el} has no length in the tables; using {alt[0]['min']}/{alt[0]['max']} "
                 f"from the other version")
            for p in ps:
                p["min"], p["max"] = alt[0]["min"], alt[0]["max"]
            known = ps
        shape = collections.Counter((p["type"], p["min"], p["max"]) for p in known)
        best = max(shape.items(), key=lambda kv: kv[1])[0]  # first most common (insertion order)
        names = collections.Counter(p["name"] for p in ps)
        name = max(names.items(), key=lambda kv: kv[1])[0]
        elements[el] = dict(name=name, type=best[0], min=best[1], max=best[2])
    return elements


def sort_el_key(k):
    if k.isdigit():
        return (0, int(k), "")
    return (1, 0, k)


def wrap_list(items, indent="  ", width=96):
    """TOML array of strings, wrapped over several lines when long."""
    strs = [json.dumps(x) for x in items]
    one = "[" + ", ".join(strs) + "]"
    if len(one) <= width - 20:
        return one
    out, line = ["["], indent
    for s in strs:
        if len(line) + len(s) + 2 > width:
            out.append(line.rstrip())
            line = indent
        line += s + ", "
    out.append(line.rstrip())
    out.append("]")
    return "\n".join(out)


def q(s):
    return json.dumps(s, ensure_ascii=False)


def key(k):
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else q(k)


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------
def write_elements(path, version, elements, codes):
    out = [HEADER, f"# X12 {version} element dictionary, keyed by element number (I-numbers for ISA/IEA/TA1).",
           "# type/min/max is the most common form over the segment positions that use the element;",
           "# positions that differ carry an override in segments.toml.",
           "# codes_complete = true only where `codes` is the whole standard list for this version;",
           "# a value outside an incomplete list is only a warning.", ""]
    for el in sorted(elements, key=sort_el_key):
        e = elements[el]
        out.append(f"[elements.{el}]")
        out.append(f"name = {q(e['name'])}")
        out.append(f"type = {q(e['type'])}")
        out.append(f"min = {e['min']}")
        out.append(f"max = {e['max']}")
        if el in codes:
            cl, complete, names, note = codes[el]
            if note:
                out.append(f"# {note}")
            out.append(f"codes = {wrap_list(cl)}")
            out.append(f"codes_complete = {'true' if complete else 'false'}")
            nm = [(c, names[c]) for c in cl if c in names]
            if nm:
                out.append("")
                out.append(f"[elements.{el}.code_names]")
                for c, d in nm:
                    out.append(f"{q(c)} = {q(d)}")
        out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out))


def pos_entry(version, sid, i, p, elements):
    parts = []
    if p.get("composite"):
        parts.append(f"composite = {q(p['el'])}")
        parts.append(f"req = {q(p['req'])}")
    else:
        parts.append(f"ref = {q(p['el'])}")
        parts.append(f"req = {q(p['req'])}")
        e = elements[p["el"]]
        if p["type"] != e["type"]:
            parts.append(f"type = {q(p['type'])}")
        if p["min"] != e["min"]:
            parts.append(f"min = {p['min']}")
        if p["max"] != e["max"]:
            parts.append(f"max = {p['max']}")
    rep = REPEATS_5010.get((sid, i + 1)) if version == "005010" else None
    if rep:
        parts.append(f"repeat = {rep}")
    return "{ " + ", ".join(parts) + " }"


def write_segments(path, version, segs, comps, elements):
    out = [HEADER, f"# X12 {version} segment dictionary and composites.",
           "# elements: one entry per position, in order (element 1 first). req is M, O or X",
           "# (X = relational, governed by a syntax note). type/min/max appear only where the",
           "# position differs from elements.toml. syntax notes: P paired, R required,",
           "# E exclusion, C conditional, L list conditional; digits are 2-digit positions.", ""]
    groups = [("Envelope and control segments (REFERENCE.md section 1)",
               [s for s in segs if segs[s]["source"].startswith("REFERENCE")]),
              ("Segments (X12-TABLES.md section 2)",
               sorted(s for s in segs if not segs[s]["source"].startswith("REFERENCE")))]
    for title, ids in groups:
        out.append(f"# ---- {title} " + "-" * max(0, 70 - len(title)))
        out.append("")
        for sid in ids:
            d = segs[sid]
            out.append(f"[segments.{sid}]")
            out.append(f"name = {q(d['name'])}")
            out.append(f"syntax = {wrap_list(d['notes'])}")
            out.append("elements = [")
            for i, p in enumerate(d["positions"]):
                out.append(f"  {pos_entry(version, sid, i, p, elements)},  # {sid}{i + 1:02d} {p['name']}")
            out.append("]")
            out.append("")
    out.append("# ---- Composites (X12-TABLES.md section 2.3) " + "-" * 30)
    out.append("")
    for cid in sorted(comps):
        d = comps[cid]
        out.append(f"[composites.{cid}]")
        out.append(f"name = {q(d['name'])}")
        out.append(f"syntax = {wrap_list(d['notes'])}")
        out.append("components = [")
        for i, p in enumerate(d["positions"]):
            out.append(f"  {pos_entry(version, cid, i, p, elements)},  # {cid}{i + 1:02d} {p['name']}")
        out.append("]")
        out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out))


def flatten(ts, renames):
    """Flatten a structure tree into entries with `in` paths; dedupe loop ids per level."""
    entries = []

    def walk(node, path, depth):
        seen = collections.Counter()
        for ch in node["children"]:
            e = dict(req=ch["req"], max=ch["max"], area=ch.get("area"), depth=depth)
            if path:
                e["in"] = "/".join(path)
            if ch["kind"] == "loop":
                lid = ch["id"]
                seen[lid] += 1
                if seen[lid] > 1:
                    new = f"{lid}-{seen[lid]}"
                    renames.append(f"{ts['version']} {ts['id']}: second {lid} loop at "
                                   f"{'/'.join(path) or 'top level'} renamed {new}")
                    lid = new
                e["loop"] = lid
                e["first"] = ch["children"][0]["id"] if ch["children"] else None
                entries.append(e)
                walk(ch, path + [lid], depth + 1)
            else:
                e["segment"] = ch["id"]
                e["name"] = ch["name"]
                entries.append(e)

    walk(ts["root"], [], 0)
    return entries


def fmt_max(m):
    return q(m) if isinstance(m, str) else str(m)


def write_set(path, ts, entries, hierarchy):
    out = [HEADER, f"# X12 {ts['version']} transaction set {ts['id']} {ts['name']}.",
           "# One entry per line in standard order. A `loop` entry declares a loop (max = loop",
           "# repeat); its members follow with `in` = slash-joined path of enclosing loop ids.",
           "# The first member of a loop is its trigger segment. max \">1\" = unbounded.", ""]
    out.append(f"id = {q(ts['id'])}")
    out.append(f"name = {q(ts['name'])}")
    out.append(f"functional_group = {q(ts['fg'])}")
    out.append("structure = [")
    table_no = {"header": 1, "detail": 2, "summary": 3}
    for e in entries:
        if e.get("area"):
            out.append(f"  # ---- Table {table_no[e['area']]} - {e['area'].capitalize()}")
        ind = "  " + "  " * e["depth"]
        parts = []
        if "loop" in e:
            parts.append(f"loop = {q(e['loop'])}")
        else:
            parts.append(f"segment = {q(e['segment'])}")
        if "in" in e:
            parts.append(f"in = {q(e['in'])}")
        parts.append(f"req = {q(e['req'])}")
        parts.append(f"max = {fmt_max(e['max'])}")
        if e.get("area"):
            parts.append(f"area = {q(e['area'])}")
        line = ind + "{ " + ", ".join(parts) + " },"
        if "segment" in e:
            line += f"  # {e['name']}"
        out.append(line)
    out.append("]")
    out.append("")
    if hierarchy:
        out.append("# HL hierarchy: level codes (HL03, element 735) and the BSN05 (element 1005)")
        out.append("# structure codes, meanings per REFERENCE.md section 3.3.")
        out.append("[hierarchy]")
        out.append('segment = "HL"')
        out.append('levels = { S = "Shipment", O = "Order", T = "Tare", P = "Pack", Q = "Subpack", '
                   'I = "Item", F = "Component", D = "Product description" }')
        out.append('structure_element = "BSN05"')
        out.append('structures = { "0001" = ["S", "O", "P", "I"], "0002" = ["S", "O", "I", "P"], '
                   '"0003" = ["S", "P", "O", "I"], "0004" = ["S", "O", "I"] }')
        out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out))


# ---------------------------------------------------------------------------
# Code lists per version
# ---------------------------------------------------------------------------
ACK_ELEMENTS = {"715", "716", "717", "718", "720", "723", "620", "621", "479", "618"}


def build_codes(version, lists, elements):
    codes = {}
    for el, cl in lists.items():
        names = cl["names"]
        if cl["values"] is not None:
            values = list(cl["values"])
            missing = [c for c in names if c not in values]
            if missing:
                warn(f"codes {el}: described codes not in values line: {missing}")
            complete = cl["count"] is not None and len(values) == cl["count"]
            if cl["count"] is not None and len(values) != cl["count"]:
                warn(f"codes {el}: values line has {len(values)} codes, header says {cl['count']}")
            basis = "values line"
        else:
            values = list(names)
            # a described list whose size equals the stated list size is the whole list
            complete = cl["count"] is not None and len(values) == cl["count"]
            basis = "descriptions"
        size = f" ({cl['count']} values in 004010 list)" if cl["count"] else ""
        src = f"X12-TABLES.md 3: {cl['title']}{size}"
        if el in ("620", "621"):
            if version == "004010":
                continue  # 999-only elements
            # the tables label the count "004010 list", but these elements exist only in 005010
            note = f"{src}; complete: {len(values)} values = stated list size, matches REFERENCE.md 2.2"
        elif version == "005010":
            if el in ("715", "717") and complete:
                # 997 status lists: REFERENCE.md 2.2 gives the same codes for 005010 and 3.6
                # names no 005010 additions to them.
                note = f"{src}; complete for 005010 too: REFERENCE.md 2.2 gives the same list"
            elif el == "716":
                note = (f"{src}; kept open for 005010: REFERENCE.md 2.2/3.6 call 19 a 005010 addition "
                        "and do not list 20-22")
            elif complete:
                complete = False
                note = f"{src}; the full 004010 list, not confirmed complete for 005010"
            else:
                note = f"{src}; partial list"
        elif complete:
            note = f"{src}; complete: {len(values)} values = the stated list size ({basis})"
        else:
            note = f"{src}; partial list"
        codes[el] = (values, complete, dict(names), note)
    for el, (cl, complete, names) in envelope_codes(version).items():
        codes[el] = (cl, complete, names, "REFERENCE.md section 1")
    for el, per in ack_codes().items():
        if version in per:
            cl, complete, names = per[version]
            codes[el] = (cl, complete, names, "REFERENCE.md 2.2" + (" (complete)" if complete else ""))
    # drop lists for elements not in this version's dictionary
    for el in list(codes):
        if el not in elements:
            warn(f"{version}: code list for element {el} which no segment uses; dropped")
            del codes[el]
    # code values must fit the element
    for el, (cl, complete, names, note) in codes.items():
        e = elements[el]
        for c in cl:
            if not (e["min"] <= len(c) <= e["max"]):
                warn(f"{version}: code {c!r} of element {el} does not fit length {e['min']}/{e['max']}")
    return codes


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
NOTE_RX = re.compile(r"^([PRECL])((?:\d{2}){2,})$")


def check_version(outdir, version):
    def load(name):
        p = os.path.join(outdir, name)
        try:
            with open(p, "rb") as f:
                return tomllib.load(f)
        except Exception as ex:  # noqa: BLE001
            err(f"{version}/{name}: TOML does not parse: {ex}")
            return None

    el = load("elements.toml")
    sg = load("segments.toml")
    if el is None or sg is None:
        return
    elements = el["elements"]
    for k, e in elements.items():
        if e["type"] not in TYPES:
            err(f"{version}: element {k} has bad type {e['type']}")
        if not (0 < e["min"] <= e["max"]):
            err(f"{version}: element {k} bad length {e['min']}/{e['max']}")
        if "codes" in e:
            if "codes_complete" not in e:
                err(f"{version}: element {k} codes without codes_complete")
            for c in e.get("code_names", {}):
                if c not in e["codes"]:
                    err(f"{version}: element {k} code_names has {c} not in codes")
    composites = sg.get("composites", {})
    segments = sg["segments"]

    def check_positions(owner, positions, syntax):
        for i, p in enumerate(positions, 1):
            if p.get("req") not in ("M", "O", "X"):
                err(f"{version} {owner}{i:02d}: bad req {p.get('req')}")
            if "ref" in p:
                if p["ref"] not in elements:
                    err(f"{version} {owner}{i:02d}: element {p['ref']} not in elements.toml")
                if "type" in p and p["type"] not in TYPES:
                    err(f"{version} {owner}{i:02d}: bad type {p['type']}")
            elif "composite" in p:
                if p["composite"] not in composites:
                    err(f"{version} {owner}{i:02d}: composite {p['composite']} not defined")
            else:
                err(f"{version} {owner}{i:02d}: neither ref nor composite")
        involved = collections.defaultdict(set)
        for n in syntax:
            m = NOTE_RX.match(n)
            if not m:
                err(f"{version} {owner}: bad syntax note {n}")
                continue
            ps = [int(m.group(2)[j:j + 2]) for j in range(0, len(m.group(2)), 2)]
            for j, x in enumerate(ps):
                if not (1 <= x <= len(positions)):
                    err(f"{version} {owner}: note {n} refers to missing position {x:02d}")
                else:
                    involved[x].add("first" if (m.group(1) in "CL" and j == 0) else "other")
        # consistency of X flags with notes (warnings only: the tables are authoritative)
        for i, p in enumerate(positions, 1):
            if p.get("req") == "X" and i not in involved:
                warn(f"{version} {owner}{i:02d}: X but in no syntax note")
            if p.get("req") == "M" and i in involved:
                warn(f"{version} {owner}{i:02d}: M but in syntax note(s)")

    for sid, s in segments.items():
        check_positions(sid, s["elements"], s.get("syntax", []))
    for cid, c in composites.items():
        check_positions(cid, c["components"], c.get("syntax", []))

    for sid in SETS[version]:
        ts = load(f"{sid}.toml")
        if ts is None:
            continue
        st = ts["structure"]
        if st[0].get("segment") != "ST" or st[-1].get("segment") != "SE" or "in" in st[0] or "in" in st[-1]:
            err(f"{version} {sid}: ST must be first and SE last at top level")
        declared = set()
        level_ids = collections.defaultdict(set)
        expect_trigger = None
        for n, e in enumerate(st):
            where = e.get("in", "")
            if where and where not in declared:
                err(f"{version} {sid}: entry {n} in undeclared loop path {where}")
            if not isinstance(e["max"], int) and e["max"] != ">1":
                err(f"{version} {sid}: entry {n} bad max {e['max']}")
            if e.get("req") not in ("M", "O"):
                err(f"{version} {sid}: entry {n} bad req")
            if expect_trigger:
                path, lid = expect_trigger
                base = lid.split("-")[0]
                if e.get("in") != path or e.get("segment") != base:
                    err(f"{version} {sid}: loop {path} does not start with its trigger segment {base}")
                elif e["req"] != "M" or e["max"] != 1:
                    warn(f"{version} {sid}: trigger {base} of {path} is not M 1")
                expect_trigger = None
            if "loop" in e:
                if e["loop"] in level_ids[where]:
                    err(f"{version} {sid}: duplicate loop id {e['loop']} in {where or 'top level'}")
                level_ids[where].add(e["loop"])
                path = (where + "/" if where else "") + e["loop"]
                declared.add(path)
                expect_trigger = (path, e["loop"])
            else:
                if e["segment"] not in segments:
                    err(f"{version} {sid}: segment {e['segment']} not in segments.toml")
        areas = [e["area"] for e in st if "area" in e]
        if not areas or areas[0] != "header":
            err(f"{version} {sid}: first entry must carry area = header")
        if ts["id"] != sid:
            err(f"{version} {sid}: id mismatch")


# ---------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("tables", nargs="?", default="../shared/docs/X12-TABLES.md",
                    help="path to X12-TABLES.md (default ../shared/docs/X12-TABLES.md)")
    ap.add_argument("--out", default=os.path.join(here, "..", "grammars", "x12"),
                    help="output directory (default grammars/x12 next to scripts/)")
    ap.add_argument("--check-only", action="store_true", help="only run the checks on existing files")
    args = ap.parse_args()

    if not args.check_only:
        with open(args.tables, encoding="utf-8") as f:
            lines = f.readlines()
        structures = parse_structures(lines)
        segs, comps = parse_dictionary(lines)
        lists = parse_codes(lines)
        renames = []
        for v in VERSIONS:
            normalise_types(segs[v])
            normalise_types(comps[v])
        for v in VERSIONS:
            other = "005010" if v == "004010" else "004010"
            allsegs = collections.OrderedDict(envelope_segments(v))
            for sid, d in segs[v].items():
                allsegs[sid] = d
            elements = build_elements(v, allsegs, comps[v], segs[other], comps[other])
            codes = build_codes(v, lists, elements)
            outdir = os.path.join(args.out, v)
            os.makedirs(outdir, exist_ok=True)
            write_elements(os.path.join(outdir, "elements.toml"), v, elements, codes)
            write_segments(os.path.join(outdir, "segments.toml"), v, allsegs, comps[v], elements)
            for sid in SETS[v]:
                ts = structures.get((v, sid))
                if ts is None:
                    err(f"{v}: no structure for {sid}")
                    continue
                entries = flatten(ts, renames)
                write_set(os.path.join(outdir, f"{sid}.toml"), ts, entries, hierarchy=(sid == "856"))
            extra = sorted(k[1] for k in structures if k[0] == v and k[1] not in SETS[v])
            if extra:
                warn(f"{v}: structures not written: {extra}")
        for r in renames:
            print("RENAMED:", r)

    for v in VERSIONS:
        check_version(os.path.join(args.out, v), v)

    for w in warnings:
        print("warning:", w)
    for e in errors:
        print("ERROR:", e)
    print(f"{len(errors)} error(s), {len(warnings)} warning(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
