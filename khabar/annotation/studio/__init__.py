"""``khabar studio``: the annotators' Label Studio.

- :mod:`khabar.annotation.studio.server` starts, stops and finds the local server
  and keeps its credentials under ``.studio/``;
- :mod:`khabar.annotation.studio.project` creates the project from the labeling config
  and imports the corpus (keyed by doc_id) and the pre-annotations;
- :mod:`khabar.annotation.studio.export` snapshots the project into its stable,
  pseudonymised form and pulls it into ``annotation/exports/<project>.json``;
- :mod:`khabar.annotation.studio.sync` compares file, server and the last sync
  (``<project>.sync``) annotation by annotation;
- :mod:`khabar.annotation.studio.merge` is what a pull writes (and refuses);
- :mod:`khabar.annotation.studio.push` sends the file back, all or nothing;
- :mod:`khabar.annotation.studio.drift` stops pull and push when the server's
  labeling config is not the repository's;
- :mod:`khabar.annotation.studio.cli` wires them to the ``khabar studio`` command.
"""
