"""A discrete-event model of a Lambda fleet reading SSM and Secrets Manager, with and without pscache.

No real processes: Lambda's scaling (bench.model.lambda_fleet), each environment's reads as pscache and the
alternatives implement them (bench.model.candidates), the AWS clients' retry policies (bench.model.retry) and the
services as token buckets with a latency distribution (bench.model.services), on one simulated clock
(bench.model.engine). pscache's settings come from app.config, so the model reads what the product would.
"""
