"""A probe's result against the thresholds -> an ``Evaluation`` (``outcome``), with the step
trace of the long output (``trace``). The thin nagiosplugin layer: its ranges decide."""
