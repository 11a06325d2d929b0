"""Jinja2 for the texts we send: the site's folder first, the packaged texts second.

Requester-supplied text (names, subjects, bodies) only ever enters as a variable, never
as template source, and every variable must exist (StrictUndefined): a typo in a site
template fails loudly at render time instead of mailing a blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

PACKAGED = Path(__file__).parent / "templates"


class Templates:
    def __init__(self, site_dir: Path | None, default_language: str) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if site_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(site_dir)))
        loaders.append(jinja2.FileSystemLoader(str(PACKAGED)))
        self.default_language = default_language
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            # Mail bodies are text/plain: escaping '&' there would garble names like
            # "Pérez & Hijos". Anything rendered as HTML is escaped.
            autoescape=jinja2.select_autoescape(
                ("html", "htm", "xml", "html.j2"), default_for_string=True
            ),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            # Texts change on reload (SIGHUP), after `check` passed them (reload.py); a
            # file edited in place must not go out unchecked, nor cost a stat per mail.
            auto_reload=False,
        )

    def render(self, name: str, language: str, context: Mapping[str, Any]) -> str:
        """Render ``{language}/{name}``, falling back to the default language's text."""
        candidates = [f"{language}/{name}", f"{self.default_language}/{name}", f"es/{name}"]
        template = self.env.select_template(list(dict.fromkeys(candidates)))
        return template.render(**context)

    def check(self, names: list[str], languages: list[str]) -> list[str]:
        """Problems with the templates that will be used (syntax errors, missing files)."""
        problems = []
        for language in dict.fromkeys(languages):
            for name in names:
                try:
                    self.env.get_template(f"{language}/{name}")
                except jinja2.TemplateNotFound:
                    problems.append(f"template {language}/{name}: not found")
                except jinja2.TemplateSyntaxError as exc:
                    problems.append(f"template {exc.filename}:{exc.lineno}: {exc.message}")
        return problems
