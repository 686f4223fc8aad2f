"""The web console in a real browser (Debian's chromium, driven by Playwright) against
``cloudperf serve`` run as a separate process over real measurements of the impaired test
hosts.

Set-up (once for the module), as an operator of the system does it, with the ``cloudperf``
command into the server's SQLite store: three test hosts (clean, 25 % loss, slow) measured by
``cloudperf measure`` under two probe names (200 probes a host, 10 ms apart); ``cloudperf
admin import`` of an ip2asn TSV and a DB-IP city CSV written for this run, which place each
host in its own country and the probes in two more (documentation ranges: catalogue data
only), and tag the measurements stored before them; ``admin register-probe`` and
``admin create-user`` for a user of each role.

Checked as a user sees it: logging in; the matrix has the hosts' cells with the configured
loss (read back through the keyboard readout and the hover tooltip: lost counts within four
binomial sigmas of 25 % of what was sent); the smoke graph of the lossy pair draws its median
in the colour of its measured loss and reads out that loss; Tab reaches every control of
every page; a viewer sees no admin forms; no console errors (the one expected 401 of
``GET /v1/me`` before logging in aside); a phone-width page does not scroll sideways.
Screenshots go to ``CLOUDPERF_SCREENSHOTS`` (default ``build/screenshots/``; the README's
images in ``docs/screenshots/`` are copies from one run).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.catalog import Location
from tests.e2e.conftest import _cli_prefix
from tests.support.admin_cli import CHEAP_ARGON2
from tests.support.admin_cli import admin as _admin
from tests.support.testhosts import Impairment, TestNetwork

pytest.importorskip("playwright")
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("CLOUDPERF_SCREENSHOTS") or REPO / "build" / "screenshots")
COUNT = 200
LOSSY = 0.25
SIGMAS = 4
PASSWORD = "console-test-password"
# The made-up places of the test hosts and probes: (impairment or None, ASN, AS name,
# country, state, city). The probes' places get documentation ranges (never probed).
HOSTS: dict[str, tuple[Impairment, int, str, str, str, str]] = {
    "clean": (Impairment(delay_ms=4.0, jitter_ms=1.0), 64500, "EXAMPLE-TRANSIT Example Transit",
              "AU", "New South Wales", "Sydney"),
    "lossy": (Impairment(delay_ms=20.0, jitter_ms=4.0, loss=LOSSY), 64501,
              "LOSSY-LINK Lossy Link", "DE", "Hesse", "Frankfurt am Main"),
    "slow": (Impairment(delay_ms=60.0, jitter_ms=8.0), 64502, "FAR-AWAY Far Away", "JP",
             "Tokyo", "Tokyo"),
}  # fmt: skip
SOURCES: dict[str, tuple[str, int, str, str, str, str]] = {
    "probe-akl": ("198.51.100.10", 64510, "KIWI-NET Kiwi Net", "NZ", "Auckland", "Auckland"),
    "probe-chi": ("198.51.100.20", 64511, "LAKE-NET Lake Net", "US", "Illinois", "Chicago"),
}  # fmt: skip
USERS = {"vic": "viewer", "otto": "operator", "ada": "admin"}


@dataclass
class Site:
    url: str
    hosts: dict[str, str]  # kind -> address
    measured: dict[tuple[str, str], dict[str, Any]]  # (probe, kind) -> measure --json row
    places: dict[str, Location]  # host kind or probe -> its catalogue location
    browser: Browser
    errors: list[str] = field(default_factory=list)


def _catalogue_files(folder: Path, hosts: dict[str, str]) -> tuple[Path, Path]:
    """An ip2asn TSV and a DB-IP city CSV: one range per test host and per probe's place."""
    rows: list[tuple[str, int, str, str, str, str]] = [
        (hosts[kind], asn, name, cc, state, city)
        for kind, (_, asn, name, cc, state, city) in HOSTS.items()
    ]
    rows += list(SOURCES.values())
    rows.sort(key=lambda r: ipaddress.ip_address(r[0]))
    ip2asn, cities = folder / "ip2asn.tsv", folder / "cities.csv"
    ip2asn.write_text("".join(f"{a}\t{a}\t{asn}\t{cc}\t{name}\n" for a, asn, name, cc, *_ in rows))
    cities.write_text(
        "".join(f'{a},{a},ZZ,{cc},"{state}","{city}",0,0\n' for a, _, _, cc, state, city in rows)
    )
    return ip2asn, cities


async def _places(store: str, hosts: dict[str, str]) -> dict[str, Location]:
    """Where the catalogue puts each host and probe (as the import named them)."""
    async with Services(Config(store=store)) as services:
        catalog = await services.catalog()
        out = {}
        for name, address in [*hosts.items(), *((p, v[0]) for p, v in SOURCES.items())]:
            found = await catalog.locate(address)
            assert found is not None, address
            out[name] = found
        return out


def _set_up(store: str, hosts: dict[str, str], folder: Path) -> dict[str, Location]:
    ip2asn, cities = _catalogue_files(folder, hosts)
    _admin(store, "import", "ip2asn", str(ip2asn))  # tags what was measured before it
    _admin(store, "import", "cities", str(cities))
    places = asyncio.run(_places(store, hosts))
    for probe in SOURCES:
        token = _admin(store, "register-probe", probe, "--location", places[probe].name)
        assert token.startswith(f"cpp_{probe}_")
    for name, role in USERS.items():
        _admin(store, "create-user", name, "--role", role, "--password-stdin", stdin=PASSWORD)
    return places


def _measure(store: str, hosts: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """``cloudperf measure`` from both probes at once; the rows it printed."""
    addresses = list(hosts.values())
    options = ["--count", str(COUNT), "--period-ms", "10", "--timeout-ms", "500", "--json"]
    procs = {
        probe: subprocess.Popen(
            [*_cli_prefix(), "measure", *addresses, "--source", probe, "--store", store, *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for probe in SOURCES
    }
    out: dict[tuple[str, str], dict[str, Any]] = {}
    kind_of = {a: k for k, a in hosts.items()}
    for probe, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        for row in json.loads(stdout):
            out[(probe, kind_of[row["target"]])] = row
    return out


def _start_server(store: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, CLOUDPERF_STORE=store, **CHEAP_ARGON2)
    proc = subprocess.Popen(
        [*_cli_prefix(), "serve", "--port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.fullmatch(r"cloudperf serve: listening on (http://127\.0\.0\.1:\d+)\n", line)
    if match is None:
        proc.kill()
        pytest.fail(f"the server did not start: {line!r} {proc.communicate()[1]}")
    return proc, match.group(1)


@pytest.fixture(scope="module")
def site(testnet: TestNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "chromium is not installed (Debian package `chromium`; scripts/test installs it)"
        )
    folder = tmp_path_factory.mktemp("console")
    store = f"sqlite:///{folder / 'cloudperf.db'}"
    hosts = {
        kind: testnet.add_host(delay_ms=imp.delay_ms, jitter_ms=imp.jitter_ms, loss=imp.loss)
        for kind, (imp, *_) in HOSTS.items()
    }
    measured = _measure(store, hosts)
    places = _set_up(store, hosts, folder)
    server, url = _start_server(store)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield Site(url=url, hosts=hosts, measured=measured, places=places, browser=browser)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def page_for(site: Site) -> Iterator[Callable[..., Page]]:
    """``page_for("vic")``: a fresh browser context logged in as that user through the form;
    console errors of every page are collected and checked after the test."""
    pages: list[tuple[Page, list[str]]] = []

    def open_as(user: str, width: int = 1280, height: int = 900) -> Page:
        context = site.browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        errors: list[str] = []
        signed_in = [False]

        def on_console(msg: ConsoleMessage) -> None:
            where = msg.location.get("url", "")
            expected = not signed_in[0] and "status of 401" in msg.text and where.endswith("/v1/me")
            if msg.type == "error" and not expected:
                errors.append(f"{msg.text} ({where})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.goto(f"{site.url}/")
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.locator("#who-name").get_by_text(f"{user} ({USERS[user]})").wait_for()
        signed_in[0] = True
        pages.append((page, errors))
        return page

    yield open_as
    problems = [e for _, errors in pages for e in errors]
    for page, _ in pages:
        page.context.close()
    assert not problems, problems


def shoot(page: Page, name: str) -> None:
    """A screenshot of the page down to the end of its content (tooltips included)."""
    bottom = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('main > *, .tooltip:not([hidden])')]"
        ".map((el) => el.getBoundingClientRect().bottom + window.scrollY))"
    )
    width = page.viewport_size["width"] if page.viewport_size else 1280
    page.screenshot(path=SHOTS / name, full_page=True,
                    clip={"x": 0, "y": 0, "width": width, "height": bottom + 16})  # fmt: skip


def wait_for_matrix(page: Page) -> None:
    page.wait_for_selector("body[data-matrix-rendered]", state="attached")


def lost_within_sigmas(lost: int, sent: int, p: float) -> bool:
    return abs(lost - sent * p) <= SIGMAS * math.sqrt(sent * p * (1 - p))


def read_cells(page: Page) -> dict[tuple[str, str], str]:
    """Every cell's readout, walking the matrix with the arrow keys."""
    canvas = page.locator("canvas.matrix-canvas")
    canvas.focus()
    page.keyboard.press("Control+Home")
    readout = page.get_by_test_id("matrix-readout")
    cells: dict[tuple[str, str], str] = {}
    for _ in SOURCES:
        page.keyboard.press("Home")
        for _ in HOSTS:
            text = readout.inner_text()
            match = re.match(r"(.+?) → (\S+) .*?: (.*)", text)
            assert match, text
            cells[(match.group(1), match.group(2))] = match.group(3)
            page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowDown")
    return cells


LOSS_RE = re.compile(r"loss [\d.]+ % \((\d[\d,]*) of (\d[\d,]*) probes lost\)")


def test_matrix_shows_each_host_with_its_configured_loss(
    site: Site, page_for: Callable[..., Page]
) -> None:
    page = page_for("vic")
    wait_for_matrix(page)
    summary = page.get_by_test_id("matrix-summary").inner_text()
    assert summary.startswith("2 source locations \u00d7 3 countries, 6 pairs with data"), summary
    page.get_by_label("Colour by").select_option("loss")
    cells = read_cells(page)
    country = {kind: str(site.places[kind].country_code) for kind in HOSTS}
    assert sorted(country.values()) == ["AU", "DE", "JP"]
    for probe in SOURCES:
        for kind in HOSTS:
            text = cells[(site.places[probe].name, country[kind])]
            match = LOSS_RE.search(text)
            assert match, text
            lost, sent = (int(g.replace(",", "")) for g in match.groups())
            row = site.measured[(probe, kind)]
            # The cell is what was measured, and what was measured is the configured loss.
            assert (sent, sent - lost) == (row["sent"], row["received"]) == (COUNT, row["received"])
            configured = LOSSY if kind == "lossy" else 0.0
            if configured:
                assert lost_within_sigmas(lost, sent, configured), (kind, lost, sent)
            else:
                assert lost == 0, (kind, text)
    # The same figures on hover: point at the lossy host's cell of the first row.
    canvas = page.locator("canvas.matrix-canvas")
    box = canvas.bounding_box()
    assert box is not None
    left, top, size = (
        float(canvas.get_attribute(f"data-{k}") or 0) for k in ("left", "top", "cell")
    )
    col = sorted(country.values()).index(country["lossy"])
    page.mouse.move(box["x"] + left + (col + 0.5) * size, box["y"] + top + 0.5 * size)
    tip = page.locator("#matrix-tip")
    tip.wait_for(state="visible")
    first = min(site.places[p].name for p in SOURCES)
    assert tip.inner_text().startswith(f"{first} → DE Germany")
    assert LOSS_RE.search(tip.inner_text())
    shoot(page, "overview.png")


def test_smoke_graph_of_the_lossy_pair_shows_its_loss(
    site: Site, page_for: Callable[..., Page]
) -> None:
    page = page_for("vic")
    wait_for_matrix(page)
    page.locator("canvas.matrix-canvas").focus()
    page.keyboard.press("Control+Home")
    page.keyboard.press("ArrowRight")  # AU, DE, JP: the lossy host's country
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=re.compile("→ country DE")).wait_for()
    overall = page.get_by_test_id("stats-overall").locator("tbody tr td")
    overall.first.wait_for()
    sent, loss_text = overall.nth(0).inner_text(), overall.nth(1).inner_text()
    assert sent == str(COUNT)
    row = site.measured[("probe-akl", "lossy")]
    assert float(loss_text.rstrip(" %")) == pytest.approx(row["loss_ratio"] * 100, abs=0.05)
    assert lost_within_sigmas(COUNT - row["received"], COUNT, LOSSY)
    # Stepping through the graph with the keyboard reads out every step's loss: together
    # they are the probes lost.
    page.locator(".charts").focus()
    readout = page.get_by_test_id("chart-readout")
    page.keyboard.press("Home")
    steps = [readout.inner_text()]
    for _ in range(10):
        page.keyboard.press("ArrowRight")
        if readout.inner_text() == steps[-1]:
            break
        steps.append(readout.inner_text())
    counts = [re.search(r"loss [\d.]+ % \((\d+) of (\d+)\)", s) for s in steps]
    assert all(counts), steps
    assert sum(int(m.group(1)) for m in counts if m) == COUNT - row["received"]
    assert sum(int(m.group(2)) for m in counts if m) == COUNT
    # The median line is drawn in the colour of each step's loss bucket.
    series = page.evaluate(
        """async () => {
          const q = new URLSearchParams(location.hash.split("?")[1]);
          const url = `/v1/latency/series?probe_location=${encodeURIComponent(q.get("source"))}`
            + `&country=${q.get("dest")}&since=${q.get("range")}`;
          return (await fetch(url)).json();
        }"""
    )
    colours = {_loss_colour(p["loss_ratio"]) for p in series["points"] if p["sent"]}
    assert colours and all(_canvas_has(page, ".chart canvas", c) for c in colours), colours
    assert not _canvas_has(page, ".chart canvas", _loss_colour(0.0))  # no loss-free step
    # A readable screenshot: the last 20 minutes, steps of a minute.
    now = int(time.time())
    page.goto(f"{page.url.split('&range=')[0]}&range=custom&since={now - 1200}&until={now + 60}")
    page.get_by_test_id("stats-overall").wait_for()
    shoot(page, "smoke.png")


LOSS_COLOURS = [(0, "#1f9e00"), (0.01, "#0088cc"), (0.02, "#0050e6"), (0.05, "#5e00ff"),
                (0.1, "#a000e0"), (0.2, "#d1008f"), (0.5, "#d10000"), (1, "#7a0000")]  # fmt: skip


def _loss_colour(loss: float) -> str:
    return next(colour for limit, colour in LOSS_COLOURS if loss <= limit)


def _canvas_has(page: Page, selector: str, colour: str) -> bool:
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    found: bool = page.evaluate(
        """([selector, rgb]) => {
          const canvas = document.querySelector(selector);
          const {data} = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
          let n = 0;
          for (let i = 0; i < data.length; i += 4) {
            if (Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1])
                + Math.abs(data[i + 2] - rgb[2]) <= 12 && data[i + 3] > 240) n += 1;
          }
          return n >= 6;
        }""",
        [selector, rgb],
    )
    return found


CONTROLS = """() => {
  const all = [...document.querySelectorAll(
    'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')];
  const usable = all.filter((el) => !el.disabled && el.getClientRects().length > 0
    && !el.closest("[hidden]") && getComputedStyle(el).visibility !== "hidden");
  usable.forEach((el, i) => { el.dataset.kbd = String(i); });
  return usable.map((el) => el.getAttribute("aria-label") || el.textContent.trim() || el.name
    || el.tagName);
}"""


def _tab_through(page: Page) -> tuple[list[str], set[int]]:
    """The page's controls, and which of them Tab reached from the top of the page."""
    names: list[str] = []
    for _ in range(50):  # until the page has stopped adding controls
        again: list[str] = page.evaluate(CONTROLS)
        if again == names:
            break
        names = again
        page.wait_for_timeout(100)
    reached: set[int] = set()
    for _ in range(len(names) * 2 + 5):
        page.keyboard.press("Tab")
        index = page.evaluate("() => document.activeElement && document.activeElement.dataset.kbd")
        if index is not None:
            reached.add(int(index))
        if len(reached) == len(names):
            break
    return names, reached


def test_keyboard_reaches_every_control_of_every_page(
    site: Site, page_for: Callable[..., Page]
) -> None:
    page = page_for("ada")
    wait_for_matrix(page)
    lossy = site.hosts["lossy"]
    source = quote(site.places["probe-akl"].name)
    for route in ("overview", f"pair?source={source}&dest_by=country&dest=DE", "probes",
                  f"lookup?q={lossy}", "status", "admin", "account"):  # fmt: skip
        page.goto(f"{site.url}/#/{route}")
        page.reload()  # focus starts at the top of a freshly loaded page
        page.locator("main h1").wait_for()
        page.wait_for_load_state("networkidle")
        names, reached = _tab_through(page)
        missed = [n for i, n in enumerate(names) if i not in reached]
        assert len(names) > 5 and not missed, (route, missed)


def test_a_viewer_sees_no_admin_forms_an_operator_only_groups(
    site: Site, page_for: Callable[..., Page]
) -> None:
    viewer = page_for("vic")
    assert viewer.locator("#nav a", has_text="Admin").count() == 0
    viewer.goto(f"{site.url}/#/admin")
    viewer.get_by_text("Nothing to administer with your role.").wait_for()
    assert viewer.locator("main form, main section").count() == 0
    operator = page_for("otto")
    operator.goto(f"{site.url}/#/admin")
    operator.get_by_test_id("admin-groups").locator("form").wait_for()
    assert operator.locator("main section").count() == 1
    admin = page_for("ada")
    admin.goto(f"{site.url}/#/admin")
    for part in ("admin-groups", "admin-users", "admin-probes", "admin-pause"):
        admin.get_by_test_id(part).wait_for()


def test_admin_forms_change_what_the_api_holds(site: Site, page_for: Callable[..., Page]) -> None:
    page = page_for("ada")
    page.goto(f"{site.url}/#/admin")
    groups = page.get_by_test_id("admin-groups")
    groups.get_by_label("Group name").fill("far-away")
    far = sorted([site.places["slow"].name, site.places["lossy"].name])
    groups.get_by_label("Locations, one per line").fill("\n".join(far))
    groups.get_by_role("button", name="Save group").click()
    groups.get_by_text("Group saved.").wait_for()
    got = page.evaluate("async () => (await fetch('/v1/groups/far-away')).json()")
    assert got["items"] == far
    users = page.get_by_test_id("admin-users")
    users.get_by_label("User name").fill("newbie")
    users.get_by_label("Password", exact=True).fill("a long password")
    users.get_by_role("button", name="Create user").click()
    users.get_by_text("User created.").wait_for()
    assert users.get_by_role("row", name=re.compile("newbie")).count() == 1
    # A probe registered here gets its token once, and the token works at once.
    probes = page.get_by_test_id("admin-probes")
    probes.get_by_label("Probe name").fill("probe-new")
    probes.get_by_label("Location").fill(site.places["probe-chi"].name)
    probes.get_by_role("button", name="Register probe").click()
    token = probes.get_by_label("Token").input_value()
    assert re.fullmatch(r"cpp_probe-new_[A-Za-z0-9_-]{43}", token), token
    beat = page.request.post(
        f"{site.url}/v1/probe/heartbeat",
        headers={"authorization": f"Bearer {token}"},
        data={"fping_can_send": True, "agent_version": "test", "jobs_running": 0},
    )
    assert beat.status == 204, beat.text()
    assert probes.get_by_role("row", name=re.compile("probe-new")).count() == 1
    # Pause, then resume: the status says so each time.
    pause = page.get_by_test_id("admin-pause")
    pause.get_by_role("button", name="Pause scheduling").click()
    pause.get_by_text("Scheduling is paused").wait_for()
    assert page.evaluate("async () => (await fetch('/v1/status')).json()")["paused"] is True
    pause.get_by_role("button", name="Resume scheduling").click()
    pause.get_by_text("Scheduling is running.").wait_for()
    assert page.evaluate("async () => (await fetch('/v1/status')).json()")["paused"] is False


def test_probes_lookup_and_status_pages(site: Site, page_for: Callable[..., Page]) -> None:
    page = page_for("vic")
    page.goto(f"{site.url}/#/probes")
    probes = page.get_by_test_id("probes")
    probes.wait_for()
    for probe in SOURCES:
        row = probes.get_by_role("row", name=re.compile(probe)).inner_text()
        assert site.places[probe].name in row
    page.goto(f"{site.url}/#/lookup?q={site.hosts['lossy']}")
    page.get_by_text(site.places["lossy"].name).first.wait_for()
    rows = page.locator("table tbody tr")
    assert rows.count() == len(SOURCES)
    page.goto(f"{site.url}/#/status")
    assert "running" in page.get_by_test_id("status-summary").inner_text()


def test_phone_width_scrolls_the_matrix_not_the_page(
    site: Site, page_for: Callable[..., Page]
) -> None:
    page = page_for("vic", width=390, height=844)
    wait_for_matrix(page)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    shoot(page, "phone.png")
    assert (SHOTS / "phone.png").stat().st_size > 1000
