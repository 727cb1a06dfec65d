"""The interactive demo: ``python -m atom.app ckpt=<checkpoint or run dir>`` serves a Gradio page on localhost.

``backend`` does the work without Gradio (and is the app's one seam to the text-to-mesh stack), ``ui`` builds
the page, ``server`` starts it, ``image_to_mesh`` decides whether the CRM tab is shown and serves it, ``errors``
turns failures into messages in the page.
"""
