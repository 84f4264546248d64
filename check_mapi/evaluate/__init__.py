"""A probe's result against the thresholds -> an ``Evaluation`` (``outcome``; many
mailboxes: ``many``), with the step trace of the long output (``trace``) and threshold
ranges read as the Monitoring Plugins guidelines (and nagiosplugin) read them (``ranges``)."""
