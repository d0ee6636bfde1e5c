"""Fine-tuning: strategies, every arm from one trained head, unfreezing, drift, seeds, BatchNorm, PEFT."""
