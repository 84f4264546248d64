"""Renderers: an ``Evaluation`` to text. ``nagios`` writes the Monitoring Plugins output (status
line, perfdata, long output); a renderer is the only place that writes a status line."""
