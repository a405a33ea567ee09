"""``linkage --format html|svg`` on a real Debian image (sshd -> libsystemd -> liblzma) and on
a tree whose file names and SONAMEs are hostile; the page opened in headless chromium."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from browser import browser  # noqa: F401  (the fixture)

from provcheck.testing import File

pytestmark = pytest.mark.slow  # a real browser (and real data): seconds each

SVG = "{http://www.w3.org/2000/svg}"
LIBDIR = "usr/lib/x86_64-linux-gnu"


def test_sshd_to_liblzma_page(elf, sshd_image, other_plugins, browser):  # noqa: F811
    out = elf.base / "linkage.html"
    res = elf.run_cli(*other_plugins, "linkage", sshd_image, "--from", "sshd", "--to", "liblzma",
                      "--format", "html", "-o", out)
    assert res.exit_code == 0, res.stderr
    page = browser.open(out)
    assert page.text("#pc-status").lower().startswith("found")
    assert "2 layers" in page.text("header.top")
    nodes = page.page.locator("#graph-box .pc-node")
    assert sorted(nodes.evaluate_all("ns => ns.map(n => n.getAttribute('data-id'))")) == [
        f"{LIBDIR}/liblzma.so.5.4.1", f"{LIBDIR}/libsystemd.so.0.35.0", "usr/sbin/sshd"]
    labels = page.page.locator("#graph-box .pc-edge text").evaluate_all("ns => ns.map(n => n.textContent)")
    assert sorted(labels) == ["liblzma.so.5", "libsystemd.so.0"]
    # each node names its package and layer
    sub = page.page.locator("#graph-box .pc-node[data-id='usr/sbin/sshd'] .sub").evaluate("n => n.textContent")
    assert sub.startswith("openssh-server") and "layer" in sub
    assert page.count("#graph-box .pc-node.hl") == 2  # what was asked for
    page.shot("linkage-sshd-liblzma")

    # search: one match, the rest dimmed, the edges that do not touch it too
    page.page.fill("#graph-search", "libsystemd")
    assert page.page.locator("#graph-box .pc-node.match").evaluate_all(
        "ns => ns.map(n => n.getAttribute('data-id'))") == [f"{LIBDIR}/libsystemd.so.0.35.0"]
    assert page.count("#graph-box .pc-node.dim") == 2 and page.count("#graph-box .pc-edge.dim") == 0
    assert page.text("#graph-count").startswith("1 match of 3 files")
    page.page.fill("#graph-search", "openssh-server")  # by package
    assert page.count("#graph-box .pc-node.match") == 1
    page.page.fill("#graph-search", "nothing-like-this")
    assert page.count("#graph-box .pc-node.match") == 0 and page.count("#graph-box .pc-node.dim") == 3
    page.page.fill("#graph-search", "")
    # zoom and pan move the viewport
    before = page.page.get_attribute("#graph-box .pc-viewport", "transform")
    page.page.click("#graph-zoom-in")
    zoomed = page.page.get_attribute("#graph-box .pc-viewport", "transform")
    assert zoomed != before and "scale(1.25" in zoomed
    box = page.page.locator("#graph-box").bounding_box()
    mid = box["y"] + box["height"] / 2
    page.page.mouse.move(box["x"] + 200, mid)
    page.page.mouse.down()
    page.page.mouse.move(box["x"] + 320, mid + 10)
    page.page.mouse.up()
    assert page.page.get_attribute("#graph-box .pc-viewport", "transform") != zoomed
    page.page.mouse.wheel(0, 300)
    assert "scale(1.25" not in page.page.get_attribute("#graph-box .pc-viewport", "transform")
    # the files and edges tables under the graph
    assert page.count("#linkage-files tbody tr.row") == 3 and page.count("#linkage-edges tbody tr.row") == 2
    page.assert_quiet()


def test_who_links_liblzma_page_and_svg(elf, sshd_image, other_plugins, browser):  # noqa: F811
    out = elf.base / "who.html"
    res = elf.run_cli(*other_plugins, "linkage", sshd_image, "--who-links", "liblzma.so.5", "--format", "html",
                      "-o", out)
    assert res.exit_code == 0, res.stderr
    page = browser.open(out)
    n = page.count("#graph-box .pc-node")
    assert n >= 4  # liblzma, libsystemd, sshd and more
    page.page.fill("#graph-search", "sshd")
    assert page.page.locator("#graph-box .pc-node.match").count() >= 1
    page.page.keyboard.press("Enter")
    page.shot("linkage-who-links-liblzma")
    page.assert_quiet()

    svg_path = elf.base / "who.svg"
    res = elf.run_cli(*other_plugins, "linkage", sshd_image, "--who-links", "liblzma.so.5", "--format", "svg",
                      "-o", svg_path)
    assert res.exit_code == 0, res.stderr
    root = ET.parse(svg_path).getroot()
    assert root.tag == f"{SVG}svg"
    ids = [g.get("data-id") for g in root.iter(f"{SVG}g") if "pc-node" in (g.get("class") or "")]
    assert len(ids) == n and "usr/sbin/sshd" in ids
    assert root.find(f"{SVG}style") is not None and root.find(f"{SVG}script") is None
    # the same picture as the page's
    html_svg = re.search(r"<svg .*?</svg>", out.read_text(), flags=re.S).group(0)
    assert html_svg.count('class="pc-node') == n


def test_hostile_names_in_the_graph(elf, gcc, other_plugins, browser):  # noqa: F811
    evil = '<img src=x onerror="window.__pwned=1">'
    lib = gcc.lib("libfoo.so.1", "int foo(void) { return 1; }\n", "-nostdlib")
    app = gcc.exe("int foo(void);\nvoid _start(void) { foo(); for (;;) ; }\n", "-nostdlib", "libfoo.so.1",
                  inputs={"libfoo.so.1": lib})
    root = elf.tree({f"usr/bin/{evil}</style><script>window.__pwned=1</script>": File(app, 0o755),
                     f"{LIBDIR}/libfoo.so.1": lib})
    out = elf.base / "evil.html"
    res = elf.run_cli(*other_plugins, "linkage", root, "--to", "libfoo.so.1", "--format", "html", "-o", out)
    assert res.exit_code == 0, res.stderr
    page = browser.open(out)
    assert page.page.evaluate("window.__pwned") is None
    names = page.page.locator("#graph-box .pc-node").evaluate_all("ns => ns.map(n => n.getAttribute('data-id'))")
    assert f"usr/bin/{evil}</style><script>window.__pwned=1</script>" in names
    assert page.count("main img") == 0
    page.page.fill("#graph-search", "onerror")
    assert page.count("#graph-box .pc-node.match") == 1
    page.assert_quiet()
    svg = elf.base / "evil.svg"
    assert elf.run_cli(*other_plugins, "linkage", root, "--to", "libfoo.so.1", "--format", "svg",
                       "-o", svg).exit_code == 0
    ET.parse(svg)  # well-formed: every name escaped
    assert "<img" not in svg.read_text() and "<script" not in svg.read_text()


def test_interposition_edge(elf, gcc, other_plugins, browser):  # noqa: F811
    """A liblzma that defines RSA_public_decrypt (libcrypto's) is drawn with an edge to libcrypto."""
    crypto = gcc.lib("libcrypto.so.3", "int RSA_public_decrypt(void) { return 1; }\n", "-nostdlib")
    lzma = gcc.lib("liblzma.so.5", "int lzma_code(void) { return 0; }\nint RSA_public_decrypt(void) { return 0; }\n",
                   "-nostdlib")
    app = gcc.exe("int lzma_code(void);\nvoid _start(void) { lzma_code(); for (;;) ; }\n", "-nostdlib",
                  "liblzma.so.5", inputs={"liblzma.so.5": lzma})
    root = elf.tree({"usr/sbin/sshd": File(app, 0o755), f"{LIBDIR}/liblzma.so.5": lzma,
                     f"{LIBDIR}/libcrypto.so.3": crypto})
    out = elf.base / "interpose.html"
    res = elf.run_cli(*other_plugins, "linkage", root, "--from", "sshd", "--to", "liblzma", "--format", "html",
                      "-o", out)
    assert res.exit_code == 0, res.stderr
    page = browser.open(out)
    edge = page.page.locator("#graph-box .pc-edge.interposition")
    assert edge.count() == 1
    assert (edge.get_attribute("data-src"), edge.get_attribute("data-dst")) == (f"{LIBDIR}/liblzma.so.5",
                                                                                 f"{LIBDIR}/libcrypto.so.3")
    assert "RSA_public_decrypt" in edge.evaluate("e => e.textContent")
    assert "interposition" in page.text("#linkage-edges")
    page.shot("linkage-interposition")
    page.assert_quiet()
