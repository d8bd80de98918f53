"""``khabar studio``: the annotators' Label Studio.

- :mod:`khabar.annotation.studio.server` starts, stops and finds the local server
  and keeps its credentials under ``.studio/``;
- :mod:`khabar.annotation.studio.project` creates the project from the labeling config
  and imports the corpus (keyed by doc_id) and the pre-annotations;
- :mod:`khabar.annotation.studio.export` pulls the project into a stable, pseudonymised
  ``annotation/exports/<project>.json`` and pushes such a file back;
- :mod:`khabar.annotation.studio.cli` wires them to the ``khabar studio`` command.
"""
