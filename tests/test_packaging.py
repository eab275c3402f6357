"""What a PyPI user gets: the sdist and the wheel build without setuptools warnings, the sdist carries
the documents the README names, and a new user's first suite (the README's, verbatim) passes from the
installed wheel in an empty directory under ``-n 2`` (issue 15: "from a wheel in a fresh directory").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUPTOOLS_COMPLAINTS = re.compile(
    r"SetuptoolsDeprecationWarning|SetuptoolsWarning|would be ignored|is not in .?packages|"
    r"license.*(deprecated|table)",
    re.I,
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel, built from a copy of the tracked sources (the checkout stays clean)."""
    pytest.importorskip("build", reason="the test extra installs `build`")
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "MANIFEST.in", "conftest.py", "run"):
        shutil.copy2(ROOT / name, source / name)
    skip = shutil.ignore_patterns("__pycache__", "node_modules", "*.pyc")
    for folder in ("pytest_lmstudio", "fake_lms", "docs", "examples", "tests", "benchmarks"):
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = built.stdout + built.stderr
    assert built.returncode == 0, log[-3000:]
    complaints = [line for line in log.splitlines() if SETUPTOOLS_COMPLAINTS.search(line)]
    assert not complaints, "\n".join(complaints)
    return {"sdist": next(out.glob("*.tar.gz")), "wheel": next(out.glob("*.whl"))}


def test_the_sdist_carries_every_document_the_readme_names(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    named = set(re.findall(r"\b((?:docs|examples|benchmarks)/[\w./-]+\.(?:md|py|ini))", README))
    assert named, "the README names no document"
    assert named <= names, sorted(named - names)
    assert {"README.md", "docs/scripting.md", "docs/fidelity.md", "tests/test_readme.py"} <= names


def test_the_wheel_carries_the_plugin_the_fake_and_their_markers(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        text = wheel.read(entry_points).decode()
    assert {"pytest_lmstudio/py.typed", "fake_lms/py.typed", "fake_lms/bin/lms"} <= names
    assert "lmstudio = pytest_lmstudio.plugin" in text and "fake-lms = fake_lms.__main__:main" in text
    assert not any(name.startswith(("tests/", "docs/", "examples/")) for name in names)


def _first_suite() -> tuple[str, str]:
    start = README.index("### A first suite, from nothing")
    app, tests = re.compile(r"```python\n(.*?)```", re.S).findall(README, start)[:2]
    assert app.startswith("# support_bot.py") and tests.startswith("# test_support_bot.py")
    return app, tests


def test_a_new_user_runs_the_readmes_first_suite_from_the_wheel(
    dist: dict[str, Path], tmp_path: Path
) -> None:
    """A fresh virtualenv holding only the wheel (its dependencies come from this environment's
    site-packages, appended after it, so nothing is downloaded), and an empty project directory with
    the README's two files."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-index", str(dist["wheel"])],
        check=True,
        timeout=300,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "outer-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    project = tmp_path / "project"
    project.mkdir()
    app, tests = _first_suite()
    (project / "support_bot.py").write_text(app)
    (project / "test_support_bot.py").write_text(tests)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LMSTUDIO", "LM_", "OPENAI", "PYTEST"))}
    env.pop("PYTHONPATH", None)
    where = subprocess.run(
        [str(python), "-c", "import pytest_lmstudio; print(pytest_lmstudio.__file__)"],
        capture_output=True, text=True, env=env, cwd=project, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), f"the wheel's copy must be the one imported, not {where}"
    run = subprocess.run(
        [str(python), "-m", "pytest", "-p", "xdist", "-n", "2", "-p", "no:cacheprovider"],
        capture_output=True, text=True, env=env, cwd=project, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "4 passed" in run.stdout
