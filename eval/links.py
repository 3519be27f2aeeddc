"""Checks that a static HTML page works on its own from disk: every link it
holds resolves to a file inside its folder."""

from __future__ import annotations

import os
import urllib.parse
from html.parser import HTMLParser


def inside(path: str, root: str) -> bool:
  """Whether `path` is `root` or lies below it (links resolved)."""
  path, root = os.path.realpath(path), os.path.realpath(root)
  return path == root or path.startswith(root + os.sep)


class _Links(HTMLParser):
  """Collects href/src/poster/data values and srcset URLs."""

  def __init__(self) -> None:
    super().__init__(convert_charrefs=True)
    self.links: list[str] = []

  def handle_starttag(self, tag: str,
                      attrs: list[tuple[str, str | None]]) -> None:
    for name, value in attrs:
      if name in ("href", "src", "poster", "data") and value is not None:
        self.links.append(value)
      elif name == "srcset" and value:
        self.links += [part.strip().split()[0] for part in value.split(",")
                       if part.strip()]


def html_links(path: str) -> list[str]:
  """Every href/src/srcset/poster value in an HTML file, in order."""
  parser = _Links()
  with open(path, encoding="utf-8") as f:
    parser.feed(f.read())
  return parser.links


def _resolves(link: str, report_dir: str) -> bool:
  """Whether one link works from disk: an in-page anchor, a data: URI, or a
  relative path to a file inside report_dir."""
  if not link or link.startswith("#") or link.startswith("data:"):
    return True
  parsed = urllib.parse.urlsplit(link)
  if parsed.scheme or parsed.netloc or link.startswith("/"):
    return False
  target = os.path.join(report_dir, urllib.parse.unquote(parsed.path))
  return inside(target, report_dir) and os.path.isfile(target)


def check_links(report_dir: str, page: str = "index.html") -> list[str]:
  """Links of `page` that do not resolve to a file inside report_dir.

  In-page anchors ("#x") and data: URIs are fine; anything with a scheme
  (http:, file:, ...) or a path leaving report_dir counts as missing, since
  the page must work on its own from disk.
  """
  return [link for link in html_links(os.path.join(report_dir, page))
          if not _resolves(link, report_dir)]
