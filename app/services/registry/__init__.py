"""Registry: the models this router serves. Registration (metadata only; nodes download), cancel,
retry and delete, the records the API and pages show, and how nodes' reports add up to each
model's lifecycle (`lifecycle`)."""
