"""Fine-tuning: the offline dataset, the source task and teacher, strategies, unfreezing, drift."""
