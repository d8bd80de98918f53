import subprocess
import sys
from pathlib import Path

from khabar.cli import COMMANDS

SUBCOMMANDS = ["ingest", "studio", "validate", "build", "publish", "diff", "stats", "train", "predict", "evaluate"]


def khabar(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("khabar")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_subcommand():
    result = khabar("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert f"    {name} " in result.stdout
    assert list(COMMANDS) == SUBCOMMANDS


def test_unknown_subcommand_is_a_usage_error():
    result = khabar("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr and "Traceback" not in result.stderr


def test_commands_not_built_yet_say_so():
    for name, (module, _) in COMMANDS.items():
        if module is None:
            result = khabar(name)
            assert result.returncode == 2
            assert "not built yet" in result.stderr


def test_a_closed_pipe_is_no_traceback():
    """`khabar validate --list-checks | head -1`: the reader goes away early."""
    script = Path(sys.executable).with_name("khabar")
    process = subprocess.Popen([str(script), "validate", "--list-checks"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err
    assert process.returncode in (0, 141)
