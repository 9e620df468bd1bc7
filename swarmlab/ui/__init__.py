"""The user interfaces: the notebook panels (ipywidgets), the dashboard page and the
server that shows it, and the ``swarmlab`` command line."""
