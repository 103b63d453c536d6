"""Where runs are computed: the backend interface (base), this machine (local), SageMaker
Processing jobs (sagemaker). Each hands back a run folder through runner.lifecycle."""
