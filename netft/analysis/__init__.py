"""Reading finished runs: the learning-vs-forgetting report, the study across seeds and
configurations, and weight interpolation."""
