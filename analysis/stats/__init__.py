"""Statistics: scores from predictions (evaluate) and the declared rule that decides whether two
models differ (verdicts)."""
