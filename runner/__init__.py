"""Runs the experiment plan (locally with Papermill, or on SageMaker), collects the results and
renders the report pages."""
