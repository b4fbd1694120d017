"""The `privnet` pytest plugin as pytest loads it (its pytest11 entry point), in pytest sessions of
their own (pytester, subprocess): inert for tests that do not ask for `privnet`, its options and
marker registered, and clear errors when `--privnet-dir` holds no running network.

The plugin with a running network (deploys, assertions, isolation) is tested end to end in
tests/e2e/test_example_project.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devnet.network import init_network

pytest_plugins = ["pytester"]

# Written by the inner session at its end: what the plugin did (or did not do) while it ran.
PROBE = """
import json, os, sys
from pathlib import Path

import pytest

FIXTURES = {}


def pytest_collection_modifyitems(items):
    for item in items:
        FIXTURES[item.name] = list(item.fixturenames)


def _children():
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.append(int(stat.parent.name))
    return found


def pytest_sessionfinish(session):
    config = session.config
    basetemp = config._tmp_path_factory.getbasetemp()
    Path(os.environ["PROBE_OUT"]).write_text(json.dumps({
        "plugin_loaded": config.pluginmanager.has_plugin("privnet"),
        "imported": [m for m in ("devnet.pytest_network", "devnet.pytest_session", "devnet.network")
                     if m in sys.modules],
        "children": _children(),
        "privnet_dirs": sorted(p.name for p in basetemp.iterdir() if p.name.startswith("privnet")),
        "fixtures": FIXTURES,
    }))
"""


def run_probe(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[
        pytest.RunResult, dict[str, object]]:
    out = pytester.path / "probe.json"
    monkeypatch.setenv("PROBE_OUT", str(out))
    pytester.makeconftest(PROBE)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", *args)
    return result, json.loads(out.read_text())


def test_a_session_without_privnet_starts_nothing_and_imports_nothing(pytester: pytest.Pytester,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_plain="""
        import pytest

        def test_arithmetic(tmp_path):
            assert 1 + 1 == 2

        @pytest.mark.privnet_no_isolation
        def test_marked_but_not_using_the_fixture():
            assert True
        """)
    result, probe = run_probe(pytester, monkeypatch, "--strict-markers")
    result.assert_outcomes(passed=2)
    assert probe["plugin_loaded"] is True  # loaded by its entry point, not by this test
    fixtures = probe["fixtures"]
    assert isinstance(fixtures, dict)
    assert "_privnet_isolation" in fixtures["test_arithmetic"]  # its autouse fixture ran, and did nothing:
    assert probe["imported"] == []  # no launcher, no web3 client imported by the plugin
    assert probe["children"] == []  # no node or manager process
    assert probe["privnet_dirs"] == []  # no network directory


def test_options_and_marker_are_registered(pytester: pytest.Pytester) -> None:
    helped = pytester.runpytest_subprocess("--help")
    helped.stdout.fnmatch_lines(["*--privnet-dir=DIR*", "*--privnet-nodes=N*"])
    markers = pytester.runpytest_subprocess("--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.privnet_no_isolation:*"])


def test_privnet_dir_without_a_network_is_a_clear_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    pytester.makepyfile(test_uses="""
        def test_one(privnet):
            raise AssertionError("never reached")
        """)
    empty = tmp_path / "empty"
    empty.mkdir()
    result, probe = run_probe(pytester, monkeypatch, f"--privnet-dir={empty}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*NetworkError: no network in {empty} (run privnet up)*"])
    assert probe["children"] == [] and probe["privnet_dirs"] == []


def test_privnet_dir_with_a_stopped_network_names_the_node(pytester: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stopped = tmp_path / "net"
    spec = init_network(stopped, nodes=1, insecure_p2p=True, dev_keys=True)  # written, never started
    pytester.makepyfile(test_uses="""
        def test_one(privnet):
            raise AssertionError("never reached")
        """)
    result, probe = run_probe(pytester, monkeypatch, f"--privnet-dir={stopped}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*node1 does not answer at {spec['nodes'][0]['rpc_url']}*"
                                 f"start the network with `privnet up --dir {stopped} --detach`*"])
    assert probe["children"] == []
