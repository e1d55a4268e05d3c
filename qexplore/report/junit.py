"""A nightly gate as JUnit XML, the report format CI systems read: one test case per variant ×
figure compared, a regression as a failure carrying the numbers and the verdict's interval, an
inconclusive figure as an error (it could not be judged either way)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from qexplore.results.compare import Delta, Gate
from qexplore.results.formats import cell


def _case(suite: ET.Element, d: Delta) -> None:
    case = ET.SubElement(suite, "testcase", classname=d.variant, name=d.what, time="0")
    figures = f"{cell(d.a, d.figure)} → {cell(d.b, d.figure)}"
    if d.change_pct is not None:
        figures += f" ({d.change_pct:+.1f} %)"
    if d.regression:
        ET.SubElement(case, "failure", type="regression",
                      message=f"{d.variant} {d.what}: {figures}").text = d.note
    elif d.inconclusive:
        ET.SubElement(case, "error", type="inconclusive",
                      message=f"{d.variant} {d.what}: {figures}, noise beyond the limit"
                      ).text = d.note
    else:
        ET.SubElement(case, "system-out").text = f"{figures}; {d.note}"


def write_junit(g: Gate, path: Path) -> Path:
    """The gate's JUnit XML at ``path``; a gate without a reference is one case, failed when
    the run itself failed."""
    ref = g.reference.run_id if g.reference else "none"
    suite = ET.Element("testsuite", name=f"qexplore compare {ref} → {g.run.run_id}",
                       errors=str(len(g.inconclusive)), skipped="0", time="0")
    props = ET.SubElement(suite, "properties")
    for name, value in (("recipe", g.run.recipe_name), ("reference", ref),
                        ("run", g.run.run_id), ("outcome", g.outcome)):
        ET.SubElement(props, "property", name=name, value=value)
    for d in g.deltas:
        _case(suite, d)
    case = ET.SubElement(suite, "testcase", classname=g.run.recipe_name, name="run complete",
                         time="0")
    failed = [v.name for v in g.run.variants if not v.ok]
    if g.run.status != "complete":
        ET.SubElement(case, "failure", type="failed", message=(
            f"{g.run.run_id} is {g.run.status}; failed variants: {', '.join(failed) or 'none'}"))
    elif g.reference is None:
        ET.SubElement(case, "system-out").text = (
            f"no earlier run passed a gate: {g.run.run_id} is now the reference")
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(len(suite.findall("testcase/failure"))))
    root = ET.Element("testsuites", name="qexplore")
    root.append(suite)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
