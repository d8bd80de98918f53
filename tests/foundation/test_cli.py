import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from khabar.cli import COMMANDS, handlers, named_command
from khabar.foundation.paths import repo
from tests.cli_support import run_python

#: the release version, from the one place it is written
VERSION = repo().version_file.read_text(encoding="utf-8").strip()


def test_help_lists_every_registered_command_with_its_help(khabar):
    run = khabar("--help")
    assert run.status == 0
    for name, command in COMMANDS.items():
        listed = re.search(rf"^    {re.escape(name)}\s+(.+(?:\n {{10,}}.+)*)", run.out, re.M)
        assert listed, name
        assert " ".join(listed.group(1).split()) == command.help, name  # argparse wraps long help lines


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_is_configured_by_its_stage_cli_module_and_answers_help(name, khabar):
    """The one convention: ``configure_<name>``/``run_<name>`` in the stage's ``cli.py``, and each parser works."""
    configure, run = handlers(name)
    assert configure.__module__ == run.__module__ == COMMANDS[name].module and run.__module__.endswith(".cli")
    answer = khabar(name, "--help")
    assert answer.status == 0 and answer.out.startswith(f"usage: khabar {name} ")


def test_a_command_imports_its_own_stage_cli_module_and_no_other():
    script = (
        "import contextlib, io, sys\n"
        "from khabar.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    status = main(['validate', '--list-checks'])\n"
        "print(status, *sorted(m for m in sys.modules if m.startswith('khabar.') and m.endswith('.cli')))\n"
    )
    assert run_python(script).split() == ["0", "khabar.cli", "khabar.validation.cli"]


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["build", "--out", "x"], "build"),
        (["--root", "diff", "import-conll", "a"], "import-conll"),  # --root's value is no command
        (["--root=/r", "stats"], "stats"),
        (["--version"], None),
        (["--help", "build"], None),
        (["frobnicate"], None),
        ([], None),
    ],
)
def test_the_command_named_is_found_after_the_root_option_only(argv, command):
    assert named_command(argv) == command


def test_a_command_error_is_one_line_named_after_the_command(khabar, tmp_path):
    run = khabar("diff", tmp_path / "old", tmp_path / "new")
    assert run.status == 2 and run.out == ""
    assert run.err.startswith("khabar diff: error: ") and len(run.err.strip().splitlines()) == 1


def test_unknown_subcommand_is_a_usage_error(khabar):
    run = khabar("frobnicate")
    assert run.status == 2
    assert "invalid choice" in run.err


# ---- names that are not text -----------------------------------------------------------------

#: a name whose last byte, 0xE9 (é in Latin-1), is not UTF-8: Python holds it as U+DCE9, which pyarrow, polars and
#: JSON cannot encode
NOT_UTF8 = os.fsdecode(b"caf\xe9")
#: every argument that names a path, or a name a command writes into its files, given NOT_UTF8 (the other paths
#: name nothing: each command refuses before it reads any)
NAMED = [
    ["validate", NOT_UTF8], ["validate", "--documents", NOT_UTF8], ["validate", "--dataset", NOT_UTF8],
    ["build", "--exports", NOT_UTF8], ["build", "--documents", NOT_UTF8], ["build", "--out", NOT_UTF8], ["build", "--datasheet", NOT_UTF8],
    ["build", "--release", NOT_UTF8], ["publish", "--build", NOT_UTF8, "--dry-run"], ["diff", NOT_UTF8, "new"], ["diff", "old", NOT_UTF8],
    ["export", NOT_UTF8, "--format", "conll", "--out", "out"], ["export", "build", "--format", "brat", "--out", NOT_UTF8],
    ["stats", "--exports", NOT_UTF8], ["stats", "--documents", NOT_UTF8], ["ingest", "--corpus", NOT_UTF8], ["ingest", "--exports", NOT_UTF8],
    ["import-conll", NOT_UTF8, "--out", "out"], ["import-conll", "in.conll", "--out", NOT_UTF8],
    ["import-conll", "in.conll", "--out", "out", "--tag-map", NOT_UTF8], ["import-conll", "in.conll", "--out", "out", "--source", NOT_UTF8],
    ["train", "--exports", NOT_UTF8], ["train", "--documents", NOT_UTF8], ["predict", "--documents", NOT_UTF8, "--out", "p.json"],
    ["predict", "--documents", "d.jsonl", "--out", NOT_UTF8], ["predict", "--documents", "d.jsonl", "--out", "p.json", "--model", NOT_UTF8],
    ["evaluate", "--json", NOT_UTF8], ["studio", "sync", "--documents", NOT_UTF8], ["studio", "preannotate", "--exports", NOT_UTF8],
    ["studio", "pull", "--out", NOT_UTF8], ["studio", "push", "--file", NOT_UTF8], ["--root", NOT_UTF8, "stats"],
]


@pytest.mark.parametrize("argv", NAMED, ids=[" ".join(argv).replace(NOT_UTF8, "caf\\xe9") for argv in NAMED])
def test_a_name_that_is_not_utf8_is_refused_in_one_line_by_every_command(argv, khabar, tmp_path, monkeypatch):
    """pyarrow and polars refused it deep in the work (build --out, validate, stats: a UnicodeEncodeError traceback),
    and where nothing did, a command went on with a name it could not write into its records."""
    monkeypatch.chdir(tmp_path)
    run = khabar(*argv)
    command = next(word for word in argv if word in COMMANDS)
    assert run.status == 2 and run.out == "", run.output
    assert run.err.splitlines() == [
        f"khabar {command}: error: caf\\xe9: the name is not UTF-8 (byte 0xe9 at offset 3): Khabar takes names that are UTF-8 text; rename it"
    ]
    assert os.listdir(tmp_path) == []


def test_in_a_c_locale_a_name_that_is_not_ascii_is_refused_in_one_line(tmp_path):
    """With ``LC_ALL=C PYTHONUTF8=0`` Python decodes names as ASCII: ``café``, UTF-8 on disk, is held as surrogates too,
    and ``build --out café`` or an export named so was a UnicodeEncodeError traceback from pyarrow."""
    from tests.reliability.reliability_support import SHARED, tree

    for folder, name in (("exports", "café.json"), ("latin", os.fsdecode(b"caf\xe9.json"))):
        (tmp_path / folder).mkdir()
        shutil.copyfile(SHARED / "good_export.json", tmp_path / folder / name)
    env = ENV | {"LC_ALL": "C", "PYTHONUTF8": "0"}
    locale = ("the name is not ASCII and the file system encoding is ascii (a C or POSIX locale with PYTHONUTF8=0): "
              "run Khabar in a UTF-8 locale (LC_ALL=C.UTF-8) or with PYTHONUTF8=1")
    cases = [
        (["build", "--out", "café"], f"khabar build: error: caf\\xc3\\xa9: {locale}"),
        (["validate", "exports", "--documents", SHARED / "documents.jsonl"], f"khabar validate: error: exports/caf\\xc3\\xa9.json: {locale}"),
        (["validate", "latin", "--documents", SHARED / "documents.jsonl"],
         "khabar validate: error: latin/caf\\xe9.json: the name is not UTF-8 (byte 0xe9 at offset 9): Khabar takes names that are UTF-8 text; rename it"),
    ]
    before = tree(tmp_path)
    for argv, line in cases:
        done = subprocess.run([str(Path(sys.executable).with_name("khabar")), "--root", str(repo().root), *map(str, argv)],
                              capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert [error for error in done.stderr.splitlines() if ": error: " in error] == [line], done.stderr
    assert tree(tmp_path) == before


def test_a_closed_pipe_is_no_traceback():
    """`khabar validate --list-checks | head -1`: the reader goes away early."""
    script = Path(sys.executable).with_name("khabar")
    process = subprocess.Popen([str(script), "validate", "--list-checks"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err
    assert process.returncode in (0, 141)


# ---- results on stdout, progress and logs on stderr ------------------------------------------

#: (arguments, exit status, a result stdout must hold, a log stderr must hold or None when the command logs nothing)
STREAMS = [
    (["ingest"], 0, "page(s) ingested into", None),
    (["validate"], 0, "reconciliation:", "khabar validate: checking 1 export file(s)"),
    (["build"], 0, f"dist/khabar-{VERSION}", "khabar build: read 5 documents"),
    (["build", "--check"], 0, "", "is up to date"),
    (["stats"], 0, "gold spans:", "khabar stats: tables:"),
    (["diff", f"dist/khabar-{VERSION}", f"dist/khabar-{VERSION}"], 0, "no differences", None),
    (["publish", "--dry-run"], 0, f"would tag the commit v{VERSION}", None),
    (["studio", "status", "--studio-dir", ".studio-none"], 1, "Label Studio is not running", None),
    (["studio", "down", "--studio-dir", ".studio-none"], 0, "Label Studio was not running", None),
    (["--version"], 0, f"khabar {VERSION}", None),
]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    from tests.foundation.test_install import clone_of_the_working_tree

    return clone_of_the_working_tree(tmp_path_factory.mktemp("clone"))


ENV = {k: v for k, v in os.environ.items() if k not in ("KHABAR_ROOT", "HF_ENDPOINT", "HF_TOKEN")}


def run_in(clone: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("khabar")), *args], capture_output=True, text=True, cwd=clone, env=ENV, timeout=600)


def test_every_command_prints_results_on_stdout_and_logs_on_stderr(clone):
    """Run in order in a copy of the repository (build before diff and publish). A log line is
    ``khabar COMMAND: …`` on stderr; stdout holds only the command's result, so it can be piped."""
    for args, status, result, logged in STREAMS:
        done = run_in(clone, *args)
        assert done.returncode == status, (args, done.stderr[-2000:])
        assert result in done.stdout, (args, done.stdout[-2000:])
        command = args[0].lstrip("-")
        stdout_logs = [line for line in done.stdout.splitlines() if line.startswith(f"khabar {command}: ") and "export file(s):" not in line]
        assert stdout_logs == [], (args, stdout_logs)  # validate's report opens with its own summary line
        assert all(line.startswith(f"khabar {command}: ") for line in done.stderr.splitlines()), (args, done.stderr[-2000:])
        if logged is None:
            assert done.stderr == "", (args, done.stderr)
        else:
            assert logged in done.stderr, (args, done.stderr[-2000:])
    build = run_in(clone, "build")
    assert build.stdout == f"{clone / 'dist' / f'khabar-{VERSION}'}\n"  # `out=$(khabar build)` takes the folder


def test_publish_prints_the_tagged_commit_on_stdout_and_its_progress_on_stderr(clone, tmp_path):
    from tests.dataset.fake_hub import FakeHub

    assert run_in(clone, "build").returncode == 0
    with FakeHub(tmp_path / "hub") as hub:
        env = os.environ | {"HF_TOKEN": "hf_fake", "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf")}
        done = subprocess.run([str(Path(sys.executable).with_name("khabar")), "publish"], capture_output=True, text=True, cwd=clone, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        tagged = hub.repos["khabar-project/khabar"].tags[f"v{VERSION}"]  # the repo_id of dataset/release.toml
    assert done.stdout == f"khabar-project/khabar v{VERSION} {tagged}\n"
    assert f"khabar publish: publishing {clone / 'dist' / f'khabar-{VERSION}'} to the dataset repository khabar-project/khabar at {hub.endpoint}" in done.stderr
    assert f"khabar publish: tagged v{VERSION} at {tagged}" in done.stderr


def test_on_a_terminal_long_commands_show_a_progress_line(clone):
    """stderr on a pseudo-terminal: the log lines and a tqdm status line (steps, time); stdout, a
    pipe, still holds only the result."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # 24 rows, 120 columns: tqdm draws nothing in 0
    seen: list[bytes] = []

    def drain() -> None:  # read while the build writes, so the terminal's buffer never fills
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal side is closed and drained
                return
            if not chunk:
                return
            seen.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        process = subprocess.Popen([str(Path(sys.executable).with_name("khabar")), "build"], stdout=subprocess.PIPE, stderr=terminal, cwd=clone, env=ENV)
        os.close(terminal)
        stdout, _ = process.communicate(timeout=600)
        reader.join(timeout=60)
    finally:
        os.close(controller)
    text = b"".join(seen).decode("utf-8", "replace")
    assert process.returncode == 0 and stdout.decode() == f"{clone / 'dist' / f'khabar-{VERSION}'}\n"
    assert "khabar build: read 5 documents" in text
    assert re.search(r"khabar build: \d+ step\(s\), \d\d:\d\d", text), text[-2000:]


def test_the_version_is_the_release_version(khabar):
    from khabar.dataset.release import read_version

    run = khabar("--version")
    assert run.status == 0 and run.out == f"khabar {read_version(Path(__file__).parents[2] / 'dataset' / 'VERSION')}\n"


@pytest.mark.studio
def test_studio_commands_print_results_on_stdout_and_progress_on_stderr(studio_server, studio_project_title, clone, tmp_path):
    """sync, preannotate, pull and push against a real Label Studio (a team's server: --url and
    LABEL_STUDIO_API_KEY): the summaries a person reads are on stdout, the steps on stderr."""
    env = ENV | {"LABEL_STUDIO_API_KEY": studio_server.credentials.token}
    target = ["--url", studio_server.url, "--project", studio_project_title, "--studio-dir", str(tmp_path / "studio")]
    out = tmp_path / "pulled.json"
    steps = [
        (["sync", "--documents", str(clone / "annotation" / "corpus" / "documents.jsonl")], "5 document(s) imported", "khabar studio: importing 5 document(s)"),
        (["preannotate", "--exports", str(clone / "annotation" / "exports")], "task(s) pre-annotated", "khabar studio: gazetteer: "),
        (["pull", "--out", str(out)], str(out), "khabar studio: asking Label Studio for an export snapshot"),
        (["push", "--file", str(out)], None, "khabar studio: pushed: "),  # push's account is its log: stdout stays empty
    ]
    for args, result, logged in steps:
        done = subprocess.run([str(Path(sys.executable).with_name("khabar")), "studio", args[0], *target, *args[1:]], capture_output=True, text=True, cwd=clone, env=env, timeout=600)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        assert done.stdout == "" if result is None else result in done.stdout, (args, done.stdout)
        assert not any(line.startswith("khabar studio: ") for line in done.stdout.splitlines()), (args, done.stdout)
        assert logged in done.stderr and all(line.startswith("khabar studio: ") for line in done.stderr.splitlines()), (args, done.stderr)
    assert out.is_file()
