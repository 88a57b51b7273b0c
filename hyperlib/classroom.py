"""For teachers and readers: student copies of the notebooks, and the course as a static site.

    python -m hyperlib.classroom student [--out student]   # `make student`
    python -m hyperlib.classroom site [--out site]         # `make site`

The site needs no network: formulas are typeset by MathJax 2.7 copied into the site from the
``jupyter-server-mathjax`` package, and the library's API reference (``reference/``, made by
pdoc from the docstrings) is linked from the contents page.

A solution is a markdown block ``<details><summary><b>Solution: ...</b> ...</details>`` (in the
notebooks, a cell of its own after the exercises), or any cell tagged ``solution``. Student copies
drop them, clear every output and drop the test harness's cell tags (``nbval-check-output``,
...); the site renders the committed, executed notebooks as they are, with each widget shown as
the figure saved with it.

Needs ``nbformat``, ``nbconvert``, ``jupyter-server-mathjax`` and ``pdoc`` (installed by
``make setup``), not the library's core.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import warnings
from collections.abc import Iterable, Sequence
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

SOLUTION = re.compile(r"<details>\s*<summary>\s*<b>\s*Solution\b.*?</details>\s*", re.S | re.I)
SOLUTION_TAG = "solution"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
NO_FIGURE = "An interactive widget, saved without its figure: run the notebook to use it."
NOTEBOOK_LINK = re.compile(r"\]\((\d\d_[a-z0-9_]+)\.ipynb(#[^)]*)?\)")
TEST_TAG = "nbval-"  # nbval's cell tags: how `make test` treats a cell's output
PAGE_CSS = """
.jp-Notebook { max-width: 64rem; margin: 0 auto; }
.static-widget figcaption { color: #666; font-size: 0.85rem; }
.static-widget progress { margin: 0 0.5rem; vertical-align: middle; }
"""
MATHJAX = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"  # from the site folder
MATHJAX_FONTS = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({"HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web",
                                 webFont: "STIX-Web", imageFont: null}});
</script>"""  # the package ships the STIX-Web fonts only: never ask for TeX's or image fonts
REQUIRE_JS = re.compile(r'<script src="[^"]*require(\.min)?\.js"></script>\n?')  # for JS outputs
README_ROW = re.compile(r"^\| \[(\d\d_[a-z0-9_]+)\]\([^)]*\) \| (.+?) \| (.+?) \|$", re.M)


# --------------------------------------------------------------------------- student copies


def _is_solution(cell: NotebookNode) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_copy(nb: NotebookNode) -> NotebookNode:
    """A copy of a notebook for learners: solutions removed, outputs, widget state and the test
    harness's tags cleared."""
    copy = deepcopy(nb)
    copy.metadata.pop("widgets", None)
    cells = []
    for cell in copy.cells:
        if _is_solution(cell):
            continue
        if cell.cell_type == "markdown" and SOLUTION.search(cell.source):
            cell.source = SOLUTION.sub("", cell.source).rstrip()
            if not cell.source:
                continue
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if tags := cell.get("metadata", {}).get("tags"):
            cell.metadata.tags = [t for t in tags if not t.startswith(TEST_TAG)]
            if not cell.metadata.tags:
                del cell.metadata["tags"]
        cells.append(cell)
    copy.cells = cells
    return copy


def write_student_copies(notebooks: Path, out: Path) -> list[Path]:
    """Write :func:`student_copy` of each ``NN_*.ipynb`` in ``notebooks`` to ``out``, which
    must be another folder (the copies would replace the notebooks and their solutions)."""
    import nbformat

    if out.resolve() == notebooks.resolve():
        raise ValueError(f"{out} is the notebooks' own folder: the student copies would "
                         f"overwrite the notebooks and their solutions; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        copy = student_copy(nbformat.read(path, as_version=4))
        nbformat.validate(copy)
        nbformat.write(copy, out / path.name)
        written.append(out / path.name)
    return written


# --------------------------------------------------------------------------- static widgets


def _widget_parts(models: dict, model_id: str) -> list[dict]:
    """The saved models of a widget and of everything inside it, depth first."""
    model = models.get(model_id)
    if model is None:
        return []
    parts = [model]
    for child in model["state"].get("children", []):
        parts += _widget_parts(models, child.removeprefix("IPY_MODEL_"))
    return parts


def _saved_png(model: dict) -> str | None:
    """The base64 PNG an ``ipywidgets.Image`` model was saved with, if any."""
    for buffer in model.get("buffers", []):
        if buffer["path"] == ["value"] and buffer.get("encoding") == "base64":
            return buffer["data"]
    return None


def _static_part(model: dict) -> str:
    """HTML for one saved model: an Image's figure, an HTML text, a progress bar, or nothing."""
    name, state = model["model_name"], model["state"]
    if name == "ImageModel" and (png := _saved_png(model)):
        return f'<img src="data:image/png;base64,{png}" alt="widget figure">'
    if name == "HTMLModel":  # e.g. tqdm's progress text, HTML written by the notebook's code
        return f"<span>{state.get('value', '')}</span>"
    if name in ("FloatProgressModel", "IntProgressModel"):
        value, high = state.get("value", 0), state.get("max", 100)
        return f'<progress value="{value}" max="{high}"></progress>'
    return ""


def _static_widget(models: dict, model_id: str) -> str:
    """HTML for a widget as saved: its figures (and its controls' values), or its progress bar."""
    parts = _widget_parts(models, model_id)
    shown = "".join(_static_part(m) for m in parts)
    if not shown:
        return f'<p class="static-widget"><em>{NO_FIGURE}</em></p>'
    if not any(m["model_name"] == "ImageModel" for m in parts):
        return f'<div class="static-widget">{shown}</div>'
    controls = [
        f"{m['state']['description']} = {m['state']['value']}"
        for m in parts
        if m["state"].get("description") and "value" in m["state"]
    ]
    caption = "Interactive in JupyterLab; shown here as saved"
    if controls:
        caption += f" ({html.escape(', '.join(controls))})"
    return f'<figure class="static-widget">{shown}<figcaption>{caption}.</figcaption></figure>'


def static_widgets(nb: NotebookNode) -> NotebookNode:
    """A copy whose widget outputs are HTML figures of their saved state, with no widget scripts."""
    copy = deepcopy(nb)
    models = copy.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in copy.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is not None:
                output.data = {"text/html": _static_widget(models, view["model_id"])}
    return copy


# --------------------------------------------------------------------------- the site


def notebook_title(nb: NotebookNode, fallback: str) -> str:
    """The first ``# heading`` of a notebook's first markdown cell."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^# (.+)$", cell.source, re.M)
            return match.group(1).strip() if match else fallback
    return fallback


def readme_rows(readme: str) -> dict[str, tuple[str, str]]:
    """The README's notebook table: ``NN_slug -> (what it covers, time at classroom scale)``."""
    return {m[1]: (m[2].strip(), m[3].strip()) for m in README_ROW.finditer(readme)}


def _inline(markdown: str) -> str:
    """Escaped text with `code` spans: enough for the README's one-line descriptions."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(markdown))


def _navigation(pages: list[tuple[str, str]], i: int) -> str:
    """Markdown links to the previous page, the contents and the next page."""
    links = [f"[← {pages[i - 1][1]}]({pages[i - 1][0]}.html)"] if i > 0 else []
    links.append("[Contents](index.html)")
    if i + 1 < len(pages):
        links.append(f"[{pages[i + 1][1]} →]({pages[i + 1][0]}.html)")
    return " &nbsp;|&nbsp; ".join(links)


def site_page(nb: NotebookNode, title: str, navigation: str) -> str:
    """One notebook as a self-contained HTML page (nbconvert's lab template)."""
    import nbformat
    from nbconvert import HTMLExporter

    page = static_widgets(nb)
    for cell in page.cells:
        if cell.cell_type == "markdown":
            cell.source = NOTEBOOK_LINK.sub(r"](\1.html\2)", cell.source)
    page.cells.insert(0, nbformat.v4.new_markdown_cell(navigation))
    page.cells.append(nbformat.v4.new_markdown_cell(navigation))
    page.metadata["title"] = f"{title} — hyperlib"
    exporter = HTMLExporter(
        template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True,
        mathjax_url=MATHJAX,
    )
    body, _ = exporter.from_notebook_node(page)
    body = REQUIRE_JS.sub("", body)  # the pages hold no JavaScript outputs: no loader needed
    return body.replace("</head>", f"{MATHJAX_FONTS}\n<style>{PAGE_CSS}</style>\n</head>", 1)


def copy_mathjax(out: Path) -> Path:
    """MathJax 2.7 (Apache 2.0), as the jupyter-server-mathjax package ships it, in out/mathjax."""
    from importlib.resources import files

    source = Path(str(files("jupyter_server_mathjax") / "static"))
    return shutil.copytree(source, out / "mathjax", dirs_exist_ok=True)


def write_reference(out: Path) -> Path:
    """The library's API reference, generated by pdoc from the docstrings, in out/reference;
    returns its front page, the package's own page."""
    import pkgutil

    import pdoc
    import pdoc.render

    import hyperlib

    # a package's __all__ hides its modules from pdoc's own walk: name every module, and let
    # pdoc not warn that some of them (those whose names __all__ holds) are named twice
    modules = [m.name for m in pkgutil.walk_packages(hyperlib.__path__, "hyperlib.")]
    pdoc.render.configure(docformat="google", show_source=False, search=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The module specification", UserWarning)
        pdoc.pdoc("hyperlib", *modules, output_directory=out / "reference")
    return out / "reference" / "hyperlib.html"


INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hyperlib: the course</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }}
h1 {{ margin-bottom: 0.2rem; }}
ol {{ padding-left: 0; list-style: none; }}
li {{ margin: 1rem 0; padding: 0.6rem 0.9rem; border-left: 4px solid #1f77b4;
      background: #f6f8fa; }}
li a {{ font-size: 1.15rem; font-weight: 600; text-decoration: none; }}
.time {{ color: #666; font-size: 0.9rem; margin-left: 0.5rem; }}
p.what {{ margin: 0.2rem 0 0; }}
</style></head>
<body>
<h1>hyperlib</h1>
<p>A notebook course on <em>Learning sparse transformations through backpropagation</em>
(P. Bloem, 2018): the adaptive sparse hyperlayer, derived, built step by step and checked against a
small PyTorch library. These pages show the notebooks as committed, run at classroom scale; the
widgets appear as their saved figures. To run them, clone the repository and type
<code>make lab</code>.{total}</p>
<p>The library's <a href="reference/hyperlib.html">API reference</a>: every module, class and
function with its signature and docstring.</p>
<ol>
{items}
</ol>
</body></html>
"""


def _total_time(rows: Iterable[tuple[str, str]]) -> str:
    """' In all, about 3 h 40 min at classroom scale.' from times such as '25 min'."""
    minutes = sum(int(m[1]) for _, time in rows if (m := re.fullmatch(r"(\d+) min", time)))
    hours, rest = divmod(minutes, 60)
    parts = [f"{hours} h"] * bool(hours) + [f"{rest} min"] * bool(rest)
    return f" In all, about {' '.join(parts)} at classroom scale." if minutes else ""


def _index_item(slug: str, title: str, row: tuple[str, str] | None) -> str:
    what, time = row if row else ("", "")
    time_html = f'<span class="time">{_inline(time)} at classroom scale</span>' if time else ""
    what_html = f'<p class="what">{_inline(what[:1].upper() + what[1:])}</p>' if what else ""
    return f'<li><a href="{slug}.html">{html.escape(title)}</a>{time_html}{what_html}</li>'


def build_site(notebooks: Sequence[Path], out: Path, readme: Path | None = None) -> list[Path]:
    """Render ``notebooks`` (in course order), a contents page ``index.html``, MathJax and the
    API reference into ``out``; returns the contents page, the notebooks' pages and the
    reference's front page."""
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    rows = readme_rows(readme.read_text()) if readme and readme.exists() else {}
    books = [nbformat.read(path, as_version=4) for path in notebooks]
    pages = [(p.stem, notebook_title(nb, p.stem)) for p, nb in zip(notebooks, books, strict=True)]
    written = []
    for i, ((slug, title), nb) in enumerate(zip(pages, books, strict=True)):
        (out / f"{slug}.html").write_text(site_page(nb, title, _navigation(pages, i)))
        written.append(out / f"{slug}.html")
    items = "\n".join(_index_item(slug, title, rows.get(slug)) for slug, title in pages)
    total = _total_time(rows[slug] for slug, _ in pages if slug in rows)
    (out / "index.html").write_text(INDEX.format(items=items, total=total))
    copy_mathjax(out)
    return [out / "index.html", *written, write_reference(out)]


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m hyperlib.classroom {student,site} [--notebooks DIR] [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m hyperlib.classroom", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("student", "notebooks without solutions or outputs"),
                            ("site", "the notebooks as a static HTML site")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--notebooks", type=Path, default=Path("notebooks"))
        command.add_argument("--out", type=Path, default=Path(name))
    args = parser.parse_args(argv)
    paths = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        parser.error(f"--notebooks {args.notebooks}: no course notebooks (NN_*.ipynb) there")
    if args.command == "student":
        try:
            written = write_student_copies(args.notebooks, args.out)
        except ValueError as error:
            parser.error(str(error))
    else:
        written = build_site(paths, args.out, args.notebooks.parent / "README.md")
    print(f"wrote {len(written)} files to {args.out}/")


if __name__ == "__main__":
    main()
