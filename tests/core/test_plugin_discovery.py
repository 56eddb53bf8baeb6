"""Runtime discovery of third-party plugins, with throwaway distributions made in the test.

Each distribution is a package plus a ``*.dist-info`` directory (METADATA, entry_points.txt)
on ``sys.path``, which is what an installed wheel amounts to for ``importlib.metadata``. Every
scenario runs in a fresh interpreter so that module caches and the global registry start clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HOOK_MODULE = """
import matforge

{api_line}

{prelude}

@matforge.hookimpl
def matforge_register(registry):
{body}
"""


def make_distribution(
    site: Path,
    dist: str,
    *,
    plugin: str | None = None,
    register: str = "pass",
    prelude: str = "",
    api: object = (1,),
    version: str = "0.1.0",
) -> str:
    """Write an importable package and its dist-info into ``site``; returns the package name.

    ``api`` is written as Python source after ``MATFORGE_PLUGIN_API =`` (``None``: no line)."""
    package = dist.replace("-", "_")
    plugin = plugin or dist
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text("")
    (site / package / "plugin.py").write_text(
        HOOK_MODULE.format(
            api_line="" if api is None else f"MATFORGE_PLUGIN_API = {api}",
            prelude=prelude,
            body=textwrap.indent(register, "    "),
        )
    )
    (site / package / "model.py").write_text(
        "import sys\nLOADED = True\nclass SchNet:\n    '''A third-party model.'''\n"
    )
    info = site / f"{package}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[matforge.plugins]\n{plugin} = {package}.plugin\n")
    return package


def run_python(site: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MATFORGE_")}
    environment["PYTHONPATH"] = os.pathsep.join([str(site), environment.get("PYTHONPATH", "")])
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def run_json(site: Path, code: str, **env: str):
    result = run_python(site, code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


REGISTER_SCHNET = 'registry.register("model", "schnet", "acme_schnet.model:SchNet", summary="SchNet")'


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    return path


def test_a_third_party_model_is_found_through_its_entry_point(site):
    make_distribution(site, "acme-schnet", plugin="acme", register=REGISTER_SCHNET, version="1.2.3")
    info = run_json(site, """
        import json, matforge
        i = matforge.registry.info("model", "schnet")
        print(json.dumps([i.distribution, i.version, i.plugin, i.summary]))
    """)
    assert info == ["acme-schnet", "1.2.3", "acme", "SchNet"]


def test_model_code_is_imported_only_when_the_model_is_requested(site):
    make_distribution(site, "acme-schnet", register=REGISTER_SCHNET)
    loaded = run_json(site, """
        import json, sys, matforge
        before = "acme_schnet.model" in sys.modules
        matforge.registry.names("model"); matforge.registry.info("model", "schnet")
        listed = "acme_schnet.model" in sys.modules
        cls = matforge.registry.get("model", "schnet")
        print(json.dumps([before, listed, "acme_schnet.model" in sys.modules, cls.__name__]))
    """)
    assert loaded == [False, False, True, "SchNet"]


def test_listing_installed_plugins_reads_metadata_without_importing_them(site):
    make_distribution(site, "acme-schnet", register=REGISTER_SCHNET)
    listed = run_json(site, """
        import json, sys
        from matforge.plugins import installed_plugins
        names = [p.name for p in installed_plugins()]
        imported = [m for m in sys.modules if m.startswith(("acme_schnet", "matforge_", "torch"))]
        print(json.dumps([names, imported]))
    """)
    names, imported = listed
    assert "acme-schnet" in names and names[0] == "core"
    assert imported == []


def test_a_plugin_that_fails_to_import_is_reported_and_the_others_still_work(site):
    make_distribution(site, "acme-schnet", register=REGISTER_SCHNET)
    make_distribution(site, "broken-plugin", prelude="raise RuntimeError('kaboom at import')")
    result = run_python(site, """
        import json, matforge
        status = {p.name: [p.status, p.error] for p in matforge.registry.plugins()}
        print(json.dumps([matforge.registry.names("model"), status["broken-plugin"]]))
    """)
    assert result.returncode == 0, result.stderr
    models, broken = json.loads(result.stdout.strip().splitlines()[-1])
    assert "schnet" in models
    assert broken[0] == "broken" and "kaboom at import" in broken[1]
    assert "broken-plugin" in result.stderr and "MATFORGE_STRICT_PLUGINS" in result.stderr


def test_a_plugin_whose_registration_raises_adds_nothing(site):
    make_distribution(
        site,
        "half-plugin",
        register='registry.register("model", "half", "half_plugin.model:SchNet")\nraise ValueError("oops")',
    )
    status = run_json(site, """
        import json, warnings, matforge
        warnings.simplefilter("ignore")
        s = {p.name: p.status for p in matforge.registry.plugins()}
        print(json.dumps([s["half-plugin"], "half" in matforge.registry.names("model")]))
    """)
    assert status == ["broken", False]


def test_strict_mode_turns_a_broken_plugin_into_an_error(site):
    make_distribution(site, "broken-plugin", prelude="raise RuntimeError('kaboom at import')")
    result = run_python(site, "import matforge; matforge.registry.names('model')", MATFORGE_STRICT_PLUGINS="1")
    assert result.returncode != 0
    assert "PluginError" in result.stderr and "kaboom at import" in result.stderr


def test_two_plugins_claiming_one_name_give_an_error_naming_both_distributions(site):
    make_distribution(site, "acme-schnet", register=REGISTER_SCHNET)
    make_distribution(site, "other-schnet", register=REGISTER_SCHNET.replace("acme_schnet", "other_schnet"))
    result = run_python(site, """
        import matforge
        matforge.registry.get("model", "schnet")
    """)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "DuplicateNameError" in last
    assert "acme-schnet 0.1.0" in last and "other-schnet 0.1.0" in last


def test_an_explicit_override_may_replace_another_plugins_name(site):
    make_distribution(site, "acme-schnet", register=REGISTER_SCHNET)
    make_distribution(
        site,
        "zz-better-schnet",
        register='registry.register("model", "schnet", "zz_better_schnet.model:SchNet", override=True)',
    )
    module = run_json(site, """
        import json, matforge
        print(json.dumps(matforge.registry.info("model", "schnet").distribution))
    """)
    assert module == "zz-better-schnet"


def test_disabled_plugins_are_not_imported(site):
    make_distribution(site, "acme-schnet", plugin="acme", register=REGISTER_SCHNET)
    result = run_json(site, """
        import json, sys, matforge
        s = {p.name: p.status for p in matforge.registry.plugins()}
        print(json.dumps([s["acme"], "schnet" in matforge.registry.names("model"),
                          "acme_schnet.plugin" in sys.modules]))
    """, MATFORGE_DISABLE_PLUGINS="other, acme")
    assert result == ["disabled", False, False]


def test_a_plugin_built_for_another_api_version_is_refused_with_the_versions(site):
    make_distribution(site, "future-plugin", register=REGISTER_SCHNET, api=(2, 3))
    result = run_python(site, """
        import json, matforge
        s = {p.name: [p.status, p.error] for p in matforge.registry.plugins()}
        print(json.dumps(s["future-plugin"]))
    """)
    status, error = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == "incompatible"
    assert "API version(s) 2, 3" in error and "provides version 1" in error


def test_the_cli_lists_a_broken_plugin_with_its_error(site):
    make_distribution(site, "acme-schnet", register=REGISTER_SCHNET)
    make_distribution(site, "broken-plugin", prelude="raise RuntimeError('kaboom at import')")
    result = run_python(site, "from matforge.cli.main import main; raise SystemExit(main(['plugins', '--json']))")
    rows = {row["plugin"]: row for row in json.loads(result.stdout[result.stdout.index("["):])}
    assert rows["acme-schnet"]["status"] == "ok"
    assert rows["acme-schnet"]["components"] == ["backbone:schnet"]
    assert rows["broken-plugin"]["status"] == "broken"
    assert "kaboom" in rows["broken-plugin"]["error"]
    assert result.returncode == 1  # a broken plugin makes the listing fail, for scripts


def test_cli_plugins_table_lists_the_core_and_our_five_plugins():
    result = subprocess.run(
        [sys.executable, "-m", "matforge.cli.main", "plugins", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    rows = {row["plugin"]: row for row in json.loads(result.stdout)}
    expected = {"core": "matforge", "graph": "matforge-graph", "pointcloud": "matforge-pointcloud",
                "egnn": "matforge-egnn", "megnet": "matforge-megnet", "gala": "matforge-gala"}
    for plugin, dist in expected.items():
        assert rows[plugin]["distribution"] == dist
        assert rows[plugin]["status"] == "ok"
        assert rows[plugin]["version"]


# -- hooks called through pluggy, one plugin at a time -------------------------------------------

HELLO_COMMAND = """
@matforge.hookimpl
def matforge_add_cli_commands(subparsers):
    parser = subparsers.add_parser("hello", help="say hello")
    parser.add_argument("--name", default="world")
    parser.set_defaults(func=lambda ns: print(f"hello {ns.name}") or 0)
"""


def run_cli(site: Path, *argv: str, **env: str) -> subprocess.CompletedProcess:
    return run_python(site, f"from matforge.cli.main import main; raise SystemExit(main({list(argv)!r}))", **env)


def test_a_plugin_adds_a_cli_command(site):
    make_distribution(site, "acme-hello", prelude=HELLO_COMMAND)
    result = run_cli(site, "hello", "--name", "matforge")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello matforge"


def test_a_raising_cli_hook_is_that_plugins_failure_and_every_other_command_works(site):
    make_distribution(site, "acme-hello", prelude=HELLO_COMMAND)
    make_distribution(site, "bad-commands", register=REGISTER_SCHNET.replace("acme_schnet", "bad_commands"), prelude="""
@matforge.hookimpl
def matforge_add_cli_commands(subparsers):
    subparsers.add_parser("half-added")
    raise RuntimeError("no commands today")
""")
    listed = run_cli(site, "list", "model", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"name": "schnet"' in listed.stdout  # its components still work
    assert "bad-commands" in listed.stderr and "no commands today" in listed.stderr
    assert run_cli(site, "hello").stdout.strip() == "hello world"
    assert "half-added" not in run_cli(site, "--help").stdout
    rows = {row["plugin"]: row for row in json.loads(run_cli(site, "plugins", "--json").stdout)}
    assert rows["bad-commands"]["status"] == "broken"
    assert "matforge_add_cli_commands failed: RuntimeError: no commands today" in rows["bad-commands"]["error"]
    assert rows["acme-hello"]["status"] == "ok"


def test_a_command_clashing_with_a_builtin_is_that_plugins_failure(site):
    make_distribution(site, "clashing", prelude="""
@matforge.hookimpl
def matforge_add_cli_commands(subparsers):
    subparsers.add_parser("list")
""")
    listed = run_cli(site, "list", "task", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"name": "is2re"' in listed.stdout  # the built-in command, untouched
    assert "clashing" in listed.stderr and "matforge_add_cli_commands failed" in listed.stderr


def test_sys_exit_at_import_is_that_plugins_failure(site):
    make_distribution(site, "acme-schnet", register=REGISTER_SCHNET)
    make_distribution(site, "exits-plugin", prelude="import sys\nsys.exit(3)")
    listed = run_cli(site, "list", "model", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"name": "schnet"' in listed.stdout
    rows = {row["plugin"]: row for row in json.loads(run_cli(site, "plugins", "--json").stdout)}
    assert rows["exits-plugin"]["status"] == "broken"
    assert "SystemExit(3)" in rows["exits-plugin"]["error"]


def test_sys_exit_at_import_leaves_training_commands_working(site):
    make_distribution(site, "exits-plugin", prelude="import sys\nsys.exit(1)")
    result = run_cli(site, "fit", "--task", "is2re", "--backbone", "toy-pair", "--data", "devset:emt-is2re", "--print_config")
    assert result.returncode == 0, result.stderr
    assert "backbone: toy-pair" in result.stdout
    assert "exits-plugin" in result.stderr and "SystemExit(1)" in result.stderr


def test_strict_mode_reports_a_failing_cli_hook_as_one_error(site):
    make_distribution(site, "bad-commands", prelude="""
@matforge.hookimpl
def matforge_add_cli_commands(subparsers):
    raise RuntimeError("no commands today")
""")
    result = run_cli(site, "list", MATFORGE_STRICT_PLUGINS="1")
    assert result.returncode == 1
    assert result.stderr.startswith("matforge: error: matforge plugin bad-commands")
    assert "no commands today" in result.stderr and "Traceback" not in result.stderr


def test_sys_exit_in_a_registration_hook_is_that_plugins_failure(site):
    make_distribution(site, "acme-schnet", register=REGISTER_SCHNET)
    make_distribution(site, "exits-later", register="import sys\nsys.exit('bye')")
    status = run_json(site, """
        import json, warnings, matforge
        warnings.simplefilter("ignore")
        s = {p.name: [p.status, p.error] for p in matforge.registry.plugins()}
        print(json.dumps([s["exits-later"], matforge.registry.names("model")]))
    """)
    (state, error), models = status
    assert state == "broken" and "SystemExit('bye')" in error
    assert "schnet" in models


@pytest.mark.parametrize(
    ("api", "message"),
    [
        (None, "declares no MATFORGE_PLUGIN_API (required)"),
        ("'1'", "MATFORGE_PLUGIN_API = '1' is not a positive int"),
        ("(1, 'two')", "MATFORGE_PLUGIN_API = (1, 'two') is not"),
        ("()", "MATFORGE_PLUGIN_API = () is not"),
        ("object()", "is not a positive int"),
    ],
)
def test_a_missing_or_malformed_api_version_is_that_plugins_failure(site, api, message):
    make_distribution(site, "acme-schnet", register=REGISTER_SCHNET)
    make_distribution(site, "odd-api", register=REGISTER_SCHNET.replace("schnet", "odd"), api=api)
    listed = run_cli(site, "list", "model", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"name": "schnet"' in listed.stdout and '"name": "odd"' not in listed.stdout
    rows = {row["plugin"]: row for row in json.loads(run_cli(site, "plugins", "--json").stdout)}
    assert rows["odd-api"]["status"] == "incompatible"
    assert message in rows["odd-api"]["error"]


def test_rich_markup_in_an_error_is_printed_as_text(site):
    make_distribution(site, "markup-plugin", prelude="raise RuntimeError('bad [/] [bold]tag[/bold] [link=x]')")
    result = run_python(site, """
        from matforge.cli.main import main
        raise SystemExit(main(["plugins"]))
    """, COLUMNS="400")
    assert result.returncode == 1  # a broken plugin; the table printed
    assert "Traceback" not in result.stderr
    assert "bad [/] [bold]tag[/bold] [link=x]" in result.stdout


def test_a_hook_wrapper_is_refused_with_a_clear_error(site):
    make_distribution(site, "acme-schnet", register=REGISTER_SCHNET)
    make_distribution(site, "wrapping", prelude="""
@matforge.hookimpl(wrapper=True)
def matforge_add_cli_commands(subparsers):
    yield
""")
    status = run_json(site, """
        import json, warnings, matforge
        warnings.simplefilter("ignore")
        s = {p.name: [p.status, p.error] for p in matforge.registry.plugins()}
        print(json.dumps(s["wrapping"]))
    """)
    assert status[0] == "broken"
    assert "'matforge_add_cli_commands' is declared with wrapper=True" in status[1]


def test_an_unknown_hook_name_is_refused(site):
    make_distribution(site, "typo-hook", prelude="""
@matforge.hookimpl
def matforge_regster(registry):
    pass
""")
    status = run_json(site, """
        import json, warnings, matforge
        warnings.simplefilter("ignore")
        print(json.dumps({p.name: [p.status, p.error] for p in matforge.registry.plugins()}["typo-hook"]))
    """)
    assert status[0] == "broken" and "'matforge_regster', which is not a matforge hook" in status[1]


def test_tryfirst_and_trylast_order_the_plugins_hooks(site):
    for dist, option in (("aa-last", "trylast=True"), ("bb-plain", ""), ("cc-first", "tryfirst=True")):
        make_distribution(site, dist, prelude=f"""
import os
@matforge.hookimpl({option})
def matforge_add_cli_commands(subparsers):
    os.environ["ORDER"] = os.environ.get("ORDER", "") + "{dist} "
""")
    order = run_json(site, """
        import json, os
        from matforge.cli.main import build_parser
        build_parser()
        print(json.dumps(os.environ["ORDER"].split()))
    """)
    assert order == ["cc-first", "bb-plain", "aa-last"]


def test_the_registrar_offers_only_what_the_protocol_names(site):
    make_distribution(site, "curious", register="registry.names('model')")
    status = run_json(site, """
        import json, warnings, matforge
        from matforge.hooks import Registrar
        from matforge.registry import _PluginRegistrar, registry
        warnings.simplefilter("ignore")
        s = {p.name: [p.status, p.error] for p in matforge.registry.plugins()}["curious"]
        r = _PluginRegistrar(registry, "x", None, None)
        print(json.dumps(s + [isinstance(r, Registrar), "backbone" in r.kinds()]))
    """)
    assert status[0] == "broken"
    assert "has no 'names'" in status[1] and "matforge.hooks.Registrar" in status[1]
    assert status[2:] == [True, True]


def test_the_hookspec_names_the_registrar_protocol():
    import inspect

    from matforge.hooks import MatforgeSpecs, Registrar

    assert inspect.signature(MatforgeSpecs.matforge_register).parameters["registry"].annotation in (Registrar, "Registrar")
