"""Does freezing make training faster: the cost model, step timing, sweeps, the panel's readouts."""
