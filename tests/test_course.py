"""hyperlib.course: the scale every notebook reads, and the environment check of notebook 00."""

import pytest

from hyperlib.course import SCALES, check_environment, report, scale


@pytest.mark.parametrize("value", SCALES)
def test_scale_reads_the_environment(monkeypatch, value):
    monkeypatch.setenv("HYPERLIB_SCALE", f" {value.upper()} ")
    assert scale() == value


def test_scale_defaults_to_classroom(monkeypatch):
    monkeypatch.delenv("HYPERLIB_SCALE", raising=False)
    assert scale() == "classroom"


def test_unknown_scale_is_refused(monkeypatch):
    monkeypatch.setenv("HYPERLIB_SCALE", "huge")
    with pytest.raises(ValueError, match="HYPERLIB_SCALE='huge'"):
        scale()


def test_environment_check_reports_every_item():
    checks = check_environment()
    names = [c.name for c in checks]
    assert names[:3] == ["python", "torch", "numpy"] and "MNIST" in names and "device" in names
    assert all(c.ok for c in checks if c.name != "device"), report(checks)


def test_a_missing_package_comes_with_a_remedy(monkeypatch):
    import hyperlib.course as course

    real = course.importlib.import_module

    def fake_import(name):
        if name == "ipywidgets":
            raise ImportError("No module named 'ipywidgets'")
        return real(name)

    monkeypatch.setattr(course.importlib, "import_module", fake_import)
    checks = {c.name: c for c in check_environment()}
    assert not checks["ipywidgets"].ok
    assert "make" in checks["ipywidgets"].remedy
    assert "MISSING" in report(list(checks.values()))


def test_unreadable_data_is_reported_not_raised(monkeypatch, tmp_path):
    from hyperlib import data

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(data, "mnist", unreadable)
    checks = {c.name: c for c in check_environment()}
    assert not checks["MNIST"].ok and "Permission denied" in checks["MNIST"].remedy


def test_the_torch_check_names_the_build_and_its_size(monkeypatch):
    import torch

    checks = {c.name: c for c in check_environment()}
    found = checks["torch"].found
    assert found.startswith(torch.__version__) and " MB on disk" in found
    assert ("CPU build" in found) == (torch.version.cuda is None)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    assert "(CUDA 12.8 build, " in {c.name: c for c in check_environment()}["torch"].found
