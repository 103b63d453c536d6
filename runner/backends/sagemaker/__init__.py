"""The SageMaker backend: every run of the plan that is not current becomes one Processing job.

A job runs `container/entrypoint.sh` (beside this file) in a TensorFlow container: Papermill
executes the run's notebook there exactly as the local backend does here, and the job's output
folder comes back into `results/<profile>/<run>/` through the same run-folder lifecycle
(runner/lifecycle.py), so the two backends leave identical folders.

What travels to S3 (bucket SAGEMAKER_BUCKET, under SAGEMAKER_PREFIX, default `msl-study`):
    <prefix>/data/<data sha>/...             the data directory, once per data version
    <prefix>/data/<data sha>.complete.json   written last: the upload is complete (file count)
    <prefix>/jobs/<job>/code/                entrypoint.sh, <notebook>.ipynb, analysis.tar.gz,
                                             requirements.txt
    <prefix>/jobs/<job>/params/params.json   the notebook's parameters
    <prefix>/jobs/<job>/output/              what the notebook wrote and run.log (SageMaker
                                             uploads it as it is written)

Settings come from the environment (or keyword overrides to `from_env`), never from code:
SAGEMAKER_ROLE, SAGEMAKER_BUCKET, AWS_REGION or AWS_DEFAULT_REGION, SAGEMAKER_IMAGE,
SAGEMAKER_INSTANCE_TYPE, SAGEMAKER_PREFIX, SAGEMAKER_VOLUME_GB, SAGEMAKER_MAX_RUNTIME,
SAGEMAKER_POLL_SECONDS, SAGEMAKER_TF_VERSION, SAGEMAKER_PIP_INSTALL, SAGEMAKER_MAX_JOBS.
Credentials are boto3's own (environment, profile, instance role); this module never reads, logs
or writes them.

At most `max_jobs` jobs run at once; the others wait in a queue and are submitted as slots free
up. A ResourceLimitExceeded (the account's quota of instances of the type) or a throttled request
is retried with backoff, and the quota the account appears to have is said in one line.

Every job name is written to a ledger (results/<profile>/.sagemaker-jobs.json) before the job is
created, and removed once its output is collected. A runner started again after a crash, a kill
or a closed terminal reattaches to the jobs of the ledger (and to in-progress jobs tagged with a
wanted fingerprint) instead of paying for them twice; an interrupt stops the jobs it submitted.

The SageMaker SDK (sagemaker-core, the `aws` extra) is imported lazily: local users never
install it.

Modules, one concern each:
    settings.py  Settings from the environment or flags, checked; the default image
    requests.py  pure builders: job name, parameters, code bundle, requirements, the request
    job.py       one job's state; how AWS errors (throttling, not found) are read
    storage.py   S3: the data once per version, each job's inputs, its output
    queue.py     submitting under the account's quota, with backoff
    runtime.py   each job's time limit, from its run's measured speed; each profile's hours
    ledger.py    the ledger of submitted jobs, and reattaching after a restart
    watch.py     polling running jobs, and their billable time
    backend.py   SageMakerBackend: the backend interface (runner/backends/base.py), wiring it all
"""

from runner.backends.sagemaker.backend import SageMakerBackend
from runner.backends.sagemaker.job import LOG_GROUP, NOT_FOUND, TERMINAL, THROTTLING, Job
from runner.backends.sagemaker.ledger import Ledger
from runner.backends.sagemaker.requests import (
    CONTAINER_BASE,
    CONTAINER_CODE,
    CONTAINER_DATA,
    CONTAINER_OUTPUT,
    CONTAINER_PARAMS,
    ENTRYPOINT,
    code_bundle,
    container_requirements,
    job_base,
    job_name,
    job_parameters,
    job_tags,
    processing_job_request,
)
from runner.backends.sagemaker.settings import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_PREFIX,
    TAG,
    Settings,
    default_image,
    expect_owner,
    name_prefix,
    settings_from_env,
    tensorflow_version,
)
from runner.errors import ConfigError

__all__ = [
    "CONTAINER_BASE",
    "CONTAINER_CODE",
    "CONTAINER_DATA",
    "CONTAINER_OUTPUT",
    "CONTAINER_PARAMS",
    "DEFAULT_INSTANCE_TYPE",
    "DEFAULT_PREFIX",
    "ENTRYPOINT",
    "LOG_GROUP",
    "NOT_FOUND",
    "TAG",
    "TERMINAL",
    "THROTTLING",
    "ConfigError",
    "Job",
    "Ledger",
    "SageMakerBackend",
    "Settings",
    "code_bundle",
    "container_requirements",
    "default_image",
    "expect_owner",
    "name_prefix",
    "job_base",
    "job_name",
    "job_parameters",
    "job_tags",
    "processing_job_request",
    "settings_from_env",
    "tensorflow_version",
]
