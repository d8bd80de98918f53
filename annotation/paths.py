"""Where things live in a checkout of the repository.

Khabar is installed in editable mode from its own repository, so every
default path is relative to the checkout that holds this file.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT / "annotation" / "corpus"
PAGES_DIR = CORPUS_DIR / "pages"
DOCUMENTS_FILE = CORPUS_DIR / "documents.jsonl"
EXPORTS_DIR = REPO_ROOT / "annotation" / "exports"
GUIDELINES_FILE = REPO_ROOT / "annotation" / "GUIDELINES.md"
STUDIO_DIR = REPO_ROOT / ".studio"
DIST_DIR = REPO_ROOT / "dist"
