"""A run's model behind a SageMaker endpoint: `deploy`, `invoke`, `undeploy`, `endpoints`.

deploy    exports model.keras as a TensorFlow Serving SavedModel (runner.serving.export),
          uploads `model.tar.gz` to s3://<bucket>/<prefix>/models/<profile>/<run>/<sha>/, then
          creates Model -> EndpointConfig -> Endpoint (serverless by default: it scales to zero
          and costs nothing idle; --instance-type for a real-time instance) and waits for it.
invoke    decodes images exactly as `predict` does, sends them as TensorFlow Serving JSON
          ({"instances": [...]}) and prints the top-k; it says where the endpoint's answer
          differs from the local model's.
undeploy  deletes the endpoint, its configuration and its model (and any left by a deploy that
          failed half-way); repeating it deletes nothing and succeeds.
endpoints lists what this project has deployed, found by its `msl-study:endpoint` tag.

The endpoint is named `<prefix>-<profile>-<run>`. Settings are the Processing jobs' own
(runner.backends.sagemaker: SAGEMAKER_ROLE, SAGEMAKER_BUCKET, AWS_REGION, SAGEMAKER_PREFIX),
plus SAGEMAKER_SERVING_IMAGE to override the TensorFlow Serving image.

Modules: aws (settings, names, images, the session), endpoints (the API calls), deploy (the
three resources of one endpoint), commands (the command line), predict and export (local).
"""
