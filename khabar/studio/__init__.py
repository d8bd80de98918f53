"""``khabar studio``: the annotators' Label Studio.

- :mod:`khabar.studio.server` starts, stops and finds the local server
  and keeps its credentials under ``.studio/``;
- :mod:`khabar.studio.project` creates the project from the labeling config
  and imports the corpus (keyed by doc_id) and the pre-annotations;
- :mod:`khabar.studio.export` snapshots the project into its stable,
  pseudonymised form and pulls it into ``annotation/exports/<project>.json``;
- :mod:`khabar.studio.sync` compares file, server and the last sync
  (``<project>.sync``) annotation by annotation;
- :mod:`khabar.studio.merge` is what a pull writes (and refuses);
- :mod:`khabar.studio.push` sends the file back, all or nothing;
- :mod:`khabar.studio.drift` stops pull and push when the server's
  labeling config is not the repository's;
- :mod:`khabar.studio.cli` wires them to the ``khabar studio`` command.
"""
