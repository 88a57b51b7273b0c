"""The set-up without make (setup_course.py), as a learner on Windows or macOS would run it:
a fresh virtual environment, torch from a package index of its own (as with PyTorch's index of
CPU wheels), then the course's environment check inside the new environment."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _index_with_torch(folder: Path) -> str:
    """A package index (PEP 503) in ``folder`` that holds only the pinned torch wheel."""
    sys.path.insert(0, str(ROOT))
    from setup_course import pinned

    wheels = folder / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", wheels,
                    f"torch=={pinned('torch')}"], check=True)
    (wheel,) = wheels.glob("torch-*.whl")
    page = folder / "simple" / "torch" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(f'<a href="{wheel.as_uri()}">{wheel.name}</a>\n')
    return (folder / "simple").as_uri()


def test_setup_without_make_gives_a_working_course(tmp_path):
    index = _index_with_torch(tmp_path)
    env = tmp_path / "venv"
    done = subprocess.run([sys.executable, ROOT / "setup_course.py", "--venv", env,
                           "--torch-index", index], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"--index-url {index}" in done.stdout and "ready; open the course with:" in done.stdout
    check = ("from hyperlib.course import check_environment, report; c = check_environment(); "
             "print(report(c)); raise SystemExit(not all(x.ok for x in c))")
    report = subprocess.run([env / "bin" / "python", "-c", check], capture_output=True,
                            text=True, cwd=tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "CPU build" in report.stdout and "test split loaded" in report.stdout
    assert (env / "bin" / "jupyter").exists()
